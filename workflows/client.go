package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// This file is the API the CLI and other callers use: start a release,
// steer it, read its status and a service's history. worker.go registers
// the workflows and activities on a worker.

// ErrBusy is returned by StartRelease when the service is mid-release with
// a different change. The error StartRelease returns matches it with
// errors.Is and reads as one sentence naming the running release:
// "service api is mid-release (release/api/v2-…); wait for it to end or abort it".
var ErrBusy = errors.New("service is mid-release")

// refusal is a refused StartRelease: a sentence for the user that matches
// its sentinel (ErrBusy, ErrChangeIDTaken) with errors.Is.
type refusal struct {
	msg      string
	sentinel error
}

func (e refusal) Error() string        { return e.msg }
func (e refusal) Is(target error) bool { return target == e.sentinel }

// StartRelease starts the release of req.Change, or attaches to it when the
// same change was triggered before (attached is true, whether that release
// is running, queued or has ended). A change id is one change: when its
// release was started with another kind, version, image or config, the
// request is refused with an error matching ErrChangeIDTaken (see
// checkSameChange). A different change for a service that is mid-release
// is refused with an error matching ErrBusy, unless req.Queue is set: then
// it is queued behind the running release (see AcquireRelease).
func StartRelease(ctx context.Context, c client.Client, req ReleaseRequest) (ref ReleaseRef, attached bool, err error) {
	a, err := AcquireRelease(ctx, c, req)
	return a.Release, a.Attached, err
}

// Acquired is how the service's lock took a release request: the release,
// whether it existed already, and for a queued release the running release
// it waits behind.
type Acquired struct {
	Release  ReleaseRef `json:"release"`
	Attached bool       `json:"attached"`
	Behind   string     `json:"behind,omitempty"`
}

// AcquireRelease is StartRelease with the lock's whole answer.
func AcquireRelease(ctx context.Context, c client.Client, req ReleaseRequest) (Acquired, error) {
	if err := req.Validate(); err != nil {
		return Acquired{}, err
	}
	for attempt, busy := 1, 0; ; attempt++ {
		op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       LockID(req.Service),
			TaskQueue:                ControlTaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			StaticSummary:            "release lock of " + req.Service,
		}, LockWorkflowName, req.Service)
		h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName: updateAcquire, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		var a Acquired
		if err == nil {
			err = h.Get(ctx, &a)
		}
		var app *temporal.ApplicationError
		switch {
		case err == nil && a.Attached:
			if err := checkSameChange(ctx, c, a.Release, req); err != nil {
				return Acquired{}, err
			}
			return a, nil
		case err == nil:
			return a, nil
		case errors.As(err, &app) && app.Type() == busyErrorType:
			// The holder may have just closed, its lock not yet told: retry
			// for a moment before refusing.
			var holder string
			if busy++; busy < 20 && app.Details(&holder) == nil && closed(ctx, c, holder) {
				select {
				case <-ctx.Done():
					return Acquired{}, fmt.Errorf("start release of %s: %w", req.Service, ctx.Err())
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			return Acquired{}, refusal{app.Message(), ErrBusy}
		case errors.As(err, &app), attempt == 3, ctx.Err() != nil:
			return Acquired{}, fmt.Errorf("start release of %s: %w", req.Service, err)
		}
		// The lock workflow ended between our look and our update: try again.
	}
}

// EnqueueRelease hands req to its service's lock without waiting for an
// answer (signal-with-start on lock/<service>): the lock starts its
// release, or queues it behind the running one, as AcquireRelease with
// req.Queue set would. It is how meridian apply starts a fleet's releases,
// one server call each; req.Apply names the apply, which hears of every
// phase of the release, or why it could not start.
func EnqueueRelease(ctx context.Context, c client.Client, req ReleaseRequest) error {
	req.Queue = true
	if err := req.Validate(); err != nil {
		return err
	}
	_, err := c.SignalWithStartWorkflow(ctx, LockID(req.Service), signalEnqueue, req, client.StartWorkflowOptions{
		TaskQueue:                ControlTaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "release lock of " + req.Service,
	}, LockWorkflowName, req.Service)
	if err != nil {
		return fmt.Errorf("start release of %s: %w", req.Service, err)
	}
	return nil
}

