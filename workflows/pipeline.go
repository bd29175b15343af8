package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// Pipeline runs one (cloud, boundary)'s stages in order, on the boundary's
// task queue: a stage rolls out to its targets with bounded parallelism
// (one Rollout activity per target), then bakes (the gates are evaluated
// every gate interval), then waits for approval when it asks for one.
// Between stages the pipeline continues as new once its history grows
// past MaxHistory events, so hundreds of targets never crowd one history.
// A failure, an abort or a rollback request unwinds the changes per the
// pipeline's rollback policy:
//
//   - automatic: every change the pipeline made, newest first;
//   - stage: only the failed stage's changes;
//   - manual: pause; the operator then rolls back (everything), resumes
//     (the failed stage runs again; deploys are idempotent) or aborts
//     (targets are left as they are).
//
// Compensations run in a disconnected context, so they survive cancellation.
//
// A pipeline of a release that succeeded stays open until the release
// ends (the release closes it): when the release later rolls it back (a
// later boundary failed, or an operator's rollback in the window), the
// pipeline unwinds its own changes in its own history and ends rolled
// back, as the Web UI then shows it.
func Pipeline(ctx workflow.Context, in PipelineInput) (PipelineResult, error) {
	p := &pipelineRun{
		in:        in,
		key:       pipelineKey(in.Pipeline),
		changed:   make([][]Compensation, len(in.Pipeline.Stages)),
		unwound:   make([]bool, len(in.Pipeline.Stages)),
		approved:  map[string]bool{},
		approvals: map[string][]string{},
		st: PipelineStatus{
			Cloud: in.Pipeline.Cloud, Boundary: in.Pipeline.Boundary, Stages: len(in.Pipeline.Stages),
			WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, TaskQueue: workflow.GetInfo(ctx).TaskQueueName,
		},
	}
	first := 0
	if s := in.State; s != nil {
		first, p.paused, p.reports, p.leftAlone = s.Next, s.Paused, s.Reports, s.LeftAlone
		copy(p.changed, s.Changed)
		for _, a := range s.Approved {
			p.approved[a] = true
		}
		if s.Approvals != nil {
			p.approvals = s.Approvals
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PipelineStatus, error) { return p.st, nil }); err != nil {
		return PipelineResult{}, err
	}
	commands := workflow.GetSignalChannel(ctx, signalCommand)
	workflow.Go(ctx, func(ctx workflow.Context) {
		thaws := workflow.GetSignalChannel(ctx, signalThaw)
		for {
			thaws.Receive(ctx, nil)
			p.thawed = true
		}
	})
	// Canceling the pipeline is an abort: the rest runs disconnected, so
	// that targets in flight finish and every change is compensated.
	canceled := ctx
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	workflow.Go(canceled, func(canceled workflow.Context) {
		canceled.Done().Receive(canceled, nil)
		p.apply(command{Action: UpdateAbort, Req: Request{Who: "temporal", Reason: "the pipeline workflow was canceled"}})
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var c command
			commands.Receive(ctx, &c)
			p.apply(c)
		}
	})
	for i := first; i < len(in.Pipeline.Stages); i++ {
		if i > first && p.historyFull(ctx) {
			for c := (command{}); commands.ReceiveAsync(&c); c = (command{}) {
				p.apply(c)
			}
			if !p.stopping() {
				// p.in: an override of freezes is carried over too.
				p.in.State = p.state(i)
				// A new run moves to the current build of Meridian's workers.
				return PipelineResult{}, workflow.NewContinueAsNewErrorWithOptions(ctx,
					workflow.ContinueAsNewErrorOptions{InitialVersioningBehavior: workflow.ContinueAsNewVersioningBehaviorAutoUpgrade},
					Pipeline, p.in)
			}
		}
		why := p.runStage(ctx, i)
		if why == "" {
			continue
		}
		if p.failed(ctx, i, why) {
			i-- // resumed under the manual policy: run the stage again
			continue
		}
		return p.end(ctx)
	}
	if p.staysOpen(ctx) {
		p.open = true
		p.set(ctx, PhaseSucceeded, "succeeded; open until the release ends")
		_ = workflow.Await(ctx, func() bool { return p.closed || p.stopping() })
		p.open = false
		if p.rollback || p.abortedWhileOpen(ctx) {
			p.unwind(ctx, 0, len(in.Pipeline.Stages)-1, p.stopWhy)
			return p.end(ctx)
		}
	}
	p.set(ctx, PhaseSucceeded, "")
	return p.result(), nil
}

