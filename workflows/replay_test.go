package workflows

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

var record = flag.Bool("record", false, "record the histories in testdata/histories from a real run")

// TestRecordHistories refreshes testdata/histories with -record, from real
// runs against the package's server: one subtest per path a release can
// take. Refresh only the recordings a change means to break, so that the
// others go on proving that older histories still replay:
//
//	go test ./workflows -run 'TestRecordHistories/restart' -record
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("run with -record to refresh testdata/histories")
	}
	t.Run("two-boundaries", recordTwoBoundaries)
	t.Run("restart", recordShardAwareRestart)
	t.Run("config", recordConfigRollback)
	t.Run("manual", recordManualPauseThenRollback)
	t.Run("attach", recordRepeatedTriggerAttaches)
	t.Run("success-limit", recordGateSuccessLimit)
	t.Run("apply", recordQueuedApplies)
	t.Run("two-approvers", recordTwoApprovers)
	t.Run("failed-outcome", recordFailedOutcome)
	t.Run("survey", recordSurvey)
	t.Run("open", recordOpenPipelineUnwinds)
	t.Run("window", recordWindowRollback)
	t.Run("freeze", recordFreezes)
	t.Run("fleet-rollback", recordFleetRollback)
}

// recordFleetRollback: the fleet rollback of
// TestEndToEndFleetRollbackRollsBackRunningAndRevertsEnded, with the
// revert release it starts (service recorded-fleet-revert).
func recordFleetRollback(t *testing.T) {
	ctx := withTimeout(t)
	u := fleetRollbackOfTwo(t, ctx, "recorded-fleet")
	revert, err := RevertRequest(ctx, tc, u.st.Steps[1].Release, RollbackScope{}, false, "recorder")
	if err != nil {
		t.Fatal(err)
	}
	recordOutcome(t, ctx, ReleaseRef{ID: u.st.Steps[1].By}, revert, PhaseSucceeded)
	writeHistory(t, ctx, u.id, "", "")
}