// closed reports whether a workflow has closed.
func closed(ctx context.Context, c client.Client, id string) bool {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// ReleaseStatus returns the live status of a running release, or the
// outcome of one that ended.
func ReleaseStatus(ctx context.Context, c client.Client, release string) (Status, error) {
	var st Status
	running, err := liveStatus(ctx, c, release, "release "+release, &st)
	switch {
	case err != nil:
		return Status{}, err
	case running:
		stageProgress(ctx, c, &st)
		return st, nil
	}
	st, err = Outcome(ctx, c, release)
	if err != nil {
		return Status{Release: release, Phase: PhaseAborted, Reason: "release workflow ended without an outcome: " + err.Error()}, nil
	}
	return st, nil
}

// liveStatus decodes into v the answer of the status Query of workflow
// id when it runs (running is true), and leaves v alone when it has
// ended. Its errors begin with what.
func liveStatus(ctx context.Context, c client.Client, id, what string, v any) (running bool, err error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return false, nil
	}
	val, err := c.QueryWorkflow(ctx, id, "", QueryStatus)
	if err == nil {
		err = val.Get(v)
	}
	if err != nil {
		return true, fmt.Errorf("%s: status query: %w", what, err)
	}
	return true, nil
}

// outcome waits for a release or an apply to end and decodes its outcome
// (a *Status or an *ApplyStatus) into v, whether it completed (succeeded)
// or failed (rolled back, failed or aborted: the failure carries the
// outcome).
func outcome(ctx context.Context, c client.Client, id string, v any) error {
	return decodeOutcome(c.GetWorkflow(ctx, id, "").Get(ctx, v), v)
}

// Outcome waits for a release to end and returns its final status.
func Outcome(ctx context.Context, c client.Client, release string) (Status, error) {
	var st Status
	if err := outcome(ctx, c, release, &st); err != nil {
		return Status{}, fmt.Errorf("release %s: %w", release, err)
	}
	return st, nil
}

// stageProgress fills in, for each pipeline still to run, why it cannot
// (no worker polls its task queue: see queueCheck.unserved) and, for a
// running one that is served, how many targets its stage has done, asking
// the Pipeline workflow itself (on its boundary's worker), which the
// Release is not told target by target. It asks about up to
// progressQueries pipelines at once; a question not answered within
// progressTimeout (or before ctx ends) leaves the pipeline as the Release
// knows it.
func stageProgress(ctx context.Context, c client.Client, st *Status) {
	queues := &queueCheck{c: c, answers: map[string]func() string{}}
	sem := make(chan struct{}, progressQueries)
	var wg sync.WaitGroup
	for i := range st.Pipelines {
		ps := &st.Pipelines[i]
		if ps.Phase != PhaseRunning && ps.Phase != PhasePending {
			continue
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, progressTimeout)
			defer cancel()
			if why := queues.unserved(qctx, *ps); why != "" {
				if !strings.Contains(ps.Reason, why) { // the release may have said it already
					ps.Reason = strings.Join(slices.DeleteFunc([]string{ps.Reason, why}, func(s string) bool { return s == "" }), "; ")
				}
				return // a query would wait for the worker in vain
			}
			if ps.Phase != PhaseRunning {
				return
			}
			v, err := c.QueryWorkflow(qctx, ps.WorkflowID, "", QueryStatus)
			var live PipelineStatus
			if err == nil && v.Get(&live) == nil && live.Stage == ps.Stage {
				ps.Done = live.Done
			}
		})
	}
	wg.Wait()
}

// progressQueries and progressTimeout bound stageProgress: how many
// pipelines it asks about at once, and how long it waits for each.
const (
	progressQueries = 8
	progressTimeout = 2 * time.Second
)

// pollerFresh is how recently a worker must have polled a task queue to
// count as serving it. The server lists a poller for minutes after its
// last poll, and a live idle worker polls again about every minute.
const pollerFresh = 2 * time.Minute

// queueCheck asks the server, once per task queue, whether workers poll it.
type queueCheck struct {
	c       client.Client
	mu      sync.Mutex
	answers map[string]func() string // by task queue, see unserved
}

// unserved says why ps cannot run when no worker has polled its task
// queue lately for workflow tasks, activity tasks or both, with the
// command that serves it; "" when workers poll it, or when the server
// does not tell.
func (q *queueCheck) unserved(ctx context.Context, ps PipelineStatus) string {
	q.mu.Lock()
	answer := q.answers[ps.TaskQueue]
	if answer == nil {
		answer = sync.OnceValue(func() string { return q.ask(ctx, ps) })
		q.answers[ps.TaskQueue] = answer
	}
	q.mu.Unlock()
	return answer()
}

