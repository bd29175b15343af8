package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// ReleaseRef names a release workflow.
type ReleaseRef struct {
	ID    string `json:"id"`
	RunID string `json:"runId,omitempty"`
}

// busyErrorType types the rejection of a different change mid-release.
const busyErrorType = "MeridianBusy"

// lockIdle is how long an idle lock lives before it ends (a variable for
// the test that makes requests arrive as it ends).
var lockIdle = time.Minute

// ServiceLock serializes a service's releases, race-free: StartRelease sends
// it an acquire Update with update-with-start (workflow ID lock/<service>,
// conflict policy use-existing). The Update's handler starts the Release as
// a child (ID release/<service>/<change-id>, reuse policy reject-duplicate,
// parent-close policy abandon) and holds the lock until that child ends.
// The same change id again attaches to its release, even after it ended
// (StartRelease then refuses the attach when the release's change differs:
// see checkSameChange).
//
// A different change while one is running (including its rollback window)
// is rejected by the validator (so the rejection leaves no history), unless
// the request asks to queue (ReleaseRequest.Queue, as meridian apply
// does): then its release starts at once in phase queued, and the lock
// tells it to go on when the running one ends. One change waits at most: a
// newer queued change supersedes the queued one, which ends as superseded
// naming its successor; an apply change that supersedes another carries its
// parts too (see supersede), so that nothing the older change said is lost.
func ServiceLock(ctx workflow.Context, service string) error {
	l := &lockRun{service: service, mu: workflow.NewMutex(ctx)}
	err := workflow.SetUpdateHandlerWithOptions(ctx, updateAcquire, l.acquire,
		workflow.UpdateHandlerOptions{Validator: l.validate})
	if err != nil {
		return err
	}
	enqueued := workflow.GetSignalChannel(ctx, signalEnqueue)
	// A request stays in the channel until the goroutine below takes it
	// and counts it in one step, so that busy() sees it in the very task
	// it arrives in, whichever coroutine runs first. (A blocked Receive
	// takes it at delivery, before its goroutine runs: a request arriving
	// with the idle timer's firing was dropped as the lock ended.)
	counted := workflow.GetVersion(ctx, "lock-counts-requests-on-receipt", workflow.DefaultVersion, 1) == 1
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var req ReleaseRequest
			if counted {
				_ = workflow.Await(ctx, func() bool { return enqueued.Len() > 0 })
				enqueued.ReceiveAsync(&req)
			} else {
				enqueued.Receive(ctx, &req)
			}
			l.pending++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { l.pending-- }()
				l.enqueueSignaled(ctx, req)
			})
		}
	})
	// Requests still to handle: Updates, and enqueue signals received or
	// delivered but not yet read.
	busy := func() bool { return !workflow.AllHandlersFinished(ctx) || l.pending > 0 || enqueued.Len() > 0 }
	for {
		held, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout: lockIdle, TimerOptions: workflow.TimerOptions{Summary: "idle: the lock ends unless a release starts"},
		}, func() bool { return l.holder.ID != "" })
		if !held && !busy() {
			return nil
		}
		_ = workflow.Await(ctx, func() bool { return l.holder.ID == "" && !busy() })
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, ServiceLock, service)
		}
	}
}

type lockRun struct {
	service     string
	holder      ReleaseRef     // the running release
	holderApply string         // the apply holder belongs to, if any
	queued      ReleaseRef     // the release waiting for it, if any
	queuedReq   ReleaseRequest // queued's request, for supersede
	mu          workflow.Mutex // serializes queueing
	pending     int            // enqueue signals being handled
}

// enqueueSignaled handles a request sent by EnqueueRelease, which waits
// for no answer (meridian apply starts a fleet's releases that way): it is
// started or queued like an Update with Queue set. Nobody hears an error,
// so the request's apply is told when its release cannot start, or when
// the release of its id exists already and is not that apply's (the change
// id names another change).
func (l *lockRun) enqueueSignaled(ctx workflow.Context, req ReleaseRequest) {
	req.Queue = true
	id := ReleaseID(req.Service, req.Change.ID)
	if err := l.validate(ctx, req); err != nil {
		l.tellApply(ctx, req.Apply, id, err.Error())
		return
	}
	switch {
	case id == l.holder.ID && req.Apply == l.holderApply, id == l.queued.ID && req.Apply == l.queuedReq.Apply:
		return // a retry of the same apply
	}
	a, err := l.acquire(ctx, req)
	switch {
	case err != nil:
		l.tellApply(ctx, req.Apply, id, err.Error())
	case a.Attached && a.Release.RunID == "":
		// An ended release: if it was this apply's, the apply has heard
		// its every phase already and ignores this.
		l.tellApply(ctx, req.Apply, id, "release "+id+" exists already and is not part of "+req.Apply+": change id "+req.Change.ID+" names another change")
	case a.Attached:
		l.tellApply(ctx, req.Apply, id, "release "+id+" is another change's: change id "+req.Change.ID+" names another change")
	}
}

