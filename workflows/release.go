package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// Release rolls one change to one service out: one child Pipeline per
// (cloud, boundary), each on that boundary's task queue. A pipeline with
// After waits until the service's pipelines in those boundaries have
// succeeded, then Lag (a durable timer). When a pipeline fails, the others
// are aborted (each rolls back per its policy) and, under the automatic
// policy, pipelines that had already succeeded are rolled back too, newest
// first: each of them stays open once it succeeded and unwinds itself when
// told to. After success the release stays open for RollbackWindow, during
// which the rollback Update still rolls everything back; then it closes its
// pipelines, which end succeeded.
//
// Operators steer it with Updates (approve, promote, pause, resume, abort,
// rollback), each validated against the live status and recorded with who
// and why; the status Query returns the live Status, which is also the
// workflow's result.
func Release(ctx workflow.Context, req ReleaseRequest) (Status, error) {
	if err := req.Validate(); err != nil {
		return Status{}, temporal.NewNonRetryableApplicationError(err.Error(), "invalid", nil)
	}
	r := &releaseRun{
		req: req, results: make([]*PipelineResult, len(req.Pipelines)),
		open: make([]bool, len(req.Pipelines)), seen: make([]int, len(req.Pipelines)),
	}
	r.st = Status{
		Release: workflow.GetInfo(ctx).WorkflowExecution.ID, Service: req.Service, ChangeID: req.Change.ID,
		Kind: req.Change.Kind, Version: req.Change.Version, Trigger: req.Change.Trigger,
		Phase: PhaseRunning, Started: workflow.Now(ctx),
	}
	for _, pl := range req.Pipelines {
		r.st.Pipelines = append(r.st.Pipelines, PipelineStatus{
			Cloud: pl.Cloud, Boundary: pl.Boundary, Decommission: pl.Decommission, WorkflowID: r.st.Release + "/" + pipelineKey(pl),
			TaskQueue: pipelineQueue(pl), Stages: len(pl.Stages), Phase: PhasePending,
		})
	}
	if req.OverrideFreeze != "" {
		r.override = true
		r.st.Events = append(r.st.Events, Event{Time: r.st.Started, Action: actionOverrideFreeze, Who: req.Change.Who, Reason: req.OverrideFreeze})
	}
	r.children = make([]workflow.ChildWorkflowFuture, len(req.Pipelines))
	if err := r.register(ctx); err != nil {
		return Status{}, err
	}
	workflow.Go(ctx, r.listen)
	// Canceling the release is an abort: the rest runs disconnected, so
	// that pipelines still compensate and the outcome is still reported.
	canceled := ctx
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	workflow.Go(canceled, func(canceled workflow.Context) {
		canceled.Done().Receive(canceled, nil)
		switch {
		case r.window && workflow.GetVersion(canceled, "cancel-ends-rollback-window", workflow.DefaultVersion, 1) == 1:
			// Abort is refused in the window: canceling ends it instead.
			r.window = false
			r.st.Reason = "rollback window ended: the release workflow was canceled"
			r.refresh(ctx)
		case !r.stopping():
			r.aborted = true
			r.st.Reason = "the release workflow was canceled"
			r.forward(ctx, command{Action: UpdateAbort, Req: Request{Who: "temporal", Reason: r.st.Reason}})
		}
	})
	r.refresh(ctx)
	if req.Behind != "" && !r.waitTurn(ctx) {
		return r.superseded(ctx), nil
	}
	for i := range req.Pipelines {
		workflow.Go(ctx, func(ctx workflow.Context) { r.runPipeline(ctx, i) })
	}
	_ = workflow.Await(ctx, r.pipelinesDone)
	if r.stopping() {
		r.unwindSucceeded(ctx)
	}
	if r.stopping() || req.RollbackWindow <= 0 {
		r.closeOpen(ctx) // before the outcome: once it shows, the release has ended
	}
	r.finish(ctx)
	if r.st.Phase == PhaseSucceeded && req.RollbackWindow > 0 {
		r.window = true
		_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      time.Duration(req.RollbackWindow),
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("rollback window: %s", req.RollbackWindow)},
		}, func() bool { return r.rollback || !r.window })
		r.window = false
		if r.rollback {
			r.unwindSucceeded(ctx)
			r.finish(ctx)
		}
	}
	r.closeOpen(ctx) // after the rollback window (nothing left open otherwise)
	st := r.outcome(ctx)
	return st, failedOutcome(ctx, st.Phase, st.Reason, st)
}

