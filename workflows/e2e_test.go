package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// End-to-end tests: one real in-process Temporal server for the package,
// the worker's real registrations, the fake driver, and the client API the
// CLI uses.

var (
	server *temporaltest.TestServer
	tc     client.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	server = temporaltest.NewServer()
	tc = server.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := RegisterSearchAttributes(ctx, tc, server.GetDefaultNamespace())
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	server.NewWorker(ControlTaskQueue, func(r worker.Registry) { Register(r, &Activities{Providers: providers.NewSet()}) })
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

// boundary is a test's own boundary: a task queue served by a worker whose
// activities call a fake driver.
type boundary struct {
	queue string
	fake  *fake.Driver
	w     worker.Worker
	extra func(worker.Registry) // more registrations (benchmarks)
}

func newBoundary(t testing.TB, queue string, opts *fake.Options) *boundary {
	return newBoundaryWith(t, queue, opts, nil)
}

func newBoundaryWith(t testing.TB, queue string, opts *fake.Options, extra func(worker.Registry)) *boundary {
	t.Helper()
	b := &boundary{queue: queue, fake: fake.New(opts), extra: extra}
	b.start(t)
	t.Cleanup(func() { b.w.Stop() })
	return b
}

func (b *boundary) start(t testing.TB) {
	t.Helper()
	b.w = worker.New(tc, b.queue, worker.Options{})
	Register(b.w, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(b.fake, nil)), PollInterval: 5 * time.Millisecond})
	if b.extra != nil {
		b.extra(b.w)
	}
	if err := b.w.Start(); err != nil {
		t.Fatal(err)
	}
}

// e2eRequest is a release of service over the given pipelines, each of
// whose targets runs v1.
func e2eRequest(service, change string, fakes map[string]*boundary, pls ...pipelines.Pipeline) ReleaseRequest {
	req := request(pls...)
	req.Service, req.Change.ID = service, change
	for i := range req.Pipelines {
		pl := &req.Pipelines[i]
		pl.Service = service
		pl.TaskQueue = fakes[pl.Boundary].queue
		for j := range pl.Stages {
			for k := range pl.Stages[j].Targets {
				tg := &pl.Stages[j].Targets[k]
				tg.Service = service
				fakes[pl.Boundary].fake.SetLive(*tg, "v1")
			}
		}
	}
	return req
}