// tellApply tells an apply that its release id could not start, and why.
func (l *lockRun) tellApply(ctx workflow.Context, apply, release, reason string) {
	if apply != "" {
		_ = workflow.SignalExternalWorkflow(ctx, apply, "", signalRefused, releasePhase{Release: release, Reason: reason}).Get(ctx, nil)
	}
}

func (l *lockRun) validate(_ workflow.Context, req ReleaseRequest) error {
	if req.Service != l.service {
		return fmt.Errorf("lock of %s cannot start a release of %s", l.service, req.Service)
	}
	if err := req.Validate(); err != nil {
		return err
	}
	if id := ReleaseID(req.Service, req.Change.ID); l.holder.ID != "" && l.holder.ID != id && l.queued.ID != id && !req.Queue {
		return temporal.NewApplicationError(fmt.Sprintf(
			"service %s is mid-release (%s); wait for it to end or abort it", l.service, l.holder.ID), busyErrorType, l.holder.ID)
	}
	return nil
}

func (l *lockRun) acquire(ctx workflow.Context, req ReleaseRequest) (Acquired, error) {
	if a, ok := l.attach(req); ok {
		return a, nil
	}
	if l.holder.ID == "" {
		return l.lead(ctx, req)
	}
	return l.enqueue(ctx, req)
}

// attach answers a request for a release the lock holds or queues.
func (l *lockRun) attach(req ReleaseRequest) (Acquired, bool) {
	switch ReleaseID(req.Service, req.Change.ID) {
	case l.holder.ID:
		return Acquired{Release: l.holder, Attached: true}, true
	case l.queued.ID:
		return Acquired{Release: l.queued, Attached: true, Behind: l.holder.ID}, true
	}
	return Acquired{}, false
}

// lead starts req's release on a free lock, which it then holds.
func (l *lockRun) lead(ctx workflow.Context, req ReleaseRequest) (Acquired, error) {
	l.holder, l.holderApply = ReleaseRef{ID: ReleaseID(req.Service, req.Change.ID)}, req.Apply
	ref, attached, err := l.start(ctx, req)
	if err != nil || attached {
		l.holder, l.holderApply = ReleaseRef{}, ""
		return Acquired{Release: ref, Attached: attached}, err
	}
	l.holder = ref
	return Acquired{Release: ref}, nil
}

// enqueue starts req's release queued behind the holder, superseding the
// release queued before it. Queueing requests take turns: each sees the
// queue the one before left.
func (l *lockRun) enqueue(ctx workflow.Context, req ReleaseRequest) (Acquired, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return Acquired{}, err
	}
	defer l.mu.Unlock()
	if a, ok := l.attach(req); ok {
		return a, nil
	}
	if l.holder.ID == "" { // the holder ended while we waited: go first
		return l.lead(ctx, req)
	}
	old, oldReq := l.queued, l.queuedReq
	if old.ID != "" {
		req = supersede(oldReq, req)
	}
	req.Behind = l.holder.ID
	ref, attached, err := l.start(ctx, req)
	if err != nil || attached {
		return Acquired{Release: ref, Attached: attached}, err
	}
	// The holder may have ended while the child started.
	switch {
	case l.holder.ID == "":
		l.holder, l.holderApply = ref, req.Apply
		_ = workflow.SignalExternalWorkflow(ctx, ref.ID, ref.RunID, signalDequeue, nil).Get(ctx, nil)
		return Acquired{Release: ref}, nil
	case l.holder.ID == old.ID: // old went first after all: nothing to supersede
		l.queued, l.queuedReq = ref, req
	default:
		l.queued, l.queuedReq = ref, req
		if old.ID != "" {
			_ = workflow.SignalExternalWorkflow(ctx, old.ID, old.RunID, signalSupersede, ref.ID).Get(ctx, nil)
		}
	}
	return Acquired{Release: ref, Behind: l.holder.ID}, nil
}