// waitTurn holds a queued release until the service's lock dequeues it
// (the release it waited for has ended) or an operator stops it; false
// when a newer change superseded it first.
func (r *releaseRun) waitTurn(ctx workflow.Context) bool {
	r.queued = true
	r.st.Behind, r.st.Reason = r.req.Behind, "queued behind "+r.req.Behind
	r.refresh(ctx)
	dequeued := false
	workflow.Go(ctx, func(ctx workflow.Context) {
		workflow.GetSignalChannel(ctx, signalDequeue).Receive(ctx, nil)
		dequeued = true
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		workflow.GetSignalChannel(ctx, signalSupersede).Receive(ctx, &r.st.SupersededBy)
	})
	_ = workflow.Await(ctx, func() bool { return dequeued || r.st.SupersededBy != "" || r.stopping() })
	r.queued = false
	if r.st.SupersededBy != "" && !dequeued && !r.stopping() {
		return false
	}
	r.st.SupersededBy = ""
	if !r.stopping() {
		r.st.Reason = ""
	}
	r.refresh(ctx)
	return true
}

// superseded ends a queued release that a newer change replaced: nothing
// of it ran.
func (r *releaseRun) superseded(ctx workflow.Context) Status {
	for i := range r.st.Pipelines {
		r.st.Pipelines[i].Phase, r.st.Pipelines[i].Reason = PhaseSkipped, "not started: superseded"
	}
	r.st.Phase, r.st.Reason = PhaseSuperseded, "superseded by "+r.st.SupersededBy
	r.st.Ended = workflow.Now(ctx)
	r.refresh(ctx)
	return r.outcome(ctx)
}

