package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// applyRequest is an apply release of billing: staging (stagingA, with a
// bake and an approval) then prod (prodA, prodB); prodC, which ran in
// prod, is decommissioned. Every target runs v1 with config cfg1 but
// prodB, which is added.
func applyRequest(parts ...pipelines.ReleasePart) ReleaseRequest {
	staging := stg("staging", stagingA)
	staging.Bake, staging.Approval = placement.Duration(time.Hour), true
	forward := pipe("aws", "automatic", staging, stg("prod", prodA, prodB))
	base := &pipelines.Plan{Pipelines: []pipelines.Pipeline{pipe("aws", "automatic", staging, stg("prod", prodA, prodC))}}
	req := request(forward)
	req.Pipelines = append(req.Pipelines, pipelines.DecommissionPipelines(base, "billing", []string{prodC.ID()})...)
	req.Change = Change{Kind: KindApply, ID: "c2", Version: "v1", Image: "registry.example.com/billing",
		Config: json.RawMessage(`{"pool":4}`), ConfigVersion: "cfg2", Parts: parts, Added: []string{prodB.ID()}, Trigger: "ci"}
	return req
}

func newApplyFixture(t *testing.T, req ReleaseRequest) *fixture {
	f := newFixture(t, req)
	f.fake.SetLive(prodB, "")
	f.fake.SetConfig(prodB, "")
	return f
}

func TestApplyDeploysAddedTargetsOnlyThenDecommissions(t *testing.T) {
	req := applyRequest(pipelines.PartTargetsAdded, pipelines.PartDecommission)
	f := newApplyFixture(t, req)
	start := f.env.Now()
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	// Staging has nothing added: its bake and approval never ran.
	if took := f.env.Now().Sub(start); took >= time.Hour {
		t.Errorf("the apply took %s: the staging stage, which adds nothing, baked", took)
	}
	if got, want := f.calls("deploy", "apply-config", "remove-config", "remove"), []string{
		"apply-config " + prodB.ID(), "deploy " + prodB.ID(), "remove-config " + prodC.ID(), "remove " + prodC.ID(),
	}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	f.assertLive("v1", stagingA, prodA, prodB)
	f.assertLive("", prodC)
	if v, _ := f.fake.LiveConfig(prodB); v != "cfg2" {
		t.Errorf("added %s has config %q, want cfg2", prodB.ID(), v)
	}
	if got := st.Pipelines[1]; !got.Decommission || got.Phase != PhaseSucceeded || got.WorkflowID != "default-test-workflow-id/aws/aws/decommission" {
		t.Errorf("decommission pipeline status %+v", got)
	}
}

func TestApplyGateFailureRollsBackTheWholeChange(t *testing.T) {
	req := applyRequest(pipelines.PartConfig, pipelines.PartTargetsAdded, pipelines.PartDecommission)
	req.Pipelines[0].Stages[0].Approval = false
	f := newApplyFixture(t, req)
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	st := f.run()
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	for _, tg := range []placement.Target{stagingA, prodA} {
		if v, _ := f.fake.LiveConfig(tg); v != "cfg1" {
			t.Errorf("%s has config %q after the rollback, want cfg1", tg.ID(), v)
		}
	}
	f.assertLive("v1", stagingA, prodA, prodC) // prodC was never decommissioned
	f.assertLive("", prodB)                    // the added target's deploy was removed
	// The added target's first config is removed with its deploy; nothing
	// was decommissioned.
	if got, want := f.calls("remove", "remove-config"), []string{"remove-config " + prodB.ID()}; !slices.Equal(got, want) {
		t.Errorf("removals %v, want %v", got, want)
	}
	if st.Pipelines[1].Phase != PhaseSkipped {
		t.Errorf("decommission %s (%s), want skipped", st.Pipelines[1].Phase, st.Pipelines[1].Reason)
	}
}