// abortedWhileOpen reports whether an abort reached the pipeline after it
// had succeeded: the release sent it before it heard the pipeline was
// open, and would roll such a pipeline back under the automatic policy,
// as the pipeline then does itself. Runs recorded before this
// (DefaultVersion) ended succeeded.
func (p *pipelineRun) abortedWhileOpen(ctx workflow.Context) bool {
	return p.aborted && !p.closed && p.in.Pipeline.Rollback == "automatic" &&
		workflow.GetVersion(ctx, "abort-while-open", workflow.DefaultVersion, 1) == 1
}

// staysOpen says whether a pipeline that succeeded waits for its release
// to close it; runs recorded before pipelines stayed open (DefaultVersion)
// and pipelines started on their own end at once.
func (p *pipelineRun) staysOpen(ctx workflow.Context) bool {
	return p.in.Release != "" && workflow.GetVersion(ctx, "pipelines-stay-open", workflow.DefaultVersion, 1) == 1
}

// end returns the pipeline's outcome: a failed workflow unless it
// succeeded (see failedOutcome).
func (p *pipelineRun) end(ctx workflow.Context) (PipelineResult, error) {
	res := p.result()
	return res, failedOutcome(ctx, res.Phase, res.Reason, res)
}

// defaultMaxHistory is where a Pipeline continues as new between stages.
const defaultMaxHistory = 10000

func (p *pipelineRun) historyFull(ctx workflow.Context) bool {
	limit := p.in.MaxHistory
	if limit <= 0 {
		limit = defaultMaxHistory
	}
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > limit
}

// state is what the next run needs to go on at stage next.
func (p *pipelineRun) state(next int) *PipelineState {
	s := &PipelineState{Next: next, Changed: p.changed, Paused: p.paused, Approvals: p.approvals, Reports: p.reports, LeftAlone: p.leftAlone}
	for _, st := range p.in.Pipeline.Stages {
		if p.approved[st.Name] {
			s.Approved = append(s.Approved, st.Name)
		}
	}
	return s
}

type pipelineRun struct {
	in  PipelineInput
	key string // cloud/boundary
	st  PipelineStatus
	// changed holds, per stage, the changes in effect, oldest first.
	changed                   [][]Compensation
	unwound                   []bool // per stage: its changes were rolled back
	leftAsIs                  []string
	leftAlone                 []string // targets a revert left alone, "target: why"
	approved                  map[string]bool
	approvals                 map[string][]string // per stage: who approved, distinct
	paused, resumed, promoted bool
	aborted, rollback         bool
	stopWhy                   string
	// open: succeeded, waiting for the release to close it (closed).
	open, closed bool
	thawed       bool      // a freeze was lifted since the pipeline froze
	reports      int       // progress reports sent, across runs (progress.Seq)
	reported     time.Time // when the last one was sent
}

func (p *pipelineRun) stopping() bool { return p.aborted || p.rollback }