// failedOutcome is how a workflow that ended rolled back, failed or
// aborted ends: as a failed Temporal workflow (red in the Web UI's list,
// counted under its Failures), with "phase: reason" as the failure's
// message and result as its details, so that callers still read the whole
// outcome (see decodeOutcome). nil for any other phase, and for workflows
// recorded before this (version DefaultVersion), which completed.
func failedOutcome(ctx workflow.Context, phase Phase, reason string, result any) error {
	errType, failed := outcomeTypes[phase]
	if !failed || workflow.GetVersion(ctx, "failed-outcomes", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %s", phase, reason), errType, nil, result)
}

// outcomeTypes are the failure types, as the Web UI shows them, of the
// phases that end a workflow as failed.
var outcomeTypes = map[Phase]string{PhaseRolledBack: "RolledBack", PhaseFailed: "RollbackFailed", PhaseAborted: "Aborted"}

// decodeOutcome decodes a workflow's outcome into v from what its Get
// returned: nothing to do when it completed, the failure's details when it
// ended with failedOutcome; any other error is returned.
func decodeOutcome(err error, v any) error {
	var app *temporal.ApplicationError
	switch {
	case err != nil && errors.As(err, &app) && app.HasDetails() && v == nil:
		return nil
	case err != nil && errors.As(err, &app) && app.HasDetails():
		return app.Details(v)
	}
	return err
}

// Validate reports, on one line, everything that makes a request unusable.
func (req ReleaseRequest) Validate() error {
	var errs []string
	if req.Service == "" {
		errs = append(errs, "service is required")
	}
	if req.Change.ID == "" {
		errs = append(errs, "change id is required")
	} else if err := CheckChangeID(req.Change.ID); err != nil {
		errs = append(errs, err.Error())
	}
	if v := req.Change.Version; v != "" && CheckVersion(v) != nil {
		errs = append(errs, CheckVersion(v).Error())
	}
	switch req.Change.Kind {
	case KindVersion:
		if req.Change.Version == "" {
			errs = append(errs, "a version change needs a version")
		}
	case KindConfig:
		if req.Change.Version == "" || len(req.Change.Config) == 0 {
			errs = append(errs, "a config change needs a config version and document")
		}
	case KindRestart:
	case KindRevert:
		if req.Change.Reverts == "" || len(req.Change.Restore) == 0 {
			errs = append(errs, "a revert names the release it undoes and the changes to restore")
		}
	case KindApply:
		c := req.Change
		if c.Version == "" && (len(c.Added) > 0 || slices.Contains(c.Parts, pipelines.PartVersion) || slices.Contains(c.Parts, pipelines.PartNewService)) {
			errs = append(errs, "an apply change that deploys needs a version")
		}
		if slices.Contains(c.Parts, pipelines.PartConfig) && (c.ConfigVersion == "" || len(c.Config) == 0) {
			errs = append(errs, "an apply change of config needs a config version and document")
		}
	default:
		errs = append(errs, fmt.Sprintf("unknown change kind %q (want version, config, restart, apply or revert)", req.Change.Kind))
	}
	if req.Change.Kind != KindApply && slices.ContainsFunc(req.Pipelines, func(pl pipelines.Pipeline) bool { return pl.Decommission }) {
		errs = append(errs, "only an apply change decommissions")
	}
	if len(req.Pipelines) == 0 {
		errs = append(errs, fmt.Sprintf("service %q has no pipelines", req.Service))
	}
	seen := map[string]bool{}
	for _, pl := range req.Pipelines {
		if seen[pipelineKey(pl)] {
			errs = append(errs, fmt.Sprintf("two pipelines for %s", pipelineKey(pl)))
		}
		seen[pipelineKey(pl)] = true
		if pl.Service != req.Service {
			errs = append(errs, fmt.Sprintf("pipeline %s belongs to service %q, not %q", pipelineKey(pl), pl.Service, req.Service))
		}
		total := 0
		for _, st := range pl.Stages {
			total += len(st.Targets)
			if len(st.Targets) > MaxStageTargets {
				errs = append(errs, fmt.Sprintf("pipeline %s stage %s has %d targets, more than %d: split it (select limit or percent)", pipelineKey(pl), st.Name, len(st.Targets), MaxStageTargets))
			}
		}
		if total > MaxPipelineTargets {
			errs = append(errs, fmt.Sprintf("pipeline %s has %d targets in all, more than %d (its state would near Temporal's 2 MB payload limit): roll out fewer targets per release", pipelineKey(pl), total, MaxPipelineTargets))
		}
		switch pl.Rollback {
		case "automatic", "stage", "manual":
		default:
			errs = append(errs, fmt.Sprintf("pipeline %s: unknown rollback policy %q", pipelineKey(pl), pl.Rollback))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("release of %q: %s", req.Service, strings.Join(errs, "; "))
	}
	return nil
}

type releaseRun struct {
	req       ReleaseRequest
	st        Status
	children  []workflow.ChildWorkflowFuture // started pipelines
	results   []*PipelineResult              // ended pipelines
	finished  []int                          // pipelines in the order they ended
	open      []bool                         // succeeded pipelines still open
	seen      []int                          // per pipeline: the last progress Seq applied
	queued    bool                           // waiting for the lock (see waitTurn)
	paused    bool
	override  bool // the release goes through freezes
	aborted   bool
	rollback  bool
	failure   string // why a pipeline failure stopped the release
	window    bool   // succeeded; rollback still accepted
	unwinding bool
	// rollingBack: an operator's rollback in the window has started
	// (see UpdateRollback).
	rollingBack bool
	published   Phase             // the phase search attribute's value
	told        []workflow.Future // the phases signaled to the apply
}

// outcome waits until every handler has finished and the apply has been told
// of every phase (a signal still pending when the workflow ends is lost),
// and returns the outcome.
func (r *releaseRun) outcome(ctx workflow.Context) Status {
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	for _, f := range r.told {
		_ = f.Get(ctx, nil) // the apply may be gone
	}
	return r.status()
}

func (r *releaseRun) stopping() bool { return r.aborted || r.rollback || r.failure != "" }

func (r *releaseRun) pipelinesDone() bool {
	for _, res := range r.results {
		if res == nil {
			return false
		}
	}
	return true
}

// runPipeline waits for the pipeline's After boundaries and Lag, then runs it.
func (r *releaseRun) runPipeline(ctx workflow.Context, i int) {
	pl := r.req.Pipelines[i]
	ps := &r.st.Pipelines[i]
	if deps := r.dependencies(i); len(deps) > 0 {
		ps.Reason = fmt.Sprintf("waiting for %v to succeed", pl.After)
		if pl.Decommission {
			ps.Reason = "waiting for the release's deploys to succeed"
		}
		_ = workflow.Await(ctx, func() bool { return r.stopping() || r.allEnded(deps) })
		for _, d := range deps {
			if !r.stopping() && r.results[d].Phase != PhaseSucceeded {
				r.end(ctx, i, &PipelineResult{Phase: PhaseSkipped, Reason: fmt.Sprintf("%s ended %s", pipelineKey(r.req.Pipelines[d]), r.results[d].Phase)})
				return
			}
		}
	}
	if pl.Lag > 0 && !r.stopping() {
		ps.Reason = fmt.Sprintf("lag: starts %s after %v succeeded", pl.Lag, pl.After)
		r.refresh(ctx)
		_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      time.Duration(pl.Lag),
			TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("lag %s before %s (after %v)", pl.Lag, pipelineKey(pl), pl.After)},
		}, r.stopping)
	}
	_ = workflow.Await(ctx, func() bool { return !r.paused || r.stopping() })
	if r.stopping() {
		r.end(ctx, i, &PipelineResult{Phase: PhaseSkipped, Reason: "not started: the release stopped"})
		return
	}
	ps.Reason = ""
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          ps.WorkflowID,
		TaskQueue:           ps.TaskQueue,
		StaticSummary:       pipelineSummary(r.req, pl),
		StaticDetails:       pipelineStaticDetails(r.req, pl),
		WaitForCancellation: true,
		ParentClosePolicy:   enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.Service.ValueSet(r.req.Service), searchattr.ChangeID.ValueSet(r.req.Change.ID), searchattr.Trigger.ValueSet(r.req.Change.Trigger),
			searchattr.Cloud.ValueSet(pl.Cloud), searchattr.Boundary.ValueSet(pl.Boundary), searchattr.Phase.ValueSet(string(PhaseRunning)),
		),
	})
	gates := r.req.Gates
	if pl.Decommission {
		gates = nil // nothing runs on a decommissioned target to check
	}
	change := r.req.Change
	if change.Kind == KindRevert {
		change.Restore = restoresOf(change, pl) // this pipeline's part only
	}
	f := workflow.ExecuteChildWorkflow(cctx, Pipeline, PipelineInput{
		Release: r.st.Release, Service: r.req.Service, Change: change, Pipeline: pl,
		Gates: gates, Sharding: r.req.Sharding, Instances: r.req.Instances, Workload: r.req.Workload, MaxHistory: r.req.MaxHistory,
		Freezes: r.req.Freezes, OverrideFreeze: r.override,
	})
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err == nil {
		r.children[i] = f
		ps.Phase = PhaseRunning
		r.refresh(ctx)
		// Commands sent while the child was starting did not reach it.
		if c, ok := r.catchUp(); ok {
			_ = f.SignalChildWorkflow(ctx, signalCommand, c).Get(ctx, nil)
		}
		workflow.Go(ctx, func(ctx workflow.Context) { r.explainSilence(ctx, i) })
	}
	_ = workflow.Await(ctx, func() bool { return f.IsReady() || r.open[i] })
	if r.open[i] {
		// Succeeded, and open until the release closes it or rolls it back.
		r.end(ctx, i, &PipelineResult{Phase: PhaseSucceeded, Reason: r.st.Pipelines[i].Reason})
		res := pipelineOutcome(ctx, f)
		r.open[i] = false
		r.end(ctx, i, &res)
		return
	}
	res := pipelineOutcome(ctx, f)
	r.end(ctx, i, &res)
	if res.Phase != PhaseSucceeded && !r.stopping() {
		r.failure = fmt.Sprintf("pipeline %s %s: %s", pipelineKey(pl), res.Phase, res.Reason)
		r.st.Reason = r.failure
		r.forward(ctx, command{Action: UpdateAbort, Req: Request{Who: "meridian", Reason: r.failure}})
	}
}

