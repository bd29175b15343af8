package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
)

// register installs the status Query and the operator Updates. Each
// Update's validator rejects what makes no sense in the current state (so a
// rejected request leaves no trace in history); an accepted one is recorded
// in the event log with who and why, applied, and answered with the status.
func (r *releaseRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.status(), nil }); err != nil {
		return err
	}
	updates := []struct {
		name     string
		validate func(Request) error
		apply    func(workflow.Context, Request)
	}{
		{UpdateApprove, r.canApprove, func(ctx workflow.Context, req Request) {
			r.forwardWhere(ctx, command{Action: UpdateApprove, Req: req}, atStage(PhaseAwaitingApproval, req))
			r.approved(req)
		}},
		{UpdatePromote, r.canPromote, func(ctx workflow.Context, req Request) {
			r.forwardWhere(ctx, command{Action: UpdatePromote, Req: req}, atStage(PhaseBaking, req))
		}},
		{UpdatePause, r.canPause, func(ctx workflow.Context, req Request) {
			r.paused = true
			r.forward(ctx, command{Action: UpdatePause, Req: req})
		}},
		{UpdateResume, r.canResume, func(ctx workflow.Context, req Request) {
			r.paused = false
			r.override = r.override || req.OverrideFreeze
			r.forward(ctx, command{Action: UpdateResume, Req: req})
		}},
		{UpdateAbort, r.canAbort, func(ctx workflow.Context, req Request) {
			r.aborted = true
			r.st.Reason = fmt.Sprintf("aborted by %s: %s", req.Who, req.Reason)
			r.forward(ctx, command{Action: UpdateAbort, Req: req})
		}},
		{UpdateRollback, r.canRollback, func(ctx workflow.Context, req Request) {
			r.rollback = true
			r.st.Reason = fmt.Sprintf("rollback requested by %s: %s", req.Who, req.Reason)
			if r.window && workflow.GetVersion(ctx, "window-rollback-phase", workflow.DefaultVersion, 1) == 1 {
				// The release is no longer succeeded (runs recorded
				// before this said so until the rollback ended).
				r.st.Phase, r.rollingBack = PhaseRollingBack, true
			}
			r.forward(ctx, command{Action: UpdateRollback, Req: req})
		}},
	}
	for _, u := range updates {
		handler := func(ctx workflow.Context, req Request) (Status, error) {
			action := u.name
			if req.OverrideFreeze {
				action = actionOverrideFreeze
			}
			r.st.Events = append(r.st.Events, Event{Time: workflow.Now(ctx), Action: action, Who: req.Who, Reason: req.Reason, Stage: req.Stage})
			u.apply(ctx, req)
			r.refresh(ctx)
			return r.status(), nil
		}
		validator := func(_ workflow.Context, req Request) error {
			if strings.TrimSpace(req.Who) == "" {
				return errors.New("who is required: say who asks")
			}
			if u.name != UpdateRollback && (r.st.Phase.Terminal() || r.window) {
				return fmt.Errorf("release %s has ended: %s", r.st.Release, r.st.Phase)
			}
			return u.validate(req)
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, handler, workflow.UpdateHandlerOptions{Validator: validator}); err != nil {
			return err
		}
	}
	return nil
}

// forwardWhere sends c to the running pipelines whose status matches
// (not to those that succeeded and stay open).
func (r *releaseRun) forwardWhere(ctx workflow.Context, c command, match func(PipelineStatus) bool) {
	for i, f := range r.children {
		if f != nil && !r.open[i] && match(r.st.Pipelines[i]) {
			_ = f.SignalChildWorkflow(ctx, signalCommand, c).Get(ctx, nil)
		}
	}
}

// where lists "cloud/boundary stage" of the pipelines in phase.
func (r *releaseRun) where(phase Phase) []string {
	var at []string
	for _, ps := range r.st.Pipelines {
		if ps.Phase == phase {
			at = append(at, ps.Cloud+"/"+ps.Boundary+" stage "+ps.Stage)
		}
	}
	return at
}

// atStage matches the pipelines in phase at the stage req names (any stage
// when it names none): the ones an approve or promote applies to.
func atStage(phase Phase, req Request) func(PipelineStatus) bool {
	return func(ps PipelineStatus) bool {
		return ps.Phase == phase && (req.Stage == "" || req.Stage == ps.Stage)
	}
}