// start starts req's release as a child; attached when a release of that
// id exists already (it has ended: the lock knows the running ones).
func (l *lockRun) start(ctx workflow.Context, req ReleaseRequest) (ReleaseRef, bool, error) {
	id := ReleaseID(req.Service, req.Change.ID)
	phase := PhaseRunning
	if req.Behind != "" {
		phase = PhaseQueued
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		TaskQueue:             ControlTaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:         releaseSummary(req),
		StaticDetails:         releaseStaticDetails(req),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.Service.ValueSet(req.Service), searchattr.ChangeID.ValueSet(req.Change.ID),
			searchattr.Trigger.ValueSet(req.Change.Trigger), searchattr.Phase.ValueSet(string(phase)),
		),
	})
	f := workflow.ExecuteChildWorkflow(cctx, Release, req)
	var exec workflow.Execution
	if err := f.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return ReleaseRef{ID: id}, true, nil
		}
		return ReleaseRef{}, false, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		_ = f.Get(ctx, nil)
		l.ended(ctx, id)
	})
	return ReleaseRef{ID: id, RunID: exec.RunID}, false, nil
}

// ended frees the lock of a release that ended: the queued release, if
// any, goes next.
func (l *lockRun) ended(ctx workflow.Context, id string) {
	switch id {
	case l.queued.ID: // aborted while it waited
		l.queued, l.queuedReq = ReleaseRef{}, ReleaseRequest{}
	case l.holder.ID:
		l.holder, l.holderApply = ReleaseRef{}, ""
		if next := l.queued; next.ID != "" {
			l.holder, l.holderApply, l.queued, l.queuedReq = next, l.queuedReq.Apply, ReleaseRef{}, ReleaseRequest{}
			_ = workflow.SignalExternalWorkflow(ctx, next.ID, next.RunID, signalDequeue, nil).Get(ctx, nil)
		}
	}
}

// supersede is the request that replaces the queued request old with the
// newer next. Latest wins: next's change is the one that runs. When both
// are apply changes, next also carries what old would have done and next
// does not undo: its parts, its added targets (those next still deploys
// to) and its decommissions (of targets next does not deploy to).
func supersede(old, next ReleaseRequest) ReleaseRequest {
	next.Change.Supersedes = append(slices.Clone(old.Change.Supersedes), ReleaseID(old.Service, old.Change.ID))
	if old.Change.Kind != KindApply || next.Change.Kind != KindApply {
		return next
	}
	deployed := map[string]bool{}
	var forward, decommission []pipelines.Pipeline
	for _, pl := range next.Pipelines {
		if pl.Decommission {
			decommission = append(decommission, pl)
			continue
		}
		forward = append(forward, pl)
		for _, st := range pl.Stages {
			for _, t := range st.Targets {
				deployed[t.ID()] = true
			}
		}
	}
	c := &next.Change
	if c.Version == "" { // next deploys nothing, and knew no version
		c.Version, c.Image = old.Change.Version, old.Change.Image
	}
	for _, p := range old.Change.Parts {
		if !slices.Contains(c.Parts, p) {
			c.Parts = append(c.Parts, p)
		}
	}
	for _, id := range old.Change.Added {
		if deployed[id] && !slices.Contains(c.Added, id) {
			c.Added = append(c.Added, id)
		}
	}
	for _, pl := range old.Pipelines {
		if !pl.Decommission {
			continue
		}
		var stages []pipelines.Stage
		for _, st := range pl.Stages {
			st.Targets = slices.DeleteFunc(slices.Clone(st.Targets), func(t placement.Target) bool { return deployed[t.ID()] })
			if len(st.Targets) > 0 {
				stages = append(stages, st)
			}
		}
		if len(stages) == 0 {
			continue
		}
		if i := slices.IndexFunc(decommission, func(d pipelines.Pipeline) bool { return pipelineKey(d) == pipelineKey(pl) }); i >= 0 {
			decommission[i].Stages = append(slices.Clone(decommission[i].Stages), stages...)
			continue
		}
		pl.Stages = stages
		decommission = append(decommission, pl)
	}
	next.Pipelines = append(forward, decommission...)
	return next
}