// explainSilence says, in the status and the Web UI, why started pipeline
// i does not report when no worker polls its task queue: it asks the
// server (the QueueServed activity) after 5 s of silence, then less and
// less often, until the pipeline reports. Runs recorded before this
// (DefaultVersion) do not ask.
func (r *releaseRun) explainSilence(ctx workflow.Context, i int) {
	if workflow.GetVersion(ctx, "explain-silent-pipeline", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	ps := &r.st.Pipelines[i]
	heard := func() bool { return r.seen[i] > 0 || r.results[i] != nil }
	for wait := 5 * time.Second; ; wait = min(2*wait, 10*time.Minute) {
		if ok, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      wait,
			TimerOptions: workflow.TimerOptions{Summary: "no word yet from " + pipelineKey(r.req.Pipelines[i])},
		}, heard); ok {
			return
		}
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			Summary:             "does a worker poll task queue " + ps.TaskQueue + "?",
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var why string
		_ = workflow.ExecuteActivity(actx, (*Activities).QueueServed, *ps).Get(ctx, &why)
		if why != "" && !heard() {
			ps.Reason = why
			r.refresh(ctx)
		}
	}
}

// pipelineOutcome waits for the pipeline's outcome.
func pipelineOutcome(ctx workflow.Context, f workflow.ChildWorkflowFuture) PipelineResult {
	var res PipelineResult
	if err := decodeOutcome(f.Get(ctx, &res), &res); err != nil {
		res = PipelineResult{Phase: PhaseFailed, Reason: "pipeline workflow: " + rootMessage(err)}
	}
	return res
}

