package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// workloadOf is the workload a deploy to t applies: the service's on a
// Kubernetes target, none elsewhere.
func workloadOf(t placement.Target, w json.RawMessage) json.RawMessage {
	if t.Runtime != placement.RuntimeKubernetes {
		return nil
	}
	return w
}

// maxPending bounds a stage's in-flight activities far below Temporal's
// limit of 2,000 pending activities per workflow.
const maxPending = 500

// MaxStageTargets bounds a stage so that its events (about 4 per target)
// fit one Pipeline run; the Pipeline continues as new between stages.
const MaxStageTargets = 5000

// MaxPipelineTargets bounds a pipeline so that its input (about 130 B per
// target) and its changes carried across continue-as-new and returned to
// the Release (about 220 B per change) stay well below Temporal's 2 MB
// payload limit, which they reach at 6,000 to 8,000 targets.
const MaxPipelineTargets = 4000

// heartbeatTimeout is how soon a crashed worker's activity is retried.
const heartbeatTimeout = 10 * time.Second

// rolloutOptions are the options of activities that change targets.
func rolloutOptions(taskQueue, summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           taskQueue,
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    heartbeatTimeout,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	}
}

// stageResult is what a stage's rollout changed, oldest first, and why it
// stopped early ("" when every target rolled out and passed its gates).
type stageResult struct {
	changed   []Compensation
	failure   string
	leftAlone []string // "target: why" (a revert)
}

// rollout changes the stage's targets, at most MaxParallel at once (all
// when 0, capped at maxPending), and checks every target's gates once it is
// ready. It launches nothing new while the pipeline is paused, stops
// launching on the first failure or when the pipeline stops, and waits for
// the targets in flight.
func (p *pipelineRun) rollout(ctx workflow.Context, stage pipelines.Stage) stageResult {
	targets := stage.Targets
	parallel := stage.MaxParallel
	if parallel <= 0 || parallel > maxPending {
		parallel = min(max(len(targets), 1), maxPending)
	}
	var res stageResult
	tallies := pipelines.GateTallies{}
	inflight := 0
	for _, t := range targets {
		_ = workflow.Await(ctx, func() bool { return p.stopping() || res.failure != "" || (inflight < parallel && !p.paused) })
		if p.stopping() || res.failure != "" {
			break
		}
		inflight++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { inflight-- }()
			switch {
			case p.in.Pipeline.Decommission:
				p.decommission(ctx, t, &res)
			case p.in.Change.Kind == KindRevert:
				p.revert(ctx, t, &res, tallies)
			default:
				p.change(ctx, t, &res, tallies)
			}
		})
	}
	_ = workflow.Await(ctx, func() bool { return inflight == 0 })
	return res
}

// change makes the pipeline's change on t: one Rollout activity, or for
// an apply one per step (see applySteps), the gates checked after the
// last. What each made is recorded for compensation, and the first
// failure stops the target.
func (p *pipelineRun) change(ctx workflow.Context, t placement.Target, res *stageResult, tallies pipelines.GateTallies) {
	steps := []Change{p.in.Change}
	if p.in.Change.Kind == KindApply {
		steps = applySteps(p.in.Change, t)
	}
	for j, c := range steps {
		gates := p.in.Gates
		if j < len(steps)-1 {
			gates = nil
		}
		summary := fmt.Sprintf("%s %s on %s", verb(c), c.Version, t.ID())
		actx := workflow.WithActivityOptions(ctx, rolloutOptions(p.st.TaskQueue, summary))
		var r RolloutResult
		err := workflow.ExecuteActivity(actx, (*Activities).Rollout, RolloutInput{
			Target: t, Change: c, Gates: gates, Sharding: p.in.Sharding, Instances: p.in.Instances, Workload: workloadOf(t, p.in.Workload),
		}).Get(ctx, &r)
		if err != nil {
			r.Deployment = madeBeforeTimeout(err)
			if r.Deployment.Changed && workflow.GetVersion(ctx, "compensate-timed-out-rollout", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				r.Deployment = driver.Deployment{} // recorded before this compensation existed
			}
		}
		if r.Deployment.Changed {
			res.changed = append(res.changed, Compensation{Target: t, Kind: c.Kind, Revision: r.Deployment.Revision, Previous: r.Deployment.Previous})
		}
		if err != nil {
			res.fail(fmt.Sprintf("%s: %s", t.ID(), rootMessage(err)))
			return
		}
		if j < len(steps)-1 && r.Failure != "" {
			res.fail(r.Failure)
			return
		}
		res.fail(r.Failure)
		res.fail(tallies.Observe(gates, r.Observations))
	}
	p.targetDone(ctx)
}