// apply records an operator command forwarded by the Release.
func (p *pipelineRun) apply(c command) {
	switch c.Action {
	case UpdateApprove:
		stage := c.Req.Stage
		if stage == "" {
			stage = p.st.Stage
		}
		if !slices.Contains(p.approvals[stage], c.Req.Who) {
			p.approvals[stage] = append(slices.Clone(p.approvals[stage]), c.Req.Who)
		}
		p.approved[stage] = len(p.approvals[stage]) >= approversOf(p.in.Pipeline, stage)
	case UpdatePromote:
		p.promoted = true
	case UpdatePause:
		p.paused = true
	case UpdateResume:
		p.paused, p.resumed = false, true
		p.in.OverrideFreeze = p.in.OverrideFreeze || c.Req.OverrideFreeze
	case UpdateAbort:
		p.aborted = true
		p.stopWhy = fmt.Sprintf("aborted by %s: %s", c.Req.Who, c.Req.Reason)
	case UpdateRollback:
		p.rollback = true
		p.stopWhy = fmt.Sprintf("rollback requested by %s: %s", c.Req.Who, c.Req.Reason)
	case actionClose:
		p.closed = true
	}
}

// runStage runs stage i: roll out, bake, approval. It returns why it failed or stopped.
func (p *pipelineRun) runStage(ctx workflow.Context, i int) string {
	stage := p.in.Pipeline.Stages[i]
	if kind := p.in.Change.Kind; (kind == KindApply && !p.in.Pipeline.Decommission) || kind == KindRevert {
		// An apply changes only the targets its parts name, a revert
		// those the undone release changed: a stage without one has
		// nothing to roll out, bake or approve.
		stage.Targets = slices.DeleteFunc(slices.Clone(stage.Targets), func(t placement.Target) bool {
			if kind == KindRevert {
				return len(revertSteps(p.in.Change, t)) == 0
			}
			return len(applySteps(p.in.Change, t)) == 0
		})
		if len(stage.Targets) == 0 {
			return ""
		}
	}
	p.st.Stage, p.st.Done, p.st.Total = stage.Name, 0, len(stage.Targets)
	for {
		if p.paused {
			p.set(ctx, PhasePaused, "paused before stage "+stage.Name)
			_ = workflow.Await(ctx, func() bool { return !p.paused || p.stopping() })
		}
		// Paused while frozen: the pause holds once the freeze is over.
		if !p.thaw(ctx, stage) || !p.paused {
			break
		}
	}
	if p.stopping() {
		return p.stopWhy
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, searchattr.Stage.ValueSet(stage.Name), searchattr.Environment.ValueSet(stage.Environment))
	p.set(ctx, PhaseRunning, "")
	res := p.rollout(ctx, stage)
	p.changed[i] = append(p.changed[i], res.changed...)
	p.leftAlone = append(p.leftAlone, res.leftAlone...)
	switch {
	case res.failure != "":
		return res.failure
	case p.stopping():
		return p.stopWhy
	}
	if why := p.bake(ctx, stage); why != "" {
		return why
	}
	for stage.Approval && !p.approved[stage.Name] && !p.stopping() {
		// One round per approval received, until enough distinct people
		// approved (one, unless the boundary asks for more).
		given := p.approvals[stage.Name]
		p.st.Approvals, p.st.ApprovalsNeeded = given, max(stage.Approvers, 1)-len(given)
		why := "stage " + stage.Name + " awaits approval"
		if stage.Approvers > 1 {
			why = fmt.Sprintf("stage %s awaits %d more approval(s) of %d by distinct people", stage.Name, p.st.ApprovalsNeeded, stage.Approvers)
		}
		p.set(ctx, PhaseAwaitingApproval, why)
		_ = workflow.Await(ctx, func() bool {
			return p.approved[stage.Name] || p.stopping() || len(p.approvals[stage.Name]) != len(given)
		})
	}
	p.st.Approvals, p.st.ApprovalsNeeded = nil, 0
	if p.stopping() {
		return p.stopWhy
	}
	return ""
}

// frozenRecheck is how often a frozen pipeline looks at the freezes again
// on its own (a lifted freeze also wakes it at once: see WakeFrozen).
const frozenRecheck = 5 * time.Minute