// approvalRelease is change c1 of service on b's boundary: stage one, then
// stage two, which awaits approval.
func approvalRelease(service string, b *boundary) ReleaseRequest {
	two := stg("two", prodB)
	two.Approval = true
	return e2eRequest(service, "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), two))
}

// regionTargets are n prod targets of the aws boundary, in regions
// region-0, region-1…
func regionTargets(n int) []placement.Target {
	var ts []placement.Target
	for i := range n {
		ts = append(ts, tgt("prod", "aws", fmt.Sprintf("region-%d", i)))
	}
	return ts
}

func targetsOf(pl pipelines.Pipeline) []placement.Target {
	var ts []placement.Target
	for _, s := range pl.Stages {
		ts = append(ts, s.Targets...)
	}
	return ts
}

func withTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func phaseIs(t testing.TB, ctx context.Context, ref ReleaseRef, want Phase) func() bool {
	return func() bool {
		st, err := ReleaseStatus(ctx, tc, ref.ID)
		if err != nil {
			t.Logf("status: %v", err)
		}
		return err == nil && st.Phase == want
	}
}

func TestEndToEndInjectedFailureRollsBack(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-rollback-aws", nil)
	pl := pipe("aws", "automatic", stg("one", prodA, prodB), stg("two", prodC))
	req := e2eRequest("e2e-rollback", "c1", map[string]*boundary{"aws": b}, pl)
	targets := targetsOf(req.Pipelines[0])
	b.fake.SetFaults(targets[2], fake.Faults{Health: driver.Unhealthy})
	req.MaxHistory = 10 // continue as new between stages

	ref, attached, err := StartRelease(ctx, tc, req)
	if err != nil || attached || ref.ID != "release/e2e-rollback/c1" {
		t.Fatalf("StartRelease = %+v, %v, %v", ref, attached, err)
	}
	var seen []Phase
	st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, func(s Status) { seen = append(seen, s.Phase) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s), want rolled-back; seen %v", st.Phase, st.Reason, seen)
	}
	for _, tg := range targets {
		if rev, _ := b.fake.Live(tg); rev != "v1" {
			t.Errorf("%s runs %s after rollback, want v1", tg.ID(), rev)
		}
	}
	assertWebUI(t, ctx, ref.ID, map[string]string{"MeridianService": "e2e-rollback", "MeridianChangeID": "c1", "MeridianPhase": "rolled-back"})
	// In the Web UI's list the release and its pipeline are failed (red,
	// counted under Failures).
	for _, id := range []string{ref.ID, ref.ID + "/aws/aws"} {
		desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_FAILED {
			t.Errorf("%s: status %v (%v), want failed", id, desc.GetWorkflowExecutionInfo().GetStatus(), err)
		}
	}
	assertWebUI(t, ctx, ref.ID+"/aws/aws", map[string]string{"MeridianCloud": "aws", "MeridianBoundary": "aws", "MeridianStage": "two", "MeridianEnvironment": "prod", "MeridianPhase": "rolled-back"})
	// What an operator filters on in the Web UI: the pipeline by boundary,
	// stage, environment and outcome.
	query := `MeridianService="e2e-rollback" AND MeridianChangeID="c1" AND MeridianTrigger="test" AND MeridianCloud="aws" AND ` +
		`MeridianBoundary="aws" AND MeridianStage="two" AND MeridianEnvironment="prod" AND MeridianPhase="rolled-back"`
	waitFor(t, ctx, "the pipeline in a visibility query", func() bool {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		return err == nil && len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == ref.ID+"/aws/aws"
	})
	if details := currentDetails(t, ctx, ref.ID+"/aws/aws"); !strings.Contains(details, "| one | 2 | rolled back |") {
		t.Errorf("the pipeline's current details do not show stage one rolled back:\n%s", details)
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, ref.ID+"/aws/aws", "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetFirstRunId() == desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() {
		t.Errorf("the pipeline did not continue as new past 10 events (%v)", err)
	}
	var hist []ReleaseSummary
	waitFor(t, ctx, "the release in visibility", func() bool {
		hist, err = History(ctx, tc, "e2e-rollback")
		return err == nil && len(hist) == 1 && hist[0].Phase == PhaseRolledBack
	})
	if hist[0].Release != ref.ID || hist[0].ChangeID != "c1" || hist[0].Ended.IsZero() {
		t.Errorf("history %+v", hist)
	}
}

func TestEndToEndRepeatedTriggerAttachesAndAnotherChangeIsRefused(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-lock-aws", nil)
	req := approvalRelease("e2e-lock", b)

	ref, attached, err := StartRelease(ctx, tc, req)
	if err != nil || attached {
		t.Fatalf("first trigger: %+v %v %v", ref, attached, err)
	}
	again, attached, err := StartRelease(ctx, tc, req)
	if err != nil || !attached || again.ID != ref.ID || again.RunID != ref.RunID {
		t.Fatalf("repeated trigger = %+v, %v, %v: want to attach to %+v", again, attached, err, ref)
	}
	// Who triggers is not part of the change; what it rolls out is.
	byOperator := req
	byOperator.Change.Trigger, byOperator.Change.Who = "cli", "alice"
	if again, attached, err := StartRelease(ctx, tc, byOperator); err != nil || !attached || again.ID != ref.ID {
		t.Fatalf("same change, another trigger = %+v, %v, %v: want to attach to %+v", again, attached, err, ref)
	}
	assertTaken(t, ctx, req, ref.ID, "running")
	other := req
	other.Change.ID, other.Change.Version = "c2", "v3"
	want := "service " + req.Service + " is mid-release (" + ref.ID + "); wait for it to end or abort it"
	if _, _, err := StartRelease(ctx, tc, other); !errors.Is(err, ErrBusy) || err.Error() != want {
		t.Fatalf("a different change mid-release: %v, want ErrBusy reading %q", err, want)
	}

	waitFor(t, ctx, "stage two to await approval", phaseIs(t, ctx, ref, PhaseAwaitingApproval))
	if _, err := Approve(ctx, tc, ref.ID, Request{Stage: "one", Who: "alice"}); err == nil || !strings.Contains(err.Error(), "not awaiting approval") {
		t.Errorf("approving the wrong stage: %v", err)
	}
	st, err := Approve(ctx, tc, ref.ID, Request{Stage: "two", Who: "alice", Reason: "LGTM"})
	if err != nil || len(st.Events) != 1 || st.Events[0].Who != "alice" {
		t.Fatalf("approve: %+v, %v", st.Events, err)
	}
	if st, err = Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %s, %v", st.Phase, err)
	}

	again, attached, err = StartRelease(ctx, tc, req)
	if err != nil || !attached || again.ID != ref.ID {
		t.Fatalf("trigger after the release ended = %+v, %v, %v: want to attach", again, attached, err)
	}
	assertTaken(t, ctx, req, ref.ID, "ended")
	n := 0
	for _, c := range b.fake.Calls() {
		if c.Op == "deploy" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d deploys for two targets: a repeated trigger started a second release", n)
	}
	if err := outcome(ctx, tc, ref.ID, nil); err != nil {
		t.Fatal(err)
	}
	next, attached, err := StartRelease(ctx, tc, other)
	if err != nil || attached || next.ID != "release/e2e-lock/c2" {
		t.Fatalf("next change after the release ended = %+v, %v, %v", next, attached, err)
	}
	if _, err := Abort(ctx, tc, next.ID, Request{Who: "alice", Reason: "cleanup"}); err != nil {
		t.Logf("abort of the next release: %v", err) // it may already have reached its approval
	}
}