// catchUp is the command a pipeline that has just started must get to
// match the release's state.
func (r *releaseRun) catchUp() (command, bool) {
	req := Request{Who: "meridian", Reason: r.why()}
	switch {
	case r.rollback:
		return command{Action: UpdateRollback, Req: req}, true
	case r.stopping():
		return command{Action: UpdateAbort, Req: req}, true
	case r.paused:
		return command{Action: UpdatePause, Req: Request{Who: "meridian", Reason: "the release is paused"}}, true
	}
	return command{}, false
}

// dependencies are the pipelines pipeline i waits for: those in its After
// boundaries, and for a decommission every forward pipeline.
func (r *releaseRun) dependencies(i int) []int {
	var deps []int
	me := r.req.Pipelines[i]
	for j, other := range r.req.Pipelines {
		switch {
		case j == i || other.Decommission:
		case me.Decommission, slices.Contains(me.After, other.Boundary):
			deps = append(deps, j)
		}
	}
	return deps
}

func (r *releaseRun) allEnded(idx []int) bool {
	for _, i := range idx {
		if r.results[i] == nil {
			return false
		}
	}
	return true
}

// end records how pipeline i ended.
func (r *releaseRun) end(ctx workflow.Context, i int, res *PipelineResult) {
	r.results[i] = res
	if !r.open[i] {
		r.children[i] = nil
	}
	if !slices.Contains(r.finished, i) {
		r.finished = append(r.finished, i)
	}
	ps := &r.st.Pipelines[i]
	ps.Phase, ps.Reason = res.Phase, res.Reason
	r.st.LeftAsIs = append(r.st.LeftAsIs, res.LeftAsIs...)
	r.st.LeftAlone = append(r.st.LeftAlone, res.LeftAlone...)
	r.refresh(ctx)
}