// thaw waits while a freeze holds the stage: a freeze of the spec or an
// emergency freeze covering any of its targets, unless the release
// overrides freezes. It is a forward stage's wait only: compensations
// never wait for a freeze. Runs recorded before freezes (DefaultVersion)
// never wait, and nor does a revert, which is a rollback. It reports
// whether the stage was frozen.
func (p *pipelineRun) thaw(ctx workflow.Context, stage pipelines.Stage) (frozen bool) {
	if p.in.OverrideFreeze || p.stopping() || p.in.Change.Kind == KindRevert || workflow.GetVersion(ctx, "freezes", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	for !p.in.OverrideFreeze && !p.stopping() {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			ScheduleToCloseTimeout: 5 * time.Minute,
			RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
		})
		var emergency []placement.Freeze
		// By name, so that a replayer, which registers no activities,
		// takes the result from the history.
		if err := workflow.ExecuteLocalActivity(lctx, emergencyFreezesActivity).Get(ctx, &emergency); err != nil {
			// Temporal itself is out of reach: the spec's freezes still hold.
			workflow.GetLogger(ctx).Warn("emergency freezes unread", "error", err)
		}
		now := workflow.Now(ctx)
		h, held := pipelines.Holding(append(slices.Clone(p.in.Freezes), emergency...), stage.Targets, now)
		if !held {
			return frozen
		}
		frozen, p.thawed = true, false
		p.set(ctx, PhaseFrozen, h.Reason(stage.Name))
		wait := frozenRecheck
		if !h.Until.IsZero() {
			wait = min(wait, h.Until.Sub(now))
		}
		_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      wait,
			TimerOptions: workflow.TimerOptions{Summary: "frozen by " + h.Freeze.Name},
		}, func() bool { return p.thawed || p.in.OverrideFreeze || p.stopping() })
	}
	return frozen
}

// bake waits the stage's bake time, evaluating the gates every interval on
// the stage's targets; promote ends it early. When a gate asks for more
// than one healthy observation in a row (SuccessLimit > 1), the stage then
// goes on being checked at the gate interval until every such gate holds
// on every target, for at most pipelines.GateWaitRounds rounds; a gate
// still inconclusive then fails the stage.
func (p *pipelineRun) bake(ctx workflow.Context, stage pipelines.Stage) string {
	// A run recorded before success limits existed (DefaultVersion) never
	// waits for gates to hold.
	waitRounds := 0
	if n := pipelines.GateWaitRounds(p.in.Gates); n > 0 && workflow.GetVersion(ctx, "gate-success-limit", workflow.DefaultVersion, 1) == 1 {
		waitRounds = n
	}
	if stage.Bake <= 0 && waitRounds == 0 {
		return ""
	}
	p.promoted = false
	p.set(ctx, PhaseBaking, "")
	end := workflow.Now(ctx).Add(time.Duration(stage.Bake))
	interval := time.Duration(pipelines.GateInterval(p.in.Gates))
	tallies := pipelines.GateTallies{}
	for left := time.Duration(stage.Bake); left > 0; left = end.Sub(workflow.Now(ctx)) {
		wait := left
		if len(p.in.Gates) > 0 {
			wait = min(interval, left)
		}
		if why, done := p.bakeRound(ctx, stage, tallies, wait, fmt.Sprintf("bake %s: %s left, gates every %s", stage.Name, left.Round(time.Second), interval)); done {
			return why
		}
	}
	if waitRounds == 0 {
		return ""
	}
	for round := 1; ; round++ {
		unheld := tallies.Unheld(p.in.Gates, stage.Targets)
		switch {
		case unheld == "":
			return ""
		case round > waitRounds:
			return fmt.Sprintf("bake %s: gates did not hold within %d round(s) past bake: %s", stage.Name, waitRounds, unheld)
		}
		if why, done := p.bakeRound(ctx, stage, tallies, interval, fmt.Sprintf("gates of %s: round %d of at most %d past bake, until they hold", stage.Name, round, waitRounds)); done {
			return why
		}
	}
}