// recordFreezes: an emergency freeze holds the first stage until it is
// lifted, a freeze of the spec holds the second until an operator
// overrides it (service recorded-freeze; the Freezes workflow too).
func recordFreezes(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-freeze-aws", nil)
	req := e2eRequest("recorded-freeze", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", stagingA), stg("two", prodA)))
	now := time.Now().UTC().Truncate(time.Second)
	req.Freezes = []placement.Freeze{{Name: "quarter-end", Reason: "recorded run", Start: now.Add(-time.Hour), End: now.Add(time.Hour),
		Scope: placement.FreezeScope{Environments: []string{"prod"}}}}
	scope := placement.FreezeScope{Services: []string{req.Service}}
	if _, err := DeclareFreeze(ctx, tc, placement.Freeze{Name: "recorded", Reason: "recorded run", Who: "recorder", Scope: scope}); err != nil {
		t.Fatal(err)
	}
	ref := startRecorded(t, ctx, req)
	waitFor(t, ctx, "frozen", phaseIs(t, ctx, ref, PhaseFrozen))
	if _, err := LiftFreeze(ctx, tc, Unfreeze{Name: "recorded", Who: "recorder", Reason: "recorded run"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "stage two", func() bool {
		st, err := ReleaseStatus(ctx, tc, ref.ID)
		return err == nil && st.Pipelines[0].Stage == "two"
	})
	steerAt(t, ctx, ref, PhaseFrozen, Resume, Request{Who: "recorder", Reason: "recorded run", OverrideFreeze: true})
	recordOutcome(t, ctx, ref, req, PhaseSucceeded)
	writeHistory(t, ctx, FreezesID, "", "")
}

// recordOpenPipelineUnwinds: the public pipeline succeeds (its target
// counts reported live) and stays open; the gov boundary after it fails,
// so the public pipeline unwinds itself (service recorded-open).
func recordOpenPipelineUnwinds(t *testing.T) {
	ctx := withTimeout(t)
	pub, gov := newBoundary(t, "record-open-aws", nil), newBoundary(t, "record-open-gov", nil)
	govPl := pipe("aws-us-gov", "automatic", stg("gov", govA))
	govPl.After = []string{"aws"}
	req := e2eRequest("recorded-open", "c1", map[string]*boundary{"aws": pub, "aws-us-gov": gov},
		pipe("aws", "automatic", stg("one", prodA, prodB), stg("two", prodC)), govPl)
	gov.fake.SetFaults(targetsOf(req.Pipelines[1])[0], fake.Faults{Health: driver.Unhealthy})
	recordOutcome(t, ctx, startRecorded(t, ctx, req), req, PhaseRolledBack)
}

// recordWindowRollback: an operator rolls a succeeded release back in its
// rollback window; its open pipeline unwinds itself (service
// recorded-window).
func recordWindowRollback(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-window-aws", nil)
	req := e2eRequest("recorded-window", "c1", map[string]*boundary{"aws": b}, pipe("aws", "stage", stg("one", prodA), stg("two", prodB)))
	req.RollbackWindow = placement.Duration(time.Hour)
	ref := startRecorded(t, ctx, req)
	steerAt(t, ctx, ref, PhaseSucceeded, Rollback, Request{Who: "recorder", Reason: "recorded run"})
	recordOutcome(t, ctx, ref, req, PhaseRolledBack)
}

// recordSurvey: a fleet survey over two boundaries that finds every
// state, orphans read in a second round.
func recordSurvey(t *testing.T) {
	ctx := withTimeout(t)
	run, _, _, _ := startSurvey(t, ctx, "record-survey")
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	writeHistory(t, ctx, run.GetID(), "", "")
}

// recordFailedOutcome: a release rolled back by a failed gate ends, with
// its pipeline, as a failed workflow whose details are its outcome
// (service recorded-outcome).
func recordFailedOutcome(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-outcome-aws", nil)
	req := e2eRequest("recorded-outcome", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	b.fake.SetFaults(targetsOf(req.Pipelines[0])[1], fake.Faults{Health: driver.Unhealthy})
	recordOutcome(t, ctx, startRecorded(t, ctx, req), req, PhaseRolledBack)
}

// recordTwoApprovers: a stage that needs two people's approvals, given
// one after the other (service recorded-approvers).
func recordTwoApprovers(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-approvers-aws", nil)
	one := stg("one", prodA)
	one.Approval, one.Approvers = true, 2
	req := e2eRequest("recorded-approvers", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", one))
	ref := startRecorded(t, ctx, req)
	for _, who := range []string{"alice", "bob"} {
		steerAt(t, ctx, ref, PhaseAwaitingApproval, Approve, Request{Who: who, Reason: "recorded run"})
	}
	recordOutcome(t, ctx, ref, req, PhaseSucceeded)
}

// recordTwoBoundaries: a release with two boundaries, bake rounds, an
// approval, continue-as-new and a gate failure in the lagged boundary that
// rolls both back (service recorded).
func recordTwoBoundaries(t *testing.T) {
	ctx := withTimeout(t)
	pub, gov := newBoundary(t, "record-aws", nil), newBoundary(t, "record-gov", nil)
	one, two := stg("one", prodA), stg("two", prodB)
	one.Bake, two.Approval = placement.Duration(1500*time.Millisecond), true
	govPl := pipe("aws-us-gov", "automatic", stg("gov", govA))
	govPl.After, govPl.Lag = []string{"aws"}, placement.Duration(100*time.Millisecond)
	req := e2eRequest("recorded", "c1", map[string]*boundary{"aws": pub, "aws-us-gov": gov}, pipe("aws", "automatic", one, two), govPl)
	req.Gates[0].Interval = placement.Duration(500 * time.Millisecond)
	req.MaxHistory = 30
	gov.fake.SetFaults(targetsOf(req.Pipelines[1])[0], fake.Faults{Health: driver.Unhealthy})
	ref := startRecorded(t, ctx, req)
	steerAt(t, ctx, ref, PhaseAwaitingApproval, Approve, Request{Who: "recorder", Reason: "recorded run"})
	recordOutcome(t, ctx, ref, req, PhaseRolledBack)
}

// recordShardAwareRestart: a restart of two targets, instance by instance,
// each drained through the sharder first (service recorded-restart).
func recordShardAwareRestart(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-restart-aws", nil)
	req := e2eRequest("recorded-restart", "restart-1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	req.Change = Change{Kind: KindRestart, ID: "restart-1", Trigger: "test", Who: "recorder"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(time.Second)}
	recordOutcome(t, ctx, startRecorded(t, ctx, req), req, PhaseSucceeded)
}

// recordConfigRollback: a config release whose second stage fails its gate,
// so that both configs are rolled back (service recorded-config).
func recordConfigRollback(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-config-aws", nil)
	req := e2eRequest("recorded-config", "cfg2", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	req.Change = Change{Kind: KindConfig, ID: "cfg2", Version: "cfg2", Config: []byte(`{"maxConnections":300}`), Trigger: "test", Who: "recorder"}
	targets := targetsOf(req.Pipelines[0])
	for _, tg := range targets {
		b.fake.SetConfig(tg, "cfg1")
	}
	b.fake.SetFaults(targets[1], fake.Faults{Health: driver.Unhealthy})
	recordOutcome(t, ctx, startRecorded(t, ctx, req), req, PhaseRolledBack)
}

// recordManualPauseThenRollback: under the manual policy a gate failure
// pauses the pipeline; the operator then rolls everything back (service
// recorded-manual).
func recordManualPauseThenRollback(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-manual-aws", nil)
	req := e2eRequest("recorded-manual", "c1", map[string]*boundary{"aws": b}, pipe("aws", "manual", stg("one", prodA), stg("two", prodB)))
	b.fake.SetFaults(targetsOf(req.Pipelines[0])[1], fake.Faults{Health: driver.Unhealthy})
	ref := startRecorded(t, ctx, req)
	steerAt(t, ctx, ref, PhasePaused, Rollback, Request{Who: "recorder", Reason: "gate failed"})
	recordOutcome(t, ctx, ref, req, PhaseRolledBack)
}

// recordRepeatedTriggerAttaches: the same change triggered again while its
// release runs and after it ended attaches through the service lock, and a
// different change is refused (service recorded-attach).
func recordRepeatedTriggerAttaches(t *testing.T) {
	ctx := withTimeout(t)
	req := approvalRelease("recorded-attach", newBoundary(t, "record-attach-aws", nil))
	ref := startRecorded(t, ctx, req)
	attach := func(when string) {
		t.Helper()
		if again, attached, err := StartRelease(ctx, tc, req); err != nil || !attached || again.ID != ref.ID {
			t.Fatalf("repeated trigger %s = %+v, %v, %v: want to attach to %s", when, again, attached, err, ref.ID)
		}
	}
	attach("while it runs")
	other := req
	other.Change.ID = "c2"
	if _, _, err := StartRelease(ctx, tc, other); !errors.Is(err, ErrBusy) {
		t.Fatalf("a different change mid-release: %v, want ErrBusy", err)
	}
	steerAt(t, ctx, ref, PhaseAwaitingApproval, Approve, Request{Who: "recorder", Reason: "recorded run"})
	if st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %s (%s), %v", st.Phase, st.Reason, err)
	}
	if err := outcome(ctx, tc, ref.ID, nil); err != nil {
		t.Fatal(err)
	}
	attach("after it ended")
	recordOutcome(t, ctx, ref, req, PhaseSucceeded)
}

// recordGateSuccessLimit: a gate that holds only after 2 healthy
// observations in a row keeps a stage without bake checked until it holds
// (service recorded-success).
func recordGateSuccessLimit(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-success-aws", nil)
	req := e2eRequest("recorded-success", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA)))
	req.Gates[0].Interval, req.Gates[0].SuccessLimit = placement.Duration(200*time.Millisecond), 2
	recordOutcome(t, ctx, startRecorded(t, ctx, req), req, PhaseSucceeded)
}

// recordQueuedApplies: two applies reach a service mid-release through
// the lock's enqueue signal; the second supersedes the first and, once the
// running release is approved, deploys its config, adds a target and
// decommissions another (service recorded-apply).
func recordQueuedApplies(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "record-apply-aws", nil)
	running := approvalRelease("recorded-apply", b)
	ref := startRecorded(t, ctx, running)
	waitFor(t, ctx, "approval", phaseIs(t, ctx, ref, PhaseAwaitingApproval))
	c2, c3 := queuedApply("recorded-apply", "c2", b), queuedApply("recorded-apply", "c3", b)
	c3.Change.Parts = append(c3.Change.Parts, pipelines.PartTargetsAdded, pipelines.PartDecommission)
	added := prodC
	added.Service = "recorded-apply"
	c3.Pipelines[0].Stages[1].Targets = append(c3.Pipelines[0].Stages[1].Targets, added)
	c3.Change.Added = []string{added.ID()}
	gone := tgt("prod", "aws", "ap-south-1")
	gone.Service = "recorded-apply"
	b.fake.SetLive(gone, "v1")
	base := &pipelines.Plan{Pipelines: []pipelines.Pipeline{c3.Pipelines[0]}}
	base.Pipelines[0].Stages = []pipelines.Stage{stg("two", gone)}
	c3.Pipelines = append(c3.Pipelines, pipelines.DecommissionPipelines(base, "recorded-apply", []string{gone.ID()})...)
	for _, req := range []ReleaseRequest{c2, c3} {
		startApply(t, ctx, req)
		if err := EnqueueRelease(ctx, tc, req); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, req.Change.ID+" queued", phaseIs(t, ctx, ReleaseRef{ID: ReleaseID(req.Service, req.Change.ID)}, PhaseQueued))
	}
	if _, err := Approve(ctx, tc, ref.ID, Request{Who: "recorder", Reason: "recorded run"}); err != nil {
		t.Fatal(err)
	}
	c3ref := ReleaseRef{ID: ReleaseID(c3.Service, c3.Change.ID)}
	recordOutcome(t, ctx, c3ref, c3, PhaseSucceeded)
	for _, id := range []string{ref.ID, ReleaseID(c2.Service, c2.Change.ID), ApplyID("c2"), ApplyID("c3")} {
		if err := outcome(ctx, tc, id, nil); err != nil {
			t.Fatal(err)
		}
		writeHistory(t, ctx, id, "", "")
	}
}

// steerAt waits for the release to reach phase, then steers it (Approve,
// Rollback…) with req.
func steerAt(t *testing.T, ctx context.Context, ref ReleaseRef, phase Phase, steer func(context.Context, client.Client, string, Request) (Status, error), req Request) {
	t.Helper()
	waitFor(t, ctx, string(phase), phaseIs(t, ctx, ref, phase))
	if _, err := steer(ctx, tc, ref.ID, req); err != nil {
		t.Fatal(err)
	}
}

func startRecorded(t *testing.T, ctx context.Context, req ReleaseRequest) ReleaseRef {
	t.Helper()
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// recordOutcome waits for the release to end in phase want, then writes
// the histories of the release, its pipelines (the first and the last run
// of each) and the service's lock.
func recordOutcome(t *testing.T, ctx context.Context, ref ReleaseRef, req ReleaseRequest, want Phase) {
	t.Helper()
	st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil)
	if err != nil || st.Phase != want {
		t.Fatalf("outcome %s (%s), %v; want %s", st.Phase, st.Reason, err, want)
	}
	if err := outcome(ctx, tc, ref.ID, nil); err != nil {
		t.Fatal(err)
	}
	ids := []string{ref.ID, LockID(req.Service)}
	for _, pl := range req.Pipelines {
		ids = append(ids, ref.ID+"/"+pipelineKey(pl))
	}
	for _, id := range ids {
		desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		first, last := desc.GetWorkflowExecutionInfo().GetFirstRunId(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		writeHistory(t, ctx, id, first, "")
		if last != first {
			writeHistory(t, ctx, id, last, "#last")
		}
	}
}

// historyDir holds recorded histories, one file per workflow run, named
// after the workflow ID with "/" written "~" (the replayer needs the ID:
// child IDs derive from it), "#last" marking a run after continue-as-new.
var historyDir = filepath.Join("..", "testdata", "histories")

func writeHistory(t *testing.T, ctx context.Context, workflowID, runID, suffix string) {
	t.Helper()
	path := filepath.Join(historyDir, strings.ReplaceAll(workflowID, "/", "~")+suffix+".json")
	var events []*historypb.HistoryEvent
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events", path, len(events))
}

// TestReplayRecordedHistories fails when a change to workflow code is not
// compatible with the recorded histories (guard it with workflow.GetVersion).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories (%v): run go test ./workflows -run TestRecordHistories -record", err)
	}
	slices.Sort(files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			hist, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".json"), "#")
			id := strings.ReplaceAll(name, "~", "/")
			replayer := worker.NewWorkflowReplayer()
			RegisterWorkflows(replayer)
			if err := replayer.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "recorded"},
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
