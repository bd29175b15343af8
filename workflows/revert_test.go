package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
)

// revertRequest undoes release/billing/c1, which put v2 on every target
// of pls (v1 before).
func revertRequest(force bool, pls ...pipelines.Pipeline) ReleaseRequest {
	req := request(pls...)
	req.Change = Change{Kind: KindRevert, ID: "revert-c1", Reverts: "release/billing/c1", Trigger: "test", Who: "ops", Force: force}
	for _, pl := range pls {
		for _, t := range targetsOf(pl) {
			req.Change.Restore = append(req.Change.Restore, Compensation{Target: t, Kind: KindVersion, Revision: "v2", Previous: "v1"})
		}
	}
	return req
}

func TestRevertRestoresWhatTheReleaseChangedAndLeavesLaterChangesAlone(t *testing.T) {
	req := revertRequest(false, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB, prodC)))
	f := newFixture(t, req)
	for _, tg := range []placement.Target{prodA, prodB, prodC} {
		f.fake.SetLive(tg, "v2")
	}
	f.fake.SetLive(prodC, "v3") // another release since
	st := f.run()

	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB)
	f.assertLive("v3", prodC)
	if len(st.LeftAlone) != 1 || !strings.HasPrefix(st.LeftAlone[0], prodC.ID()+": runs v3, not v2: changed since by another release") {
		t.Errorf("left alone: %q", st.LeftAlone)
	}
	if got := f.calls("rollback"); !slices.Equal(got, []string{"rollback " + prodA.ID(), "rollback " + prodB.ID()}) {
		t.Errorf("rollbacks %v: want stage by stage, prodC untouched", got)
	}
}

func TestForcedRevertRestoresEvenWhatChangedSince(t *testing.T) {
	f := newFixture(t, revertRequest(true, pipe("aws", "automatic", stg("one", prodA))))
	f.fake.SetLive(prodA, "v3")
	st := f.run()
	if st.Phase != PhaseSucceeded || len(st.LeftAlone) != 0 {
		t.Fatalf("phase %s (%s), left alone %q", st.Phase, st.Reason, st.LeftAlone)
	}
	f.assertLive("v1", prodA)
}

func TestRevertIsNeverFrozen(t *testing.T) {
	f := newFixture(t, revertRequest(false, pipe("aws", "automatic", stg("one", prodA))))
	f.fake.SetLive(prodA, "v2")
	f.req.Freezes = []placement.Freeze{prodFreeze(f.env.Now(), 24*time.Hour)}
	st := f.run()
	if st.Phase != PhaseSucceeded || f.env.Now().Sub(st.Started) > time.Hour {
		t.Fatalf("phase %s after %s: a revert must not wait for a freeze", st.Phase, f.env.Now().Sub(st.Started))
	}
	f.assertLive("v1", prodA)
}

// twoUndone is a fleet rollback of two releases on one boundary.
type twoUndone struct {
	id          string
	ended, open ReleaseRequest
	b           *boundary
	st          FleetRollbackStatus
}

// fleetRollbackOfTwo releases service <prefix>-revert (it ends) and then
// <prefix>-window (it stays in its rollback window), and rolls both back
// with a fleet rollback.
func fleetRollbackOfTwo(t *testing.T, ctx context.Context, prefix string) twoUndone {
	t.Helper()
	b := newBoundary(t, prefix+"-fleet-rollback-aws", nil)
	ended := e2eRequest(prefix+"-revert", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	ref, _, err := StartRelease(ctx, tc, ended)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("first release: %s, %v", st.Phase, err)
	}
	open := e2eRequest(prefix+"-window", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA)))
	open.RollbackWindow = placement.Duration(time.Hour)
	openRef, _, err := StartRelease(ctx, tc, open)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "succeeded", phaseIs(t, ctx, openRef, PhaseSucceeded))

	var steps []RollbackStep
	for _, svc := range []string{open.Service, ended.Service} { // newest first
		s, err := ReleasesToRollBack(ctx, tc, time.Now().Add(-time.Hour), RollbackScope{Service: svc})
		if err != nil || len(s) != 1 {
			t.Fatalf("releases of %s to roll back: %v, %v", svc, s, err)
		}
		steps = append(steps, s...)
	}
	if !steps[0].Running || steps[1].Running {
		t.Errorf("steps %+v: want the release in its window running, the other ended", steps)
	}
	id, err := StartFleetRollback(ctx, tc, FleetRollbackInput{Steps: steps, Who: "ops", Reason: "bad hour"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := WatchFleetRollback(ctx, tc, id, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	return twoUndone{id: id, ended: ended, open: open, b: b, st: st}
}

func TestEndToEndFleetRollbackRollsBackRunningAndRevertsEnded(t *testing.T) {
	ctx := withTimeout(t)
	u := fleetRollbackOfTwo(t, ctx, "e2e-fleet")
	st := u.st
	if st.Phase != PhaseSucceeded || len(st.Steps) != 2 {
		t.Fatalf("fleet rollback %s (%s): %+v", st.Phase, st.Reason, st.Steps)
	}
	if s := st.Steps[0]; s.Phase != PhaseRolledBack || s.By != s.Release {
		t.Errorf("running release: %+v, want rolled back by its own rollback", s)
	}
	if s := st.Steps[1]; s.Phase != PhaseSucceeded || s.By != ReleaseID(u.ended.Service, "revert-c1") {
		t.Errorf("ended release: %+v, want undone by its revert", s)
	}
	// Every target of both is back on v1, as the provider says.
	for _, req := range []ReleaseRequest{u.open, u.ended} {
		for _, tg := range targetsOf(req.Pipelines[0]) {
			if live, _ := u.b.fake.Live(tg); live != "v1" {
				t.Errorf("%s runs %q, want v1", tg.ID(), live)
			}
		}
	}
}