// bakeRound waits (a timer with summary) then, when the stage has gates,
// evaluates them on its targets and tallies them. It is done when the
// pipeline stops, the operator promoted the stage or a gate failed, with
// why the stage stopped ("" for a promotion).
func (p *pipelineRun) bakeRound(ctx workflow.Context, stage pipelines.Stage, tallies pipelines.GateTallies, wait time.Duration, summary string) (why string, done bool) {
	_, _ = workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      wait,
		TimerOptions: workflow.TimerOptions{Summary: summary},
	}, func() bool { return p.promoted || p.stopping() })
	switch {
	case p.stopping():
		return p.stopWhy, true
	case p.promoted:
		return "", true
	case len(p.in.Gates) == 0:
		return "", false
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           p.st.TaskQueue,
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		Summary:             fmt.Sprintf("check %d gate(s) on %d target(s) of %s", len(p.in.Gates), len(stage.Targets), stage.Name),
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 5},
	})
	var obs []pipelines.GateObservation
	if err := workflow.ExecuteActivity(actx, (*Activities).EvaluateGates, GateCheck{Targets: stage.Targets, Gates: p.in.Gates}).Get(ctx, &obs); err != nil {
		return fmt.Sprintf("bake %s: gates could not be evaluated: %s", stage.Name, rootMessage(err)), true
	}
	if why := tallies.Observe(p.in.Gates, obs); why != "" {
		return fmt.Sprintf("bake %s: %s", stage.Name, why), true
	}
	return "", false
}

// failed handles a failure or stop of stage i per the rollback policy. It
// returns true when the operator resumed a manual pipeline: retry the stage.
func (p *pipelineRun) failed(ctx workflow.Context, i int, why string) bool {
	policy := p.in.Pipeline.Rollback
	switch {
	case p.rollback:
	case policy == "manual" && p.aborted:
		p.set(ctx, PhaseAborted, why)
		return false
	case policy == "manual":
		p.set(ctx, PhasePaused, why+"; waiting for an operator: rollback, resume (runs the stage again) or abort")
		p.resumed = false
		_ = workflow.Await(ctx, func() bool { return p.resumed || p.stopping() })
		if !p.stopping() {
			return true
		}
		if p.aborted {
			p.set(ctx, PhaseAborted, p.stopWhy)
			return false
		}
	case policy == "stage":
		p.unwind(ctx, i, i, why)
		return false
	}
	p.unwind(ctx, 0, i, why)
	return false
}

// unwind compensates the changes of stages from..to, newest first.
func (p *pipelineRun) unwind(ctx workflow.Context, from, to int, why string) {
	p.set(ctx, PhaseRollingBack, why)
	for i := to; i >= from; i-- {
		p.changed[i] = unwind(ctx, p.st.TaskQueue, p.changed[i], p.in.Pipeline.Stages[i].MaxParallel)
		p.leftAsIs = append(p.leftAsIs, targetIDs(p.changed[i])...)
		p.unwound[i] = true
	}
	switch {
	case len(p.leftAsIs) > 0:
		p.set(ctx, PhaseFailed, fmt.Sprintf("%s; rollback failed, left as they are: %v", why, p.leftAsIs))
	case p.aborted && !p.rollback:
		p.set(ctx, PhaseAborted, why)
	default:
		p.set(ctx, PhaseRolledBack, why)
	}
}

func (p *pipelineRun) result() PipelineResult {
	var changed []Compensation
	for _, cs := range p.changed {
		changed = append(changed, cs...)
	}
	return PipelineResult{Phase: p.st.Phase, Reason: p.st.Reason, Changed: changed, LeftAsIs: p.leftAsIs, LeftAlone: p.leftAlone}
}

// set records a phase change and its reason ("" clears the last one):
// search attributes, the Web UI's current details, and the Release's status.
func (p *pipelineRun) set(ctx workflow.Context, phase Phase, reason string) {
	if phase != p.st.Phase {
		_ = workflow.UpsertTypedSearchAttributes(ctx, searchattr.Phase.ValueSet(string(phase)))
	}
	p.st.Phase, p.st.Reason = phase, reason
	workflow.SetCurrentDetails(ctx, pipelineDetails(p.in, p.st, p.unwound))
	p.report(ctx)
}