// revert undoes the undone release's changes on t, newest first (one
// Revert activity each, the gates checked after the last): what each
// made is recorded for compensation, a change another release made since
// is left alone, and the first failure stops the target.
func (p *pipelineRun) revert(ctx workflow.Context, t placement.Target, res *stageResult, tallies pipelines.GateTallies) {
	steps := revertSteps(p.in.Change, t)
	for j, c := range steps {
		gates := p.in.Gates
		if j < len(steps)-1 {
			gates = nil
		}
		summary := fmt.Sprintf("restore %s on %s", orDash(c.Previous), t.ID())
		if c.Kind == KindDecommission {
			summary = "restore decommissioned " + t.ID()
		}
		actx := workflow.WithActivityOptions(ctx, rolloutOptions(p.st.TaskQueue, summary))
		var r RolloutResult
		err := workflow.ExecuteActivity(actx, (*Activities).Revert, RevertInput{Undo: c, Force: p.in.Change.Force, Gates: gates}).Get(ctx, &r)
		if r.Deployment.Changed {
			res.changed = append(res.changed, Compensation{Target: t, Kind: revertKind(c), Revision: r.Deployment.Revision, Previous: r.Deployment.Previous})
		}
		if r.LeftAlone != "" {
			res.leftAlone = append(res.leftAlone, t.ID()+": "+r.LeftAlone)
		}
		if err != nil {
			res.fail(fmt.Sprintf("%s: %s", t.ID(), rootMessage(err)))
			return
		}
		res.fail(r.Failure)
		res.fail(tallies.Observe(gates, r.Observations))
		if res.failure != "" {
			return
		}
	}
	p.targetDone(ctx)
}

// applySteps are the changes an apply makes on target t, in order: its
// config, then its artifact (so that a new version starts with the config
// it was released with). An added target, or any target of a new service,
// gets both; the others what the change's parts say.
func applySteps(c Change, t placement.Target) []Change {
	everything := slices.Contains(c.Parts, pipelines.PartNewService) || slices.Contains(c.Added, t.ID())
	var steps []Change
	if len(c.Config) > 0 && (everything || slices.Contains(c.Parts, pipelines.PartConfig)) {
		steps = append(steps, Change{Kind: KindConfig, ID: c.ID, Version: c.ConfigVersion, Config: c.Config, Trigger: c.Trigger, Who: c.Who})
	}
	if everything || slices.Contains(c.Parts, pipelines.PartVersion) {
		steps = append(steps, Change{Kind: KindVersion, ID: c.ID, Version: c.Version, Image: c.Image, Trigger: c.Trigger, Who: c.Who})
	}
	return steps
}

// decommission removes t (the Decommission activity) and records what
// puts it back.
func (p *pipelineRun) decommission(ctx workflow.Context, t placement.Target, res *stageResult) {
	actx := workflow.WithActivityOptions(ctx, rolloutOptions(p.st.TaskQueue, "decommission "+t.ID()))
	var r DecommissionResult
	err := workflow.ExecuteActivity(actx, (*Activities).Decommission, DecommissionInput{Target: t, Sharding: p.in.Sharding}).Get(ctx, &r)
	if r.Undo.Removal != nil || r.Undo.ConfigRemoval != nil || len(r.Undo.Drained) > 0 {
		res.changed = append(res.changed, r.Undo)
	}
	switch {
	case err != nil:
		res.fail(fmt.Sprintf("%s: %s", t.ID(), rootMessage(err)))
		return
	case r.Failure != "":
		res.fail(r.Failure)
		return
	}
	p.targetDone(ctx)
}

// madeBeforeTimeout is the change a Rollout heartbeated before it timed
// out for good (a revision stuck progressing past every attempt): still in
// effect, so it must be compensated. Zero when there is none.
func madeBeforeTimeout(err error) driver.Deployment {
	var timeout *temporal.TimeoutError
	var dep driver.Deployment
	if errors.As(err, &timeout) && timeout.HasLastHeartbeatDetails() && timeout.LastHeartbeatDetails(&dep) == nil {
		return dep
	}
	return driver.Deployment{}
}

func (r *stageResult) fail(why string) {
	if why != "" && r.failure == "" {
		r.failure = why
	}
}

// verb says what a change does to a target.
func verb(c Change) string {
	switch c.Kind {
	case KindConfig:
		return "apply config"
	case KindRestart:
		return "restart"
	case KindDecommission:
		return "decommission"
	}
	return "deploy"
}

// rootMessage is the message of the innermost application error, without
// Temporal's activity wrapping ("activity error (type: …)").
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