// assertTaken checks that req's change id, reused for another version and
// for another config, is refused with ErrChangeIDTaken naming the release.
func assertTaken(t *testing.T, ctx context.Context, req ReleaseRequest, id, when string) {
	t.Helper()
	v3 := req
	v3.Change.Version = "v3"
	want := "change id c1 is already " + id + " (version v2); this request is version v3"
	if _, _, err := StartRelease(ctx, tc, v3); !errors.Is(err, ErrChangeIDTaken) || err.Error() != want {
		t.Errorf("change id of a %s release, another version: %v, want ErrChangeIDTaken reading %q", when, err, want)
	}
	cfg := req
	cfg.Change.Config = json.RawMessage(`{"pool": 4}`)
	want = "change id c1 is already " + id + " (config none); this request is config " + configDigest(cfg.Change.Config)
	if _, _, err := StartRelease(ctx, tc, cfg); !errors.Is(err, ErrChangeIDTaken) || err.Error() != want {
		t.Errorf("change id of a %s release, another config: %v, want ErrChangeIDTaken reading %q", when, err, want)
	}
}

func TestEndToEndWorkerStoppedMidStageDeploysNoTargetTwice(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-restart-aws", &fake.Options{Progress: 20})
	targets := regionTargets(6)
	one := stg("one", targets...)
	one.MaxParallel = 2
	req := e2eRequest("e2e-restart", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", one))
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	changed := func() map[string]int {
		n := map[string]int{}
		for _, c := range b.fake.Calls() {
			if c.Op == "deploy" && c.Changed {
				n[c.Target]++
			}
		}
		return n
	}
	waitFor(t, ctx, "three targets deployed", func() bool { return len(changed()) >= 3 })
	b.w.Stop()
	stoppedAt := len(changed())
	b.start(t)

	st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil)
	if err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %s (%s), %v", st.Phase, st.Reason, err)
	}
	n := changed()
	for _, tg := range req.Pipelines[0].Stages[0].Targets {
		if n[tg.ID()] != 1 {
			t.Errorf("%s deployed %d times", tg.ID(), n[tg.ID()])
		}
	}
	calls := 0
	for _, c := range b.fake.Calls() {
		if c.Op == "deploy" {
			calls++
		}
	}
	t.Logf("worker stopped after %d of %d deploys; %d deploy calls in all", stoppedAt, len(targets), calls)
	if stoppedAt == len(targets) {
		t.Errorf("the worker stopped after the stage ended: the test proves nothing")
	}
}

// assertWebUI checks what an operator sees of a workflow in the Web UI:
// its search attributes, its static summary and details, a summary on
// every activity and timer, and current details.
func assertWebUI(t *testing.T, ctx context.Context, id string, attrs map[string]string) {
	t.Helper()
	desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	for name, want := range attrs {
		if got := keyword(fields[name]); got != want {
			t.Errorf("%s: search attribute %s = %q, want %q", id, name, got, want)
		}
	}
	// Continue-as-new does not carry static metadata (SDK v1.50): read the
	// first run's; the current details repeat what and where.
	first, err := tc.DescribeWorkflowExecution(ctx, id, desc.GetWorkflowExecutionInfo().GetFirstRunId())
	if err != nil {
		t.Fatal(err)
	}
	meta := first.GetExecutionConfig().GetUserMetadata()
	if keyword(meta.GetSummary()) == "" || !strings.Contains(keyword(meta.GetDetails()), "|") {
		t.Errorf("%s: static summary %q, details %q: want a summary and a markdown table", id, keyword(meta.GetSummary()), keyword(meta.GetDetails()))
	}
	it := tc.GetWorkflowHistory(ctx, id, desc.GetWorkflowExecutionInfo().GetFirstRunId(), false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if (e.GetActivityTaskScheduledEventAttributes() != nil || e.GetTimerStartedEventAttributes() != nil) && keyword(e.GetUserMetadata().GetSummary()) == "" {
			t.Errorf("%s: event %d (%s) has no summary", id, e.GetEventId(), e.GetEventType())
		}
	}
	if details := currentDetails(t, ctx, id); !strings.Contains(details, "|") {
		t.Errorf("%s: current details %q: want a live markdown table", id, details)
	}
}