// forward sends an operator command to every running pipeline.
func (r *releaseRun) forward(ctx workflow.Context, c command) {
	r.forwardWhere(ctx, c, func(PipelineStatus) bool { return true })
}

// closeOpen closes the pipelines that stay open (the release has ended)
// and waits until they have.
func (r *releaseRun) closeOpen(ctx workflow.Context) {
	for i, f := range r.children {
		if f != nil && r.open[i] {
			_ = f.SignalChildWorkflow(ctx, signalCommand, command{Action: actionClose}).Get(ctx, nil)
		}
	}
	_ = workflow.Await(ctx, func() bool { return !slices.Contains(r.open, true) })
}

// rollBackOpen tells open pipeline i to unwind itself and waits until it
// has ended.
func (r *releaseRun) rollBackOpen(ctx workflow.Context, i int) {
	ps := &r.st.Pipelines[i]
	ps.Phase, ps.Reason = PhaseRollingBack, "rolling back: "+r.why()
	r.refresh(ctx)
	_ = r.children[i].SignalChildWorkflow(ctx, signalCommand, command{Action: UpdateRollback, Req: Request{Who: "meridian", Reason: r.why()}}).Get(ctx, nil)
	_ = workflow.Await(ctx, func() bool { return !r.open[i] })
}

// unwindSucceeded rolls back, newest first and one at a time, the
// pipelines that succeeded before the release stopped, when their policy
// (or an operator's rollback) says so.
func (r *releaseRun) unwindSucceeded(ctx workflow.Context) {
	for k := len(r.finished) - 1; k >= 0; k-- {
		i := r.finished[k]
		pl, res := r.req.Pipelines[i], r.results[i]
		if res.Phase != PhaseSucceeded || !(r.rollback || pl.Rollback == "automatic") {
			continue
		}
		if r.open[i] {
			r.rollBackOpen(ctx, i)
			continue
		}
		// A pipeline recorded before pipelines stayed open has ended: its
		// changes are rolled back here.
		ps := &r.st.Pipelines[i]
		r.unwinding = true
		ps.Phase, ps.Reason = PhaseRollingBack, "rolling back: "+r.why()
		r.refresh(ctx)
		res.Changed = unwind(ctx, ps.TaskQueue, res.Changed, unwindParallel(pl))
		left := targetIDs(res.Changed)
		res.LeftAsIs = append(res.LeftAsIs, left...)
		r.st.LeftAsIs = append(r.st.LeftAsIs, left...)
		ps.Phase, ps.Reason = PhaseRolledBack, "rolled back: "+r.why()
		if len(left) > 0 {
			ps.Phase = PhaseFailed
			ps.Reason = fmt.Sprintf("rollback failed, left as they are: %v", left)
		}
		res.Phase = ps.Phase
		r.unwinding = false
		r.refresh(ctx)
	}
}

// unwindParallel bounds a succeeded pipeline's rollback like its most
// careful stage.
func unwindParallel(pl pipelines.Pipeline) int {
	n := 0
	for _, s := range pl.Stages {
		if s.MaxParallel > 0 && (n == 0 || s.MaxParallel < n) {
			n = s.MaxParallel
		}
	}
	return n
}

func (r *releaseRun) why() string {
	switch {
	case r.st.Reason != "":
		return r.st.Reason
	case r.rollback:
		return "rollback requested"
	}
	return "aborted"
}

