package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// FleetRollbackWorkflowName names the FleetRollback workflow.
const FleetRollbackWorkflowName = "FleetRollback"

// FleetRollbackInput is what a fleet rollback undoes, and who asks why.
type FleetRollbackInput struct {
	// Steps are the releases to undo, newest first.
	Steps  []RollbackStep `json:"steps"`
	Scope  RollbackScope  `json:"scope,omitzero"`
	Force  bool           `json:"force,omitempty"`
	Who    string         `json:"who"`
	Reason string         `json:"reason"`
}

// RollbackStep is one release a fleet rollback undoes: a running release
// (mid-rollout or in its rollback window) gets the rollback Update; one
// that has ended is undone by a revert release of its own.
type RollbackStep struct {
	Release string    `json:"release"`
	Service string    `json:"service"`
	Started time.Time `json:"started"`
	Running bool      `json:"running,omitempty"`
}

// RollbackScope narrows a fleet rollback: a service, and the pipelines
// of a cloud and a boundary ("" is any).
type RollbackScope struct {
	Service  string `json:"service,omitempty"`
	Cloud    string `json:"cloud,omitempty"`
	Boundary string `json:"boundary,omitempty"`
}

// covers reports whether the scope covers pl.
func (s RollbackScope) covers(pl pipelines.Pipeline) bool {
	return (s.Cloud == "" || s.Cloud == pl.Cloud) && (s.Boundary == "" || s.Boundary == pl.Boundary)
}

// FleetRollbackStatus is a fleet rollback's progress, and its result.
type FleetRollbackStatus struct {
	ID     string               `json:"id"`
	Phase  Phase                `json:"phase"`
	Reason string               `json:"reason,omitempty"`
	Steps  []RollbackStepStatus `json:"steps"`
}

// RollbackStepStatus is how one release was undone: By is the release
// that did it (the release itself, rolled back, or its revert).
type RollbackStepStatus struct {
	Release   string   `json:"release"`
	Service   string   `json:"service"`
	By        string   `json:"by,omitempty"`
	Phase     Phase    `json:"phase"`
	Reason    string   `json:"reason,omitempty"`
	LeftAlone []string `json:"leftAlone,omitempty"`
}

// undone reports whether the step's release is undone: rolled back, or
// reverted by a revert that succeeded, or nothing of it was left.
func (s RollbackStepStatus) undone() bool {
	return s.Phase == PhaseRolledBack || s.Phase == PhaseSucceeded || s.Phase == PhaseSkipped
}

// rollbackOrder is the argument of the RollBackRelease activity.
type rollbackOrder struct {
	Step   RollbackStep  `json:"step"`
	Scope  RollbackScope `json:"scope,omitzero"`
	Force  bool          `json:"force,omitempty"`
	Who    string        `json:"who"`
	Reason string        `json:"reason"`
}

// FleetRollback undoes releases one at a time, newest first (meridian
// rollback --since, --to), on the control task queue: each is rolled back
// (running) or reverted by a release of its own, visible and steerable,
// with its gates, and waited for before the next. The RollBackRelease
// activity does each step through the client API, as an operator would.
// It ends failed when a release could not be undone.
func FleetRollback(ctx workflow.Context, in FleetRollbackInput) (FleetRollbackStatus, error) {
	st := FleetRollbackStatus{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Phase: PhaseRunning}
	for _, s := range in.Steps {
		st.Steps = append(st.Steps, RollbackStepStatus{Release: s.Release, Service: s.Service, Phase: PhasePending})
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (FleetRollbackStatus, error) { return st, nil }); err != nil {
		return st, err
	}
	workflow.SetCurrentDetails(ctx, fleetRollbackDetails(st))
	for i, s := range in.Steps {
		st.Steps[i].Phase = PhaseRollingBack
		workflow.SetCurrentDetails(ctx, fleetRollbackDetails(st))
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 24 * time.Hour,
			HeartbeatTimeout:    time.Minute,
			Summary:             "roll back " + s.Release,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
		})
		order := rollbackOrder{Step: s, Scope: in.Scope, Force: in.Force, Who: in.Who, Reason: in.Reason}
		var res RollbackStepStatus
		if err := workflow.ExecuteActivity(actx, (*Activities).RollBackRelease, order).Get(ctx, &res); err != nil {
			res = RollbackStepStatus{Release: s.Release, Service: s.Service, Phase: PhaseFailed, Reason: rootMessage(err)}
		}
		st.Steps[i] = res
	}
	st.Phase = PhaseSucceeded
	if failed := slices.DeleteFunc(slices.Clone(st.Steps), RollbackStepStatus.undone); len(failed) > 0 {
		st.Phase, st.Reason = PhaseFailed, fmt.Sprintf("%d of %d release(s) not undone, first %s: %s", len(failed), len(st.Steps), failed[0].Release, failed[0].Reason)
	}
	workflow.SetCurrentDetails(ctx, fleetRollbackDetails(st))
	return st, failedOutcome(ctx, st.Phase, st.Reason, st)
}