// currentDetails is what the Web UI shows as a workflow's current details.
func currentDetails(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	v, err := tc.QueryWorkflow(ctx, id, "", "__temporal_workflow_metadata")
	var md sdkpb.WorkflowMetadata
	if err == nil {
		err = v.Get(&md)
	}
	if err != nil {
		t.Errorf("%s: current details: %v", id, err)
	}
	return md.GetCurrentDetails()
}

// A pipeline whose task queue no worker polls says so in its status and
// the release's Web UI details, with the command that serves it; once a
// worker starts, the reason goes and the release runs to its end.
func TestEndToEndStatusNamesAQueueNoWorkerPolls(t *testing.T) {
	ctx := withTimeout(t)
	b := &boundary{queue: placement.DefaultTaskQueue("aws", "e2e-noworker"), fake: fake.New(nil)}
	two := stg("two", tgt("prod", "e2e-noworker", "region-2"))
	two.Approval = true
	req := e2eRequest("e2e-noworker", "c1", map[string]*boundary{"e2e-noworker": b},
		pipe("e2e-noworker", "automatic", stg("one", tgt("prod", "e2e-noworker", "region-1")), two))
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	want := "no worker polls task queue meridian-aws-e2e-noworker: start `meridian worker --boundary aws/e2e-noworker` inside that boundary"
	var st Status
	waitFor(t, ctx, "the status to name the queue without a worker", func() bool {
		st, err = ReleaseStatus(ctx, tc, ref.ID)
		return err == nil && len(st.Pipelines) == 1 && st.Pipelines[0].Reason == want && st.Pipelines[0].Phase == PhaseRunning
	})
	if ps := st.Pipelines[0]; ps.Done != 0 {
		t.Errorf("pipeline without a worker: %+v", ps)
	}
	// The release itself says it too, in the Web UI, after 5 s of silence.
	waitFor(t, ctx, "the release's details to name the queue without a worker", func() bool {
		return strings.Contains(currentDetails(t, ctx, ref.ID), want)
	})
	if st, err = ReleaseStatus(ctx, tc, ref.ID); err != nil || st.Pipelines[0].Reason != want {
		t.Errorf("status once the release says it: %q, %v: want it once", st.Pipelines[0].Reason, err)
	}

	b.start(t)
	t.Cleanup(func() { b.w.Stop() })
	waitFor(t, ctx, "stage two to await approval", phaseIs(t, ctx, ref, PhaseAwaitingApproval))
	if st, err = ReleaseStatus(ctx, tc, ref.ID); err != nil || strings.Contains(st.Pipelines[0].Reason, "no worker") {
		t.Fatalf("status once a worker polls: %+v, %v", st.Pipelines, err)
	}
	if _, err := Approve(ctx, tc, ref.ID, Request{Stage: "two", Who: "alice"}); err != nil {
		t.Fatal(err)
	}
	if st, err = Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %s (%s), %v", st.Phase, st.Reason, err)
	}
}

// A release stuck for any reason is cleared by terminating its workflow
// (docs/operations.md): the service's lock lets the next change start.
func TestEndToEndTerminatedReleaseFreesItsService(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-terminate-aws", nil)
	req := approvalRelease("e2e-terminate", b)
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "awaiting approval", phaseIs(t, ctx, ref, PhaseAwaitingApproval))
	if err := tc.TerminateWorkflow(ctx, ref.ID, "", "stuck: cleared by the operator"); err != nil {
		t.Fatal(err)
	}
	next := approvalRelease("e2e-terminate", b)
	next.Change.ID = "c2"
	waitFor(t, ctx, "the next change to start", func() bool {
		_, _, err := StartRelease(ctx, tc, next)
		return err == nil
	})
}