func TestApplyFailedDecommissionRestoresAndRollsBackTheDeploys(t *testing.T) {
	prodD := tgt("prod", "aws", "ap-south-1")
	req := applyRequest(pipelines.PartConfig, pipelines.PartDecommission)
	req.Change.Added = nil
	req.Pipelines[0].Stages[0].Approval = false
	base := &pipelines.Plan{Pipelines: []pipelines.Pipeline{pipe("aws", "automatic", stg("prod", prodA, prodC, prodD))}}
	req.Pipelines = append(req.Pipelines[:1], pipelines.DecommissionPipelines(base, "billing", []string{prodC.ID(), prodD.ID()})...)
	f := newFixture(t, req)
	f.fake.SetFaults(prodD, fake.Faults{Remove: driver.Invalid})
	st := f.run()
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	for _, tg := range []placement.Target{stagingA, prodA, prodB, prodC} {
		if v, _ := f.fake.LiveConfig(tg); v != "cfg1" {
			t.Errorf("%s has config %q after the rollback, want cfg1", tg.ID(), v)
		}
	}
	f.assertLive("v1", stagingA, prodA, prodB, prodC, prodD)
	if got, want := f.calls("remove-config", "remove", "restore"), []string{
		"remove-config " + prodC.ID(), "remove " + prodC.ID(), "remove-config " + prodD.ID(), "restore " + prodC.ID(),
	}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v (prodC put back)", got, want)
	}
}

func TestSupersedeCarriesTheQueuedApply(t *testing.T) {
	old := applyRequest(pipelines.PartVersion, pipelines.PartDecommission)
	old.Change.ID, old.Change.Added = "c3", nil
	next := applyRequest(pipelines.PartConfig, pipelines.PartTargetsAdded)
	next.Change.ID = "c4"
	// c4 adds prodC back, so c3's decommission of it is dropped.
	next.Pipelines = []pipelines.Pipeline{pipe("aws", "automatic", stg("staging", stagingA), stg("prod", prodA, prodB, prodC))}
	next.Change.Added = []string{prodB.ID(), prodC.ID()}

	got := supersede(old, next)
	if want := []pipelines.ReleasePart{pipelines.PartConfig, pipelines.PartTargetsAdded, pipelines.PartVersion, pipelines.PartDecommission}; !slices.Equal(got.Change.Parts, want) {
		t.Errorf("parts %v, want %v", got.Change.Parts, want)
	}
	if len(got.Pipelines) != 1 {
		t.Errorf("pipelines %v: c3's decommission of a target c4 deploys to must go", got.Pipelines)
	}
	if !slices.Equal(got.Change.Supersedes, []string{"release/billing/c3"}) || got.Change.ID != "c4" || got.Change.ConfigVersion != "cfg2" {
		t.Errorf("change %+v", got.Change)
	}

	// A decommission c4 keeps is carried, merged into c4's own pipeline of
	// the same boundary.
	next = applyRequest(pipelines.PartConfig, pipelines.PartDecommission)
	next.Change.ID = "c4"
	next.Pipelines[0].Stages[1].Targets = []placement.Target{prodA} // c4 decommissions prodB
	next.Pipelines = append(next.Pipelines[:1], pipelines.DecommissionPipelines(
		&pipelines.Plan{Pipelines: []pipelines.Pipeline{pipe("aws", "automatic", stg("prod", prodB))}}, "billing", []string{prodB.ID()})...)
	got = supersede(old, next)
	if len(got.Pipelines) != 2 {
		t.Fatalf("pipelines %+v", got.Pipelines)
	}
	var removed []string
	for _, st := range got.Pipelines[1].Stages {
		for _, tg := range st.Targets {
			removed = append(removed, tg.ID())
		}
	}
	if !slices.Equal(removed, []string{prodB.ID(), prodC.ID()}) {
		t.Errorf("decommissioned %v, want c4's prodB and c3's prodC", removed)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("merged request: %v", err)
	}

	// Anything but two applies: latest wins, and nothing is carried.
	v := request(pipe("aws", "automatic", stg("prod", prodA)))
	if got := supersede(old, v); !slices.Equal(got.Change.Parts, nil) || len(got.Pipelines) != 1 {
		t.Errorf("a version change superseding an apply: %+v", got)
	}
}