// fleetRollbackDetails is the fleet rollback's table for the Web UI.
func fleetRollbackDetails(st FleetRollbackStatus) string {
	var b strings.Builder
	printf(&b, "**%s** — %s\n\n| release | service | by | phase | reason |\n| --- | --- | --- | --- | --- |\n", st.Phase, orDash(st.Reason))
	for _, s := range st.Steps {
		reason := s.Reason
		if len(s.LeftAlone) > 0 {
			reason = strings.TrimPrefix(reason+"; left alone: "+strings.Join(s.LeftAlone, "; "), "; ")
		}
		printf(&b, "| %s | %s | %s | %s | %s |\n", s.Release, s.Service, orDash(s.By), s.Phase, orDash(reason))
	}
	return b.String()
}

// RollBackRelease undoes one release and waits until that is done: a
// running release gets the rollback Update (one that ended meanwhile is
// reverted instead); an ended one is undone by its revert release, started
// through the service's lock (waiting while the service is mid-release).
// Every call is idempotent: an Update already given is not given twice,
// and the revert's change id names the undone release.
func (a *Activities) RollBackRelease(ctx context.Context, o rollbackOrder) (RollbackStepStatus, error) {
	c := activity.GetClient(ctx)
	res := RollbackStepStatus{Release: o.Step.Release, Service: o.Step.Service, By: o.Step.Release}
	if o.Step.Running {
		if _, err := Rollback(ctx, c, o.Step.Release, Request{Who: o.Who, Reason: o.Reason}); err != nil && !closed(ctx, c, o.Step.Release) {
			// Refused: fine when it is rolling back already; otherwise
			// the activity is retried.
			if st, serr := ReleaseStatus(ctx, c, o.Step.Release); serr != nil || st.Phase != PhaseRollingBack {
				return res, err
			}
		}
		st, err := awaitEnd(ctx, c, o.Step.Release)
		if err != nil {
			return res, err
		}
		if st.Phase != PhaseSucceeded {
			res.Phase, res.Reason = st.Phase, st.Reason
			return res, nil
		}
		// It succeeded and closed before the Update reached it: revert it.
	}
	req, err := RevertRequest(ctx, c, o.Step.Release, o.Scope, o.Force, o.Who)
	switch {
	case errors.Is(err, errNothingToRevert):
		res.Phase, res.Reason, res.By = PhaseSkipped, err.Error(), ""
		return res, nil
	case err != nil:
		return res, err // retried: reading the release's history may fail for a while
	}
	for {
		acq, err := AcquireRelease(ctx, c, req)
		if err == nil {
			res.By = acq.Release.ID
			break
		}
		if !errors.Is(err, ErrBusy) {
			return res, err
		}
		// The service is mid-release: wait for it, as an operator would.
		activity.RecordHeartbeat(ctx, "waiting: "+err.Error())
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	st, err := awaitEnd(ctx, c, res.By)
	if err != nil {
		return res, err
	}
	res.Phase, res.Reason, res.LeftAlone = st.Phase, st.Reason, st.LeftAlone
	return res, nil
}

// awaitEnd heartbeats until the release has ended, and returns its
// outcome.
func awaitEnd(ctx context.Context, c client.Client, release string) (Status, error) {
	for !closed(ctx, c, release) {
		activity.RecordHeartbeat(ctx, "waiting for "+release)
		select {
		case <-ctx.Done():
			return Status{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return Outcome(ctx, c, release)
}

// errNothingToRevert: none of the release's changes is still in effect
// (it rolled back, or changed nothing in scope).
var errNothingToRevert = errors.New("nothing of it is in effect")

// RevertRequest builds the revert of an ended release: its own pipelines
// in scope (decommissions become restores), its gates, and the changes
// its pipelines' results say are in effect. It fails with
// errNothingToRevert when there are none.
func RevertRequest(ctx context.Context, c client.Client, release string, scope RollbackScope, force bool, who string) (ReleaseRequest, error) {
	var undone ReleaseRequest
	if err := startInput(ctx, c, release, "", &undone); err != nil {
		return ReleaseRequest{}, fmt.Errorf("release %s: its request: %w", release, err)
	}
	change := Change{Kind: KindRevert, ID: "revert-" + undone.Change.ID, Reverts: release, Force: force, Trigger: "cli", Who: who}
	if force {
		change.ID += "-forced"
	}
	req := ReleaseRequest{Service: undone.Service, Change: change, Gates: undone.Gates, Sharding: undone.Sharding,
		Instances: undone.Instances, Workload: undone.Workload, MaxHistory: undone.MaxHistory}
	for _, pl := range undone.Pipelines {
		if !scope.covers(pl) {
			continue
		}
		var res PipelineResult
		err := outcome(ctx, c, release+"/"+pipelineKey(pl), &res)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			continue // never started
		case err != nil:
			return ReleaseRequest{}, fmt.Errorf("release %s: pipeline %s: %w", release, pipelineKey(pl), err)
		case res.Phase != PhaseSucceeded || len(res.Changed) == 0:
			continue
		}
		pl.Decommission = false // its targets are restored, as any other
		req.Pipelines = append(req.Pipelines, pl)
		req.Change.Restore = append(req.Change.Restore, res.Changed...)
	}
	if len(req.Change.Restore) == 0 {
		return ReleaseRequest{}, errNothingToRevert
	}
	return req, req.Validate()
}

// ReleasesToRollBack lists, newest first, the releases a fleet rollback
// undoes: those running, and those that succeeded since since, in scope
// (of the service, with a pipeline in the cloud and boundary); reverts
// are never undone by another.
func ReleasesToRollBack(ctx context.Context, c client.Client, since time.Time, scope RollbackScope) ([]RollbackStep, error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND (ExecutionStatus = 'Running' OR (CloseTime >= '%s' AND %s = '%s'))",
		ReleaseWorkflowName, since.UTC().Format(time.RFC3339Nano), searchattr.Phase.GetName(), PhaseSucceeded)
	return rollbackSteps(ctx, c, query, scope)
}

// ReleasesSince lists, newest first, the releases of a service from
// release on (itself included) that are running or succeeded: what
// rollback --to undoes to go back to just before release.
func ReleasesSince(ctx context.Context, c client.Client, service, release string) ([]RollbackStep, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, release, "")
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", release, err)
	}
	started := desc.GetWorkflowExecutionInfo().GetStartTime().AsTime()
	query := fmt.Sprintf("WorkflowType = '%s' AND StartTime >= '%s' AND (ExecutionStatus = 'Running' OR %s = '%s')",
		ReleaseWorkflowName, started.UTC().Format(time.RFC3339Nano), searchattr.Phase.GetName(), PhaseSucceeded)
	steps, err := rollbackSteps(ctx, c, query, RollbackScope{Service: service})
	if err == nil && !slices.ContainsFunc(steps, func(s RollbackStep) bool { return s.Release == release }) {
		err = fmt.Errorf("release %s is not a succeeded or running release of %s", release, service)
	}
	return steps, err
}

