package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

// prodFreeze is a freeze of the spec over the prod environment, from start
// for length.
func prodFreeze(start time.Time, length time.Duration) placement.Freeze {
	return placement.Freeze{
		Name: "quarter-end", Reason: "quarter-end close", Start: start, End: start.Add(length),
		Scope: placement.FreezeScope{Environments: []string{"prod"}},
	}
}

func TestSpecFreezeHoldsTheStageUntilItsWindowEnds(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("staging", stagingA), stg("prod", prodA)))
	f := newFixture(t, req)
	start := f.env.Now()
	f.req.Freezes = []placement.Freeze{prodFreeze(start, 3*time.Hour)}
	var frozen Status
	var deploysWhileFrozen []string
	f.env.RegisterDelayedCallback(func() {
		frozen = f.status()
		deploysWhileFrozen = f.calls("deploy")
		f.update(UpdateResume, Request{Who: "dan"}, false) // frozen is not paused
	}, time.Hour)
	st := f.run()

	if frozen.Phase != PhaseFrozen {
		t.Errorf("phase during the freeze: %s, want frozen", frozen.Phase)
	}
	if ps := frozen.Pipelines[0]; ps.Phase != PhaseFrozen || !strings.Contains(ps.Reason, "frozen by quarter-end before stage prod until ") || !strings.HasSuffix(ps.Reason, ": quarter-end close") {
		t.Errorf("pipeline during the freeze: %s %q", ps.Phase, ps.Reason)
	}
	if !slices.Equal(deploysWhileFrozen, []string{"deploy " + stagingA.ID()}) {
		t.Errorf("deploys during the freeze: %v, want staging's only", deploysWhileFrozen)
	}
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if took := f.env.Now().Sub(start); took < 3*time.Hour {
		t.Errorf("release ended after %s, before the 3h freeze did", took)
	}
	f.assertLive("v2", stagingA, prodA)
}

func TestOverrideFreezeNeedsAReasonAndIsRecorded(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("staging", stagingA), stg("prod", prodA))))
	start := f.env.Now()
	f.req.Freezes = []placement.Freeze{prodFreeze(start, 30*24*time.Hour)}
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateResume, Request{Who: "erin", OverrideFreeze: true}, false)
		f.update(UpdateResume, Request{Who: "erin", OverrideFreeze: true, Reason: "fix for the outage"}, true)
		f.update(UpdateResume, Request{Who: "erin", OverrideFreeze: true, Reason: "again"}, false)
	}, time.Hour)
	st := f.run()

	if st.Phase != PhaseSucceeded || f.env.Now().Sub(start) > 2*time.Hour {
		t.Fatalf("phase %s after %s, want succeeded soon after the override", st.Phase, f.env.Now().Sub(start))
	}
	i := slices.IndexFunc(st.Events, func(e Event) bool { return e.Action == "override-freeze" })
	if i < 0 || st.Events[i].Who != "erin" || st.Events[i].Reason != "fix for the outage" {
		t.Errorf("events %+v: want erin's override-freeze with its reason", st.Events)
	}
	f.assertLive("v2", stagingA, prodA)
}

func TestReleaseStartedWithOverrideGoesThroughFreezes(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("prod", prodA))))
	f.req.Freezes = []placement.Freeze{prodFreeze(f.env.Now(), 24*time.Hour)}
	f.req.OverrideFreeze = "hotfix CVE-2026-1234"
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if len(st.Events) == 0 || st.Events[0].Action != "override-freeze" || st.Events[0].Who != "ci" || st.Events[0].Reason != "hotfix CVE-2026-1234" {
		t.Errorf("events %+v: want the override first, by the change's author", st.Events)
	}
}

func TestFreezeNeverHoldsARollback(t *testing.T) {
	one := stg("one", prodA)
	one.Bake = placement.Duration(time.Hour)
	f := newFixture(t, request(pipe("aws", "automatic", one, stg("two", prodB))))
	// The freeze starts while stage one bakes, and covers every target.
	f.req.Freezes = []placement.Freeze{{Name: "incident", Reason: "INC-42", Start: f.env.Now().Add(20 * time.Minute), End: f.env.Now().Add(30 * 24 * time.Hour)}}
	var baking Status
	f.env.RegisterDelayedCallback(func() {
		baking = f.status()
		f.update(UpdateRollback, Request{Who: "gus", Reason: "bad canary"}, true)
	}, 40*time.Minute)
	st := f.run()

	if baking.Pipelines[0].Phase != PhaseBaking {
		t.Errorf("stage one in the freeze: %s, want baking (a freeze holds the next stage only)", baking.Pipelines[0].Phase)
	}
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s), want rolled back inside the freeze", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB)
	if got := f.calls("deploy"); !slices.Equal(got, []string{"deploy " + prodA.ID()}) {
		t.Errorf("deploys %v: want stage one's only", got)
	}
}

func TestEmergencyFreezeMidReleaseHoldsTheNextStageAndLetsARollbackThrough(t *testing.T) {
	one := stg("one", prodA)
	one.Bake = placement.Duration(time.Hour)
	f := newFixture(t, request(pipe("aws", "automatic", one, stg("two", prodB))))
	f.env.RegisterDelayedCallback(func() {
		f.emergency.Store(&[]placement.Freeze{{Name: "inc-7", Reason: "INC-7: payments down", Who: "hal", Start: f.env.Now()}})
	}, 30*time.Minute)
	var frozen Status
	f.env.RegisterDelayedCallback(func() {
		frozen = f.status()
		f.update(UpdateRollback, Request{Who: "hal", Reason: "undo stage one too"}, true)
	}, 3*time.Hour)
	st := f.run()

	want := "frozen by inc-7 (declared by hal) before stage two until it is lifted: INC-7: payments down"
	if ps := frozen.Pipelines[0]; frozen.Phase != PhaseFrozen || ps.Reason != want {
		t.Errorf("during the freeze: release %s, pipeline %s %q; want frozen, %q", frozen.Phase, ps.Phase, ps.Reason, want)
	}
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s), want rolled back inside the freeze", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB)
	if got := f.calls("deploy"); !slices.Equal(got, []string{"deploy " + prodA.ID()}) {
		t.Errorf("deploys %v: want stage one's only", got)
	}
}

func TestPausedWhileFrozenStaysPausedAfterTheFreeze(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("staging", stagingA), stg("prod", prodA))))
	start := f.env.Now()
	f.req.Freezes = []placement.Freeze{prodFreeze(start, 2*time.Hour)}
	f.env.RegisterDelayedCallback(func() { f.update(UpdatePause, Request{Who: "ivy"}, true) }, time.Hour)
	var after Status
	var deploys []string
	f.env.RegisterDelayedCallback(func() {
		after, deploys = f.status(), f.calls("deploy")
		f.update(UpdateResume, Request{Who: "ivy"}, true)
	}, 5*time.Hour)
	st := f.run()

	if after.Phase != PhasePaused || after.Pipelines[0].Phase != PhasePaused || len(deploys) != 1 {
		t.Errorf("after the freeze: %s, pipeline %s, deploys %v; want paused with staging's deploy only", after.Phase, after.Pipelines[0].Phase, deploys)
	}
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
}