// queuedApply is an apply change of service on b's boundary, queued, for
// the apply apply/<change>.
func queuedApply(service, change string, b *boundary) ReleaseRequest {
	req := e2eRequest(service, change, map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	req.Change = Change{Kind: KindApply, ID: change, Version: "v1", Image: "registry.example.com/billing",
		Config: json.RawMessage(`{"change":"` + change + `"}`), ConfigVersion: "cfg-" + change, Parts: []pipelines.ReleasePart{pipelines.PartConfig}, Trigger: "ci"}
	req.Queue, req.Apply = true, ApplyID(change)
	return req
}

func startApply(t *testing.T, ctx context.Context, req ReleaseRequest) {
	t.Helper()
	in := ApplyInput{ChangeID: req.Change.ID, Base: "main", Trigger: "ci", Releases: []ApplyRelease{{
		Service: req.Service, Release: ReleaseID(req.Service, req.Change.ID), Parts: req.Change.Parts, Summary: "config",
	}}}
	if attached, err := StartApply(ctx, tc, in); err != nil || attached {
		t.Fatalf("StartApply(%s) = %v, %v", in.ChangeID, attached, err)
	}
	if attached, err := StartApply(ctx, tc, in); err != nil || !attached {
		t.Fatalf("StartApply(%s) again = %v, %v: want to attach", in.ChangeID, attached, err)
	}
	other := in
	other.Releases = []ApplyRelease{{Service: req.Service, Summary: "version"}}
	if _, err := StartApply(ctx, tc, other); !errors.Is(err, ErrChangeIDTaken) {
		t.Errorf("StartApply(%s) of other releases = %v, want ErrChangeIDTaken", in.ChangeID, err)
	}
}

func TestEndToEndQueuedChangesWaitAndTheLatestWins(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-queue-aws", nil)
	const service = "e2e-queue"
	running := approvalRelease(service, b)
	first, _, err := StartRelease(ctx, tc, running)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the running release to await approval", phaseIs(t, ctx, first, PhaseAwaitingApproval))

	c2, c3 := queuedApply(service, "q-c2", b), queuedApply(service, "q-c3", b)
	startApply(t, ctx, c2)
	a, err := AcquireRelease(ctx, tc, c2)
	if err != nil || a.Attached || a.Behind != first.ID {
		t.Fatalf("queueing c2 = %+v, %v: want it queued behind %s", a, err, first.ID)
	}
	if again, err := AcquireRelease(ctx, tc, c2); err != nil || !again.Attached || again.Behind != first.ID {
		t.Fatalf("queueing c2 again = %+v, %v: want to attach to the queued release", again, err)
	}
	st, err := ReleaseStatus(ctx, tc, a.Release.ID)
	if err != nil || st.Phase != PhaseQueued || st.Behind != first.ID {
		t.Fatalf("c2 status %s behind %q (%v), want queued behind %s", st.Phase, st.Behind, err, first.ID)
	}
	// Without --queue, another change is still refused.
	refused := queuedApply(service, "q-c9", b)
	refused.Queue = false
	if _, err := AcquireRelease(ctx, tc, refused); !errors.Is(err, ErrBusy) {
		t.Errorf("a change without queue: %v, want ErrBusy", err)
	}

	startApply(t, ctx, c3)
	if a3, err := AcquireRelease(ctx, tc, c3); err != nil || a3.Behind != first.ID {
		t.Fatalf("queueing c3 = %+v, %v", a3, err)
	}
	st, err = Watch(ctx, tc, a.Release.ID, 20*time.Millisecond, nil)
	if err != nil || st.Phase != PhaseSuperseded || st.SupersededBy != ReleaseID(service, "q-c3") {
		t.Fatalf("c2 ended %s superseded by %q (%v), want superseded by c3", st.Phase, st.SupersededBy, err)
	}
	ap, err := WatchApply(ctx, tc, ApplyID("q-c2"), 20*time.Millisecond, nil)
	if err != nil || ap.Phase != PhaseSucceeded || ap.Releases[0].Phase != PhaseSuperseded || ap.Releases[0].SupersededBy != ReleaseID(service, "q-c3") {
		t.Fatalf("apply of c2: %+v, %v", ap, err)
	}

	if _, err := Approve(ctx, tc, first.ID, Request{Who: "alice"}); err != nil {
		t.Fatal(err)
	}
	ap, err = WatchApply(ctx, tc, ApplyID("q-c3"), 20*time.Millisecond, nil)
	if err != nil || ap.Phase != PhaseSucceeded || ap.Releases[0].Phase != PhaseSucceeded {
		t.Fatalf("apply of c3: %+v, %v", ap, err)
	}
	for _, tg := range []placement.Target{prodA, prodB} {
		tg.Service = service
		if v, _ := b.fake.LiveConfig(tg); v != "cfg-q-c3" {
			t.Errorf("%s has config %q, want c3's", tg.ID(), v)
		}
	}
	var hist []ReleaseSummary
	waitFor(t, ctx, "the superseded release in the history", func() bool {
		hist, err = History(ctx, tc, service)
		return err == nil && slices.ContainsFunc(hist, func(s ReleaseSummary) bool { return s.ChangeID == "q-c2" && s.Phase == PhaseSuperseded })
	})
	if details := currentDetails(t, ctx, ApplyID("q-c2")); !strings.Contains(details, "superseded by [release/e2e-queue/q-c3](/namespaces/") {
		t.Errorf("the apply's page does not link the superseding release:\n%s", details)
	}
}

func TestEndToEndEnqueuedReleaseStartsOrTellsItsApplyWhy(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-enqueue-aws", nil)
	const service = "e2e-enqueue"
	// change e-c1 was triggered before, for another version: the apply of
	// e-c1 hears that its release cannot start.
	other := e2eRequest(service, "e-c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA)))
	ref, _, err := StartRelease(ctx, tc, other)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("the other release: %s %v", st.Phase, err)
	}
	taken := queuedApply(service, "e-c1", b)
	startApply(t, ctx, taken)
	if err := EnqueueRelease(ctx, tc, taken); err != nil {
		t.Fatal(err)
	}
	ap, err := WatchApply(ctx, tc, ApplyID("e-c1"), 20*time.Millisecond, nil)
	if err != nil || ap.Phase != PhaseFailed || ap.Releases[0].Phase != PhaseAborted || !strings.Contains(ap.Releases[0].Reason, "change id e-c1 names another change") {
		t.Fatalf("apply of a taken change id: %+v, %v", ap, err)
	}

	// A free service: the release starts, and its apply follows it; the
	// same request again (a retried apply) changes nothing.
	next := queuedApply(service, "e-c2", b)
	startApply(t, ctx, next)
	for range 2 {
		if err := EnqueueRelease(ctx, tc, next); err != nil {
			t.Fatal(err)
		}
	}
	ap, err = WatchApply(ctx, tc, ApplyID("e-c2"), 20*time.Millisecond, nil)
	if err != nil || ap.Phase != PhaseSucceeded {
		t.Fatalf("apply e-c2: %+v, %v", ap, err)
	}
	n := 0
	for _, c := range b.fake.Calls() {
		if c.Op == "apply-config" && c.Arg == "cfg-e-c2" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d config applications of e-c2 for two targets", n)
	}
}

func TestApplyDrainsAShardedTargetBeforeRemovingIt(t *testing.T) {
	req := applyRequest(pipelines.PartDecommission)
	req.Change.Added = nil
	req.Pipelines[0].Stages[0].Approval = false
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(50 * time.Millisecond)}
	f := newFixture(t, req)
	f.fake.SetFaults(prodC, fake.Faults{StuckDrain: true}) // its shards have nowhere to go
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	var got []string
	for _, c := range f.fake.Calls() {
		if c.Target == prodC.ID() && (c.Op == "drain" || c.Op == "remove") {
			got = append(got, c.Op)
		}
	}
	if len(got) < 2 || got[len(got)-1] != "remove" || slices.Contains(got[:len(got)-1], "remove") {
		t.Errorf("calls on %s: %v, want every instance drained, then one remove", prodC.ID(), got)
	}
	f.assertLive("", prodC)
}
