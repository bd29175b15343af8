package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// maxPending bounds a stage's in-flight activities far below Temporal's
// limit of 2,000 pending activities per workflow.
const maxPending = 500

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

// Stage rolls a change out to one stage's targets, at most MaxParallel at
// once (all when MaxParallel is 0, capped at maxPending), and checks every
// target's gates once it is ready. It stops launching on the first failure,
// an abort or a rollback, waits for the targets in flight, and returns what
// it changed, oldest first, for the Pipeline to bake, approve or compensate.
// A pause holds new launches until resume.
func Stage(ctx workflow.Context, in StageInput) (StageResult, error) {
	s := &stageRun{tallies: gateTallies{}}
	workflow.Go(ctx, s.listen)
	tq := workflow.GetInfo(ctx).TaskQueueName
	targets := in.Stage.Targets
	parallel := in.Stage.MaxParallel
	if parallel <= 0 || parallel > maxPending {
		parallel = min(max(len(targets), 1), maxPending)
	}
	step := max(len(targets)/10, 1)
	results := make([]*RolloutResult, len(targets))
	done, inflight := 0, 0
	for i, t := range targets {
		_ = workflow.Await(ctx, func() bool { return s.stopped() || (inflight < parallel && !s.paused) })
		if s.stopped() {
			break
		}
		inflight++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { inflight-- }()
			summary := fmt.Sprintf("%s %s on %s", verb(in.Change), in.Change.Version, t.ID())
			actx := workflow.WithActivityOptions(ctx, rolloutOptions(tq, summary))
			var res RolloutResult
			err := workflow.ExecuteActivity(actx, (*Activities).Rollout, RolloutInput{
				Target: t, Change: in.Change, Gates: in.Gates, Sharding: in.Sharding, Instances: in.Instances,
			}).Get(ctx, &res)
			switch {
			case err != nil:
				s.fail(fmt.Sprintf("%s: %v", t.ID(), rootMessage(err)))
				return
			case res.Failure != "":
				s.fail(res.Failure)
			default:
				s.fail(s.tallies.observe(in.Gates, res.Observations))
			}
			results[i] = &res
			s.order = append(s.order, i)
			done++
			if done%step == 0 || done == len(targets) {
				reportDone(ctx, in.Release, in.Pipeline, in.Stage.Name, done)
			}
		})
	}
	_ = workflow.Await(ctx, func() bool { return inflight == 0 })
	out := StageResult{Failure: s.failure, Aborted: s.aborted && s.failure == ""}
	for _, i := range s.order {
		r := results[i]
		if r.Deployment.Changed {
			out.Changed = append(out.Changed, Compensation{Target: targets[i], Kind: in.Change.Kind, Revision: r.Deployment.Revision, Previous: r.Deployment.Previous})
		}
	}
	return out, nil
}

type stageRun struct {
	tallies gateTallies
	order   []int // indexes of the targets done, in completion order
	paused  bool
	aborted bool
	failure string
}

func (s *stageRun) stopped() bool { return s.aborted || s.failure != "" }

func (s *stageRun) fail(why string) {
	if why != "" && s.failure == "" {
		s.failure = why
	}
}

// listen applies the operator commands the Pipeline forwards.
func (s *stageRun) listen(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, signalCommand)
	for {
		var c command
		ch.Receive(ctx, &c)
		switch c.Action {
		case UpdatePause:
			s.paused = true
		case UpdateResume:
			s.paused = false
		case UpdateAbort, UpdateRollback:
			s.aborted = true
		}
	}
}

// reportDone tells the Release how many targets of the stage are done.
// Fire and forget: a release that is gone does not stop the stage.
func reportDone(ctx workflow.Context, release, pipeline, stage string, done int) {
	if release == "" {
		return
	}
	workflow.SignalExternalWorkflow(ctx, release, "", signalProgress, progress{
		Pipeline: pipeline, DoneOnly: true, Status: PipelineStatus{Stage: stage, Done: done},
	})
}

// verb says what a change does to a target.
func verb(c Change) string {
	switch c.Kind {
	case KindConfig:
		return "apply config"
	case KindRestart:
		return "restart"
	}
	return "deploy"
}

// rootMessage is the message of the innermost error, without Temporal's
// activity wrapping ("activity error (type: …)").
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