func (r *releaseRun) canApprove(req Request) error {
	if slices.ContainsFunc(r.st.Pipelines, atStage(PhaseAwaitingApproval, req)) {
		return r.mayApprove(req)
	}
	if at := r.where(PhaseAwaitingApproval); len(at) > 0 {
		return fmt.Errorf("stage %q is not awaiting approval; awaiting: %s", req.Stage, strings.Join(at, ", "))
	}
	return fmt.Errorf("no stage is awaiting approval (release is %s)", r.livePhase())
}

// mayApprove refuses an approval that would not count: by someone the
// boundary does not allow, or by someone who approved the stage already
// (a stage that needs two approvals needs two people).
func (r *releaseRun) mayApprove(req Request) error {
	for i, ps := range r.st.Pipelines {
		if !atStage(PhaseAwaitingApproval, req)(ps) {
			continue
		}
		st := stageNamed(r.req.Pipelines[i], ps.Stage)
		if len(st.AllowedApprovers) > 0 && !slices.Contains(st.AllowedApprovers, req.Who) {
			return fmt.Errorf("%s may not approve stage %s of %s/%s (allowed: %s)", req.Who, ps.Stage, ps.Cloud, ps.Boundary, strings.Join(st.AllowedApprovers, ", "))
		}
		if slices.Contains(ps.Approvals, req.Who) {
			return fmt.Errorf("%s approved stage %s of %s/%s already: %d more approval(s) by someone else needed", req.Who, ps.Stage, ps.Cloud, ps.Boundary, ps.ApprovalsNeeded)
		}
	}
	return nil
}

// approved records an approval in the status at once, so that the answer
// says how many approvals are still needed; the pipeline's next report
// says the same.
func (r *releaseRun) approved(req Request) {
	for i := range r.st.Pipelines {
		ps := &r.st.Pipelines[i]
		if !atStage(PhaseAwaitingApproval, req)(*ps) || slices.Contains(ps.Approvals, req.Who) {
			continue
		}
		ps.Approvals = append(slices.Clone(ps.Approvals), req.Who)
		ps.ApprovalsNeeded = max(ps.ApprovalsNeeded-1, 0)
	}
}

// stageNamed is the stage of pl with that name (zero when none).
func stageNamed(pl pipelines.Pipeline, name string) pipelines.Stage {
	for _, s := range pl.Stages {
		if s.Name == name {
			return s
		}
	}
	return pipelines.Stage{}
}

func (r *releaseRun) canPromote(req Request) error {
	if slices.ContainsFunc(r.st.Pipelines, atStage(PhaseBaking, req)) {
		return nil
	}
	if at := r.where(PhaseBaking); len(at) > 0 {
		return fmt.Errorf("stage %q is not baking; baking: %s", req.Stage, strings.Join(at, ", "))
	}
	return fmt.Errorf("no stage is baking (release is %s)", r.livePhase())
}

func (r *releaseRun) canPause(Request) error {
	switch {
	case r.stopping():
		return fmt.Errorf("release is stopping: %s", r.why())
	case r.paused:
		return errors.New("release is already paused")
	}
	return nil
}

func (r *releaseRun) canResume(req Request) error {
	switch {
	case req.OverrideFreeze && strings.TrimSpace(req.Reason) == "":
		return errors.New("overriding a freeze needs a reason")
	case req.OverrideFreeze && r.override:
		return errors.New("release already goes through freezes")
	case req.OverrideFreeze:
		return nil // through the freezes that hold it now and later
	case r.paused || len(r.where(PhasePaused)) > 0:
		return nil
	case len(r.where(PhaseFrozen)) > 0:
		return fmt.Errorf("release is frozen, not paused (%s): resume --override-freeze --reason R lets it through", strings.Join(r.where(PhaseFrozen), ", "))
	}
	return fmt.Errorf("release is not paused (it is %s)", r.livePhase())
}

func (r *releaseRun) canAbort(Request) error {
	if r.stopping() {
		return fmt.Errorf("release is already stopping: %s", r.why())
	}
	return nil
}

func (r *releaseRun) canRollback(Request) error {
	switch {
	case r.rollback:
		return errors.New("release is already rolling back")
	case r.st.Phase.Terminal() && !r.window:
		return fmt.Errorf("release %s has ended (%s) and its rollback window is closed", r.st.Release, r.st.Phase)
	}
	return nil
}