func (q *queueCheck) ask(ctx context.Context, ps PipelineStatus) string {
	var missing []string
	for _, kind := range []struct {
		name string
		typ  enums.TaskQueueType
	}{{"workflow", enums.TASK_QUEUE_TYPE_WORKFLOW}, {"activity", enums.TASK_QUEUE_TYPE_ACTIVITY}} {
		resp, err := q.c.DescribeTaskQueue(ctx, ps.TaskQueue, kind.typ)
		if err != nil {
			return ""
		}
		if !slices.ContainsFunc(resp.GetPollers(), func(p *taskqueuepb.PollerInfo) bool {
			return time.Since(p.GetLastAccessTime().AsTime()) < pollerFresh
		}) {
			missing = append(missing, kind.name)
		}
	}
	what := ""
	switch len(missing) {
	case 0:
		return ""
	case 1:
		what = " for " + missing[0] + " tasks"
	}
	serve := fmt.Sprintf("meridian worker --boundary %s/%s", ps.Cloud, ps.Boundary)
	if ps.TaskQueue != placement.DefaultTaskQueue(ps.Cloud, ps.Boundary) {
		serve = fmt.Sprintf("meridian worker --spec DIR --boundary %s/%s", ps.Cloud, ps.Boundary) // the spec names the queue
	}
	return fmt.Sprintf("no worker polls task queue %s%s: start `%s` inside that boundary", ps.TaskQueue, what, serve)
}

// Watch polls the status every interval, calls fn with each status that
// differs from the last, and returns the final status once the release has
// ended (including a succeeded release in its rollback window).
func Watch(ctx context.Context, c client.Client, release string, interval time.Duration, fn func(Status)) (Status, error) {
	return poll(ctx, interval, func() (Status, error) { return ReleaseStatus(ctx, c, release) },
		func(st Status) string { return fmt.Sprint(st.Phase, st.Pipelines, len(st.Events)) },
		func(st Status) bool { return st.Phase.Terminal() }, fn)
}

// poll gets a status every interval, calls fn (when not nil) with each
// status whose key differs from the last one's, and returns the first
// status that is done, or the error that ended the wait.
func poll[S any](ctx context.Context, interval time.Duration, get func() (S, error), key func(S) string, done func(S) bool, fn func(S)) (S, error) {
	var last string
	for {
		st, err := get()
		if err != nil {
			return st, err
		}
		if k := key(st); k != last && fn != nil {
			fn(st)
			last = k
		}
		if done(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// Approve approves the stage req.Stage (any waiting stage when empty).
func Approve(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdateApprove, req)
}

// Promote ends the current bake now.
func Promote(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdatePromote, req)
}

// Pause holds the release before its next target, stage or pipeline.
func Pause(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdatePause, req)
}

// Resume continues a paused release (under the manual policy, a failed
// stage runs again).
func Resume(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdateResume, req)
}

// Abort stops the release and rolls back per each pipeline's policy.
func Abort(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdateAbort, req)
}

// Rollback rolls back everything the release changed, newest first, while
// it runs or during its rollback window after success.
func Rollback(ctx context.Context, c client.Client, release string, req Request) (Status, error) {
	return update(ctx, c, release, UpdateRollback, req)
}

func update(ctx context.Context, c client.Client, release, name string, req Request) (Status, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: release, UpdateName: name, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var st Status
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			return Status{}, fmt.Errorf("%s %s: %s", name, release, app.Message())
		}
		return Status{}, fmt.Errorf("%s %s: %w", name, release, err)
	}
	return st, nil
}