func rollbackSteps(ctx context.Context, c client.Client, query string, scope RollbackScope) ([]RollbackStep, error) {
	if scope.Service != "" {
		query += fmt.Sprintf(" AND %s = '%s'", searchattr.Service.GetName(), strings.ReplaceAll(scope.Service, "'", "\\'"))
	}
	var steps []RollbackStep
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			var req ReleaseRequest
			if err := startInput(ctx, c, id, "", &req); err != nil {
				return nil, fmt.Errorf("release %s: its request: %w", id, err)
			}
			if req.Change.Kind == KindRevert || !slices.ContainsFunc(req.Pipelines, scope.covers) {
				continue
			}
			steps = append(steps, RollbackStep{Release: id, Service: req.Service, Started: e.GetStartTime().AsTime(),
				Running: e.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(steps, func(a, b RollbackStep) int { return b.Started.Compare(a.Started) })
	return steps, nil
}

// StartFleetRollback starts the fleet rollback of in, ID
// rollback/<UTC time>, on the control queue, and returns its ID.
func StartFleetRollback(ctx context.Context, c client.Client, in FleetRollbackInput) (string, error) {
	id := "rollback/" + time.Now().UTC().Format("20060102T150405.000Z")
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: ControlTaskQueue,
		StaticSummary: fmt.Sprintf("fleet rollback of %d release(s), newest first, by %s: %s", len(in.Steps), in.Who, in.Reason),
	}, FleetRollbackWorkflowName, in)
	if err != nil {
		return "", fmt.Errorf("start the fleet rollback: %w", err)
	}
	return id, nil
}

// WatchFleetRollback polls a fleet rollback every interval, calls fn with
// each status whose steps' phases differ from the last, and returns the
// outcome once it has ended.
func WatchFleetRollback(ctx context.Context, c client.Client, id string, interval time.Duration, fn func(FleetRollbackStatus)) (FleetRollbackStatus, error) {
	get := func() (FleetRollbackStatus, error) {
		var st FleetRollbackStatus
		running, err := liveStatus(ctx, c, id, id, &st)
		if err == nil && !running {
			err = outcome(ctx, c, id, &st)
		}
		return st, err
	}
	return poll(ctx, interval, get, func(st FleetRollbackStatus) string { return fmt.Sprint(st.Phase, st.Steps) },
		func(st FleetRollbackStatus) bool { return st.Phase.Terminal() }, fn)
}