// report sends the status to the release. Seq orders the reports: signals
// sent in one workflow task may arrive in any order.
func (p *pipelineRun) report(ctx workflow.Context) {
	if p.in.Release == "" {
		return
	}
	p.reports++
	p.reported = workflow.Now(ctx)
	workflow.SignalExternalWorkflow(ctx, p.in.Release, "", signalProgress, progress{Pipeline: p.key, Seq: p.reports, Open: p.open, Status: p.st})
}

// progressEvery is how often, at most, a stage's target count is reported
// to the release between tenths of the stage.
const progressEvery = 10 * time.Second

// targetDone counts a target of the current stage done and shows it: in
// the pipeline's details at once, and in the release's stage table at each
// tenth of the stage or after progressEvery (runs recorded before live
// counts, DefaultVersion, report phase changes only).
func (p *pipelineRun) targetDone(ctx workflow.Context) {
	p.st.Done++
	workflow.SetCurrentDetails(ctx, pipelineDetails(p.in, p.st, p.unwound))
	if p.in.Release == "" || workflow.GetVersion(ctx, "live-target-counts", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	if p.st.Done%max(p.st.Total/10, 1) == 0 || workflow.Now(ctx).Sub(p.reported) >= progressEvery {
		p.report(ctx)
	}
}

// rollbackTimeout bounds one target's rollback, every retry included.
const rollbackTimeout = 30 * time.Minute

// unwind runs compensations newest first in a disconnected context, at
// most parallel at once (all when parallel is 0, capped at maxPending), and
// returns, oldest first, the changes whose rollback failed: still in effect.
func unwind(ctx workflow.Context, taskQueue string, changes []Compensation, parallel int) []Compensation {
	if parallel <= 0 || parallel > maxPending {
		parallel = maxPending
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	failed := make([]bool, len(changes))
	inflight := 0
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		_ = workflow.Await(dctx, func() bool { return inflight < parallel })
		inflight++
		summary := fmt.Sprintf("roll %s back to %s", c.Target.ID(), c.Previous)
		switch {
		case c.Kind == KindDecommission:
			summary = fmt.Sprintf("restore decommissioned %s", c.Target.ID())
		case c.Previous == "":
			summary = fmt.Sprintf("remove the first deploy from %s", c.Target.ID())
		}
		workflow.Go(dctx, func(gctx workflow.Context) {
			defer func() { inflight-- }()
			// A throttled provider (a mass rollback) is retried for up to
			// half an hour; a non-retryable provider code stops at once.
			actx := workflow.WithActivityOptions(gctx, workflow.ActivityOptions{
				TaskQueue:              taskQueue,
				ScheduleToCloseTimeout: rollbackTimeout,
				HeartbeatTimeout:       heartbeatTimeout,
				Summary:                summary,
				RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
			})
			if err := workflow.ExecuteActivity(actx, (*Activities).Rollback, c).Get(gctx, nil); err != nil {
				workflow.GetLogger(gctx).Error("rollback failed", "target", c.Target.ID(), "error", err)
				failed[i] = true
			}
		})
	}
	_ = workflow.Await(dctx, func() bool { return inflight == 0 })
	var left []Compensation
	for i, c := range changes {
		if failed[i] {
			left = append(left, c)
		}
	}
	return left
}

// targetIDs are the IDs of the changes' targets, in order.
func targetIDs(changes []Compensation) []string {
	var ids []string
	for _, c := range changes {
		ids = append(ids, c.Target.ID())
	}
	return ids
}

// approversOf is how many distinct approvals the named stage needs.
func approversOf(pl pipelines.Pipeline, stage string) int {
	return max(stageNamed(pl, stage).Approvers, 1)
}

// pipelineKey names a pipeline of a release: cloud/boundary, and
// cloud/boundary/decommission for its decommission.
func pipelineKey(p pipelines.Pipeline) string {
	if p.Decommission {
		return p.Cloud + "/" + p.Boundary + "/decommission"
	}
	return p.Cloud + "/" + p.Boundary
}