// ReleaseSummary is one past or running release of a service, from visibility.
type ReleaseSummary struct {
	Release  string    `json:"release"`
	ChangeID string    `json:"changeId"`
	Trigger  string    `json:"trigger,omitempty"`
	Phase    Phase     `json:"phase"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
}

// History lists a service's releases, newest first, from visibility.
func History(ctx context.Context, c client.Client, service string) ([]ReleaseSummary, error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", ReleaseWorkflowName, searchattr.Service.GetName(), strings.ReplaceAll(service, "'", "\\'"))
	var out []ReleaseSummary
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", service, err)
		}
		for _, e := range resp.GetExecutions() {
			fields := e.GetSearchAttributes().GetIndexedFields()
			s := ReleaseSummary{
				Release: e.GetExecution().GetWorkflowId(), ChangeID: keyword(fields[searchattr.ChangeID.GetName()]),
				Trigger: keyword(fields[searchattr.Trigger.GetName()]), Phase: Phase(keyword(fields[searchattr.Phase.GetName()])),
				Started: e.GetStartTime().AsTime(),
			}
			if e.GetCloseTime() != nil {
				s.Ended = e.GetCloseTime().AsTime()
			}
			switch e.GetStatus() {
			case enums.WORKFLOW_EXECUTION_STATUS_RUNNING, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
				// rolled back, failed or aborted, as its phase says (an
				// invalid request fails before it has one)
				if !s.Phase.Terminal() {
					s.Phase = PhaseAborted
				}
			default:
				s.Phase = PhaseAborted // terminated, canceled, timed out
			}
			out = append(out, s)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

func keyword(p *commonpb.Payload) string {
	var s string
	if p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}

// StartApply starts the apply workflow of a merged change (ID
// ApplyID(in.ChangeID), on the control queue), or attaches to it when the
// change was applied before, running or ended (attached is true). The same
// change id with other releases (another base, another spec) is refused
// with an error matching ErrChangeIDTaken.
func StartApply(ctx context.Context, c client.Client, in ApplyInput) (attached bool, err error) {
	id := ApplyID(in.ChangeID)
	summary := fmt.Sprintf("apply of change %s: %d release(s), base %s", in.ChangeID, len(in.Releases), in.Base)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                ControlTaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:                            summary,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.ChangeID.ValueSet(in.ChangeID), searchattr.Trigger.ValueSet(in.Trigger),
		),
	}, ApplyWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &started):
		return false, fmt.Errorf("start %s: %w", id, err)
	}
	var had ApplyInput
	if err := startInput(ctx, c, id, "", &had); err != nil {
		return false, fmt.Errorf("start %s: reading it: %w", id, err)
	}
	if was, is := applyDiff(had, in); was != "" {
		return false, refusal{fmt.Sprintf("change id %s is already %s (%s); this request is %s", in.ChangeID, id, was, is), ErrChangeIDTaken}
	}
	return true, nil
}

// applyDiff says how two applies of one change id differ, as the first
// release that differs, or "" when they start the same releases.
func applyDiff(had, want ApplyInput) (was, is string) {
	line := func(rs []ApplyRelease, i int) string {
		if i >= len(rs) {
			return "nothing more"
		}
		return rs[i].Service + ": " + rs[i].Summary
	}
	for i := range max(len(had.Releases), len(want.Releases)) {
		if a, b := line(had.Releases, i), line(want.Releases, i); a != b {
			return a, b
		}
	}
	return "", ""
}

// ApplyStatusOf returns the live status of an apply, or its outcome.
func ApplyStatusOf(ctx context.Context, c client.Client, id string) (ApplyStatus, error) {
	var st ApplyStatus
	running, err := liveStatus(ctx, c, id, id, &st)
	switch {
	case err != nil:
		return ApplyStatus{}, err
	case running:
		return st, nil
	}
	if err := outcome(ctx, c, id, &st); err != nil {
		return ApplyStatus{}, fmt.Errorf("%s ended without an outcome: %w", id, err)
	}
	return st, nil
}

// WatchApply polls an apply's status every interval, calls fn with each
// status whose releases' phases differ from the last, and returns the
// final status once the apply has ended.
func WatchApply(ctx context.Context, c client.Client, id string, interval time.Duration, fn func(ApplyStatus)) (ApplyStatus, error) {
	return poll(ctx, interval, func() (ApplyStatus, error) { return ApplyStatusOf(ctx, c, id) },
		func(st ApplyStatus) string {
			key := string(st.Phase)
			for _, r := range st.Releases {
				key += "," + string(r.Phase)
			}
			return key
		},
		func(st ApplyStatus) bool { return st.Phase.Terminal() }, fn)
}

// CurrentVersion is the artifact version (and image) of a service's last
// succeeded release that deployed one (a version or apply release), from
// visibility; ok is false when it has none.
func CurrentVersion(ctx context.Context, c client.Client, service string) (version, image string, ok bool, err error) {
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s = '%s'", ReleaseWorkflowName,
		searchattr.Service.GetName(), strings.ReplaceAll(service, "'", "\\'"), searchattr.Phase.GetName(), PhaseSucceeded)
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return "", "", false, fmt.Errorf("last release of %s: %w", service, err)
		}
		execs := resp.GetExecutions()
		slices.SortFunc(execs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
			return b.GetStartTime().AsTime().Compare(a.GetStartTime().AsTime())
		})
		for _, e := range execs {
			var req ReleaseRequest
			if err := startInput(ctx, c, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), &req); err != nil {
				return "", "", false, fmt.Errorf("last release of %s: %w", service, err)
			}
			if k := req.Change.Kind; k == KindVersion || k == KindApply {
				return req.Change.Version, req.Change.Image, true, nil
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return "", "", false, nil
		}
	}
}

// startInput decodes the input a workflow was started with, from its
// first history event into v.
func startInput(ctx context.Context, c client.Client, id, runID string, v any) error {
	iter := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !iter.HasNext() {
		return errors.New("empty history")
	}
	ev, err := iter.Next()
	if err != nil {
		return err
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return fmt.Errorf("first event is %s, not the start", ev.GetEventType())
	}
	return converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), v)
}