// finish sets the outcome once every pipeline has ended.
func (r *releaseRun) finish(ctx workflow.Context) {
	phases := map[Phase]bool{}
	for _, res := range r.results {
		phases[res.Phase] = true
	}
	switch {
	case len(r.st.LeftAsIs) > 0 || phases[PhaseFailed]:
		r.st.Phase = PhaseFailed
	case !r.stopping():
		r.st.Phase = PhaseSucceeded
	case r.rollback:
		r.st.Phase = PhaseRolledBack
	case r.aborted:
		r.st.Phase = PhaseAborted
	case phases[PhaseAborted] && !phases[PhaseRolledBack]:
		r.st.Phase = PhaseAborted
	default:
		r.st.Phase = PhaseRolledBack
	}
	r.st.Ended = workflow.Now(ctx)
	r.refresh(ctx)
}

// livePhase is the release's phase derived from its pipelines.
func (r *releaseRun) livePhase() Phase {
	if r.st.Phase.Terminal() {
		return r.st.Phase
	}
	has := map[Phase]bool{}
	for _, ps := range r.st.Pipelines {
		has[ps.Phase] = true
	}
	switch {
	case r.queued:
		return PhaseQueued
	case r.unwinding || r.rollingBack || has[PhaseRollingBack]:
		return PhaseRollingBack
	case has[PhaseAwaitingApproval]:
		return PhaseAwaitingApproval
	case r.paused || has[PhasePaused]:
		return PhasePaused
	case has[PhaseFrozen]:
		return PhaseFrozen
	}
	return PhaseRunning
}

func (r *releaseRun) status() Status {
	st := r.st
	st.Phase = r.livePhase()
	st.Pipelines = slices.Clone(r.st.Pipelines)
	st.Events = slices.Clone(r.st.Events)
	st.LeftAsIs = slices.Clone(r.st.LeftAsIs)
	st.LeftAlone = slices.Clone(r.st.LeftAlone)
	return st
}

// refresh publishes the status: the phase search attribute when it
// changed, and the Web UI's current details.
func (r *releaseRun) refresh(ctx workflow.Context) {
	phase := r.livePhase()
	if phase != r.published {
		_ = workflow.UpsertTypedSearchAttributes(ctx, searchattr.Phase.ValueSet(string(phase)))
		r.published = phase
		if r.req.Apply != "" {
			// Signals may arrive out of order: Seq orders them.
			r.told = append(r.told, workflow.SignalExternalWorkflow(ctx, r.req.Apply, "", signalRelease, releasePhase{
				Release: r.st.Release, Seq: len(r.told) + 1, Phase: phase, Reason: r.st.Reason, SupersededBy: r.st.SupersededBy,
			}))
		}
	}
	if !r.st.Phase.Terminal() {
		r.st.Phase = phase
	}
	workflow.SetCurrentDetails(ctx, releaseDetails(r.status()))
}

// listen applies the pipelines' progress reports.
func (r *releaseRun) listen(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, signalProgress)
	for {
		var p progress
		ch.Receive(ctx, &p)
		for i := range r.st.Pipelines {
			ps := &r.st.Pipelines[i]
			switch {
			case pipelineKey(r.req.Pipelines[i]) != p.Pipeline, ps.Phase.Terminal() && !r.open[i]:
				continue
			case p.Seq > 0 && p.Seq <= r.seen[i]:
				continue // a report older than the one applied
			}
			r.seen[i] = p.Seq
			r.open[i] = r.open[i] || p.Open
			p.Status.WorkflowID, p.Status.TaskQueue, p.Status.Decommission = ps.WorkflowID, ps.TaskQueue, ps.Decommission
			*ps = p.Status
		}
		r.refresh(ctx)
	}
}

// pipelineQueue is the task queue a pipeline runs on.
func pipelineQueue(pl pipelines.Pipeline) string {
	if pl.TaskQueue != "" {
		return pl.TaskQueue
	}
	return placement.DefaultTaskQueue(pl.Cloud, pl.Boundary)
}
