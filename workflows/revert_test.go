package workflows

import (
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
