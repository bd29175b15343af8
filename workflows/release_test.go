package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// Workflow tests: the real workflows and activities against the fake
// driver, in the Temporal test environment with time skipping.

func tgt(env, boundary, region string) placement.Target {
	return placement.Target{Service: "billing", Environment: env, Cloud: "aws", Boundary: boundary, Region: region}
}

func stg(name string, targets ...placement.Target) pipelines.Stage {
	return pipelines.Stage{Name: name, Environment: targets[0].Environment, MaxParallel: 1, Targets: targets}
}

func pipe(boundary, policy string, stages ...pipelines.Stage) pipelines.Pipeline {
	return pipelines.Pipeline{Service: "billing", Cloud: "aws", Boundary: boundary, TaskQueue: placement.DefaultTaskQueue("aws", boundary),
		Definition: "standard", Rollback: policy, Stages: stages}
}

func request(pls ...pipelines.Pipeline) ReleaseRequest {
	return ReleaseRequest{
		Service:   "billing",
		Change:    Change{Kind: KindVersion, ID: "c1", Version: "v2", Image: "registry.example.com/billing", Trigger: "test", Who: "ci"},
		Gates:     []placement.Gate{{Name: "healthz", HTTP: &placement.HTTPGate{Path: "/healthz"}, Interval: placement.Duration(5 * time.Minute)}},
		Pipelines: pls,
	}
}

// fixture is a test environment with a fake driver where every target of
// the request runs v1 with config cfg1.
type fixture struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	fake    *fake.Driver
	req     ReleaseRequest
	updates int // Updates sent
	settled int // Updates accepted or rejected as expected
	// emergency are the emergency freezes the pipelines read (there is no
	// Freezes workflow in the test environment).
	emergency atomic.Pointer[[]placement.Freeze]
}

func newFixture(t *testing.T, req ReleaseRequest) *fixture {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	f := fake.New(nil)
	for _, pl := range req.Pipelines {
		for _, st := range pl.Stages {
			for _, tg := range st.Targets {
				f.SetLive(tg, "v1")
				f.SetConfig(tg, "cfg1")
			}
		}
	}
	Register(env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(f, nil)), PollInterval: time.Millisecond})
	return &fixture{t: t, env: env, fake: f, req: req}
}

// run executes the release and returns its final status.
func (f *fixture) run() Status {
	f.t.Helper()
	f.env.OnActivity("EmergencyFreezes", mock.Anything).Return(func(context.Context) ([]placement.Freeze, error) {
		if fs := f.emergency.Load(); fs != nil {
			return *fs, nil
		}
		return nil, nil
	})
	f.env.ExecuteWorkflow(Release, f.req)
	if !f.env.IsWorkflowCompleted() {
		f.t.Fatal("release did not complete")
	}
	if f.settled != f.updates {
		f.t.Errorf("%d of %d updates were not answered as expected", f.updates-f.settled, f.updates)
	}
	// A release that did not succeed fails, its status the failure's details.
	var st Status
	err := f.env.GetWorkflowError()
	if err == nil {
		err = f.env.GetWorkflowResult(&st)
	} else if err = decodeOutcome(err, &st); err == nil && outcomeTypes[st.Phase] == "" {
		f.t.Errorf("a %s release failed", st.Phase)
	}
	if err != nil {
		f.t.Fatalf("release failed: %v", err)
	}
	if _, failed := outcomeTypes[st.Phase]; failed != (f.env.GetWorkflowError() != nil) {
		f.t.Errorf("a %s release ended with error %v", st.Phase, f.env.GetWorkflowError())
	}
	return st
}

func (f *fixture) status() Status {
	f.t.Helper()
	v, err := f.env.QueryWorkflow(QueryStatus)
	if err != nil {
		f.t.Fatalf("status query: %v", err)
	}
	var st Status
	if err := v.Get(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// update sends an operator Update and checks, once it is answered, that it
// was accepted (accept) or rejected.
func (f *fixture) update(name string, req Request, accept bool) {
	f.updates++
	id := fmt.Sprintf("%s-%d", name, f.updates)
	f.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {
			if !accept {
				f.t.Errorf("update %s %+v was accepted, want rejected", name, req)
				return
			}
			f.settled++
		},
		OnReject: func(err error) {
			if accept {
				f.t.Errorf("update %s %+v was rejected: %v", name, req, err)
				return
			}
			f.settled++
		},
		OnComplete: func(any, error) {},
	}, req)
}

// calls returns "op target" for the fake's calls of the given ops.
func (f *fixture) calls(ops ...string) []string {
	var out []string
	for _, c := range f.fake.Calls() {
		if slices.Contains(ops, c.Op) {
			out = append(out, c.Op+" "+c.Target)
		}
	}
	return out
}

func (f *fixture) live(t placement.Target) string {
	rev, _ := f.fake.Live(t)
	return rev
}

// assertLive checks the live revision of every target.
func (f *fixture) assertLive(want string, targets ...placement.Target) {
	f.t.Helper()
	for _, tg := range targets {
		if got := f.live(tg); got != want {
			f.t.Errorf("%s runs %q, want %q", tg.ID(), got, want)
		}
	}
}

// assertDeployedOnce checks that no target was changed twice.
func (f *fixture) assertDeployedOnce() {
	f.t.Helper()
	n := map[string]int{}
	for _, c := range f.fake.Calls() {
		if c.Op == "deploy" && c.Changed {
			n[c.Target]++
		}
	}
	for id, k := range n {
		if k > 1 {
			f.t.Errorf("%s deployed %d times", id, k)
		}
	}
}

var (
	stagingA = tgt("staging", "aws", "us-west-2")
	prodA    = tgt("prod", "aws", "us-east-1")
	prodB    = tgt("prod", "aws", "eu-west-1")
	prodC    = tgt("prod", "aws", "eu-central-1")
	govA     = tgt("prod", "aws-us-gov", "us-gov-west-1")
	govB     = tgt("prod", "aws-us-gov", "us-gov-east-1")
)

func TestReleaseHappyPathAcrossStagesAndBoundaries(t *testing.T) {
	public := pipe("aws", "automatic", stg("staging", stagingA), stg("prod", prodA, prodB, prodC))
	public.Stages[1].MaxParallel = 2
	public.Stages[1].Bake = placement.Duration(time.Hour)
	gov := pipe("aws-us-gov", "automatic", stg("gov", govA, govB))
	gov.After, gov.Lag = []string{"aws"}, placement.Duration(4*time.Hour)
	f := newFixture(t, request(public, gov))
	start := f.env.Now()
	st := f.run()

	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s), want succeeded", st.Phase, st.Reason)
	}
	for _, ps := range st.Pipelines {
		if ps.Phase != PhaseSucceeded {
			t.Errorf("pipeline %s/%s is %s", ps.Cloud, ps.Boundary, ps.Phase)
		}
	}
	f.assertLive("v2", stagingA, prodA, prodB, prodC, govA, govB)
	f.assertDeployedOnce()
	deploys := f.calls("deploy")
	want := []string{"deploy " + stagingA.ID()}
	if !slices.Equal(deploys[:1], want) || len(deploys) != 6 {
		t.Errorf("deploys %v: want staging first and 6 in all", deploys)
	}
	if !slices.Equal(deploys[4:], []string{"deploy " + govA.ID(), "deploy " + govB.ID()}) {
		t.Errorf("gov deployed before public finished: %v", deploys)
	}
	if took := f.env.Now().Sub(start); took < 5*time.Hour {
		t.Errorf("release took %s: want at least the 1h bake plus the 4h gov lag", took)
	}
	if n := len(f.calls("evaluate-gate")); n < 6+12 {
		t.Errorf("%d gate evaluations, want one per target and 12 bake rounds on prod's 3 targets", n)
	}
}

func TestGateFailureInStage2RollsBackStage2Then1NewestFirst(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", stagingA, prodA), stg("two", prodB, prodC))))
	f.fake.SetFaults(prodC, fake.Faults{Health: driver.Unhealthy})
	st := f.run()

	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s), want rolled-back", st.Phase, st.Reason)
	}
	if !strings.Contains(st.Reason, prodC.ID()) || !strings.Contains(st.Reason, "healthz") {
		t.Errorf("reason %q does not name the target and gate", st.Reason)
	}
	got := f.calls("rollback")
	want := []string{"rollback " + prodC.ID(), "rollback " + prodB.ID(), "rollback " + prodA.ID(), "rollback " + stagingA.ID()}
	if !slices.Equal(got, want) {
		t.Errorf("rollback order\n got %v\nwant %v", got, want)
	}
	f.assertLive("v1", stagingA, prodA, prodB, prodC)
}

func TestPipelineContinuesAsNewAndStillRollsBackEverything(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", stagingA), stg("two", prodA), stg("three", prodB, prodC)))
	req.MaxHistory = 10
	two := &req.Pipelines[0].Stages[1]
	two.Approval = true
	f := newFixture(t, req)
	f.fake.SetFaults(prodC, fake.Faults{Health: driver.Unhealthy})
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateApprove, Request{Stage: "two", Who: "gil"}, true)
	}, time.Hour)
	st := f.run()
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	want := []string{"rollback " + prodC.ID(), "rollback " + prodB.ID(), "rollback " + prodA.ID(), "rollback " + stagingA.ID()}
	if got := f.calls("rollback"); !slices.Equal(got, want) {
		t.Errorf("rollbacks across runs\n got %v\nwant %v", got, want)
	}
	f.assertDeployedOnce()
}

func TestFailureDuringBakeRollsBack(t *testing.T) {
	pl := pipe("aws", "automatic", stg("one", prodA))
	pl.Stages[0].Bake = placement.Duration(30 * time.Minute)
	f := newFixture(t, request(pl))
	f.fake.SetFaults(prodA, fake.Faults{UnhealthyAfter: 3}) // after-deploy check, then 2 bake rounds
	start := f.env.Now()
	st := f.run()

	if st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, "bake one") {
		t.Fatalf("phase %s (%s), want rolled-back during bake", st.Phase, st.Reason)
	}
	if took := f.env.Now().Sub(start); took != 10*time.Minute {
		t.Errorf("failed after %s, want at the second 5m gate round", took)
	}
	f.assertLive("v1", prodA)
}

// TestSuccessLimitHoldsTheStageUntilTheGateHolds: a gate with successLimit
// above 1 keeps a stage checked past its bake until it holds, at most
// twice successLimit rounds; with the default of 1 it never does.
func TestSuccessLimitHoldsTheStageUntilTheGateHolds(t *testing.T) {
	type outcome struct {
		st     Status
		took   time.Duration
		rounds int // gate rounds after the check that follows the deploy
	}
	succeeds := func(took time.Duration, rounds int) func(*testing.T, outcome) {
		return func(t *testing.T, got outcome) {
			if got.st.Phase != PhaseSucceeded {
				t.Fatalf("phase %s (%s), want succeeded", got.st.Phase, got.st.Reason)
			}
			if got.took != took || got.rounds != rounds {
				t.Errorf("passed after %s and %d gate rounds, want %s and %d", got.took, got.rounds, took, rounds)
			}
		}
	}
	tests := []struct {
		name         string
		successLimit int
		bake         time.Duration
		health       driver.Health
		promoteAt    time.Duration // 0: no promote
		verify       func(*testing.T, outcome)
	}{
		{"healthy: holds after three rounds past an empty bake", 3, 0, driver.Healthy, 0, succeeds(15*time.Minute, 3)},
		{"rounds during bake count", 3, 10 * time.Minute, driver.Healthy, 0, succeeds(15*time.Minute, 3)},
		{"no data: fails at the bound", 3, 0, driver.HealthUnknown, 0, func(t *testing.T, got outcome) {
			want := "bake one: gates did not hold within 6 round(s) past bake: " + prodA.ID() + ": gate healthz has 0 of 3 healthy observations in a row"
			if got.st.Phase != PhaseRolledBack || !strings.Contains(got.st.Reason, want) {
				t.Fatalf("phase %s (%s), want rolled-back: %s", got.st.Phase, got.st.Reason, want)
			}
			if got.took != 30*time.Minute || got.rounds != 6 {
				t.Errorf("failed after %s and %d gate rounds, want 30m and 6", got.took, got.rounds)
			}
		}},
		{"promote ends the wait", 3, 0, driver.HealthUnknown, 7 * time.Minute, succeeds(7*time.Minute, 1)},
		{"default limit: no data passes at the end of bake, as before", 0, 10 * time.Minute, driver.HealthUnknown, 0, succeeds(10*time.Minute, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := pipe("aws", "automatic", stg("one", prodA))
			pl.Stages[0].Bake = placement.Duration(tt.bake)
			req := request(pl)
			req.Gates[0].SuccessLimit = tt.successLimit
			f := newFixture(t, req)
			f.fake.SetFaults(prodA, fake.Faults{Health: tt.health})
			if tt.promoteAt > 0 {
				f.env.RegisterDelayedCallback(func() {
					f.update(UpdatePromote, Request{Who: "dan", Reason: "the alarm has no data yet"}, true)
				}, tt.promoteAt)
			}
			start := f.env.Now()
			st := f.run()
			tt.verify(t, outcome{st: st, took: f.env.Now().Sub(start), rounds: len(f.calls("evaluate-gate")) - 1})
		})
	}
}

func TestApprovalRequiredThenGiven(t *testing.T) {
	two := stg("two", prodB)
	two.Approval = true
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA), two)))
	var waiting Status
	f.env.RegisterDelayedCallback(func() {
		waiting = f.status()
		f.update(UpdateApprove, Request{Stage: "one", Who: "alice"}, false)
		f.update(UpdateApprove, Request{Stage: "two"}, false)
		f.update(UpdateApprove, Request{Stage: "two", Who: "alice", Reason: "canary looks good"}, true)
	}, time.Hour)
	st := f.run()

	if waiting.Phase != PhaseAwaitingApproval || waiting.Pipelines[0].Stage != "two" {
		t.Errorf("before approval: phase %s at stage %s, want awaiting-approval at two", waiting.Phase, waiting.Pipelines[0].Stage)
	}
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if len(st.Events) != 1 || st.Events[0].Action != UpdateApprove || st.Events[0].Who != "alice" || st.Events[0].Reason != "canary looks good" {
		t.Errorf("events %+v: want alice's approval", st.Events)
	}
	f.assertLive("v2", prodA, prodB)
	for _, ps := range st.Pipelines {
		if ps.Phase != PhaseSucceeded || ps.Reason != "" {
			t.Errorf("pipeline %s/%s ended %s with reason %q, want succeeded with none", ps.Cloud, ps.Boundary, ps.Phase, ps.Reason)
		}
	}
}

func TestTwoApproversMustBeTwoPeople(t *testing.T) {
	gov := stg("gov", govA)
	gov.Approval, gov.Approvers, gov.AllowedApprovers = true, 2, []string{"alice", "bob", "carol"}
	f := newFixture(t, request(pipe("aws-us-gov", "automatic", gov)))
	var one, twice Status
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateApprove, Request{Who: "mallory"}, false) // not allowed
		f.update(UpdateApprove, Request{Who: "alice"}, true)
	}, time.Hour)
	f.env.RegisterDelayedCallback(func() {
		one = f.status()
		f.update(UpdateApprove, Request{Who: "alice", Reason: "again"}, false) // the same person twice
	}, 2*time.Hour)
	f.env.RegisterDelayedCallback(func() {
		twice = f.status()
		f.update(UpdateApprove, Request{Who: "bob"}, true)
	}, 3*time.Hour)
	st := f.run()
	if p := one.Pipelines[0]; p.Phase != PhaseAwaitingApproval || p.ApprovalsNeeded != 1 || !slices.Equal(p.Approvals, []string{"alice"}) ||
		p.Reason != "stage gov awaits 1 more approval(s) of 2 by distinct people" {
		t.Errorf("after one approval: %+v", p)
	}
	if twice.Pipelines[0].Phase != PhaseAwaitingApproval {
		t.Errorf("a second approval by the same person opened the stage: %+v", twice.Pipelines[0])
	}
	if st.Phase != PhaseSucceeded || len(st.Events) != 2 {
		t.Fatalf("phase %s (%s), events %+v: want succeeded after alice's and bob's approvals", st.Phase, st.Reason, st.Events)
	}
}

func TestAbortDuringStageRollsBack(t *testing.T) {
	one, two := stg("one", prodA), stg("two", prodB, prodC)
	two.Bake = placement.Duration(time.Hour)
	f := newFixture(t, request(pipe("aws", "automatic", one, two)))
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdateAbort, Request{Who: "bob", Reason: "wrong build"}, true)
	}, 30*time.Minute)
	st := f.run()

	if st.Phase != PhaseAborted || !strings.Contains(st.Reason, "bob") {
		t.Fatalf("phase %s (%s), want aborted by bob", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB, prodC)
	if got := f.calls("rollback"); len(got) != 3 || got[2] != "rollback "+prodA.ID() {
		t.Errorf("rollbacks %v: want stage two's targets then prodA", got)
	}
}

func TestCancelingTheReleaseAbortsAndStillCompensates(t *testing.T) {
	one := stg("one", prodA, prodB)
	one.Bake = placement.Duration(time.Hour)
	f := newFixture(t, request(pipe("aws", "automatic", one, stg("two", prodC))))
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 10*time.Minute)
	st := f.run()
	if st.Phase != PhaseAborted || !strings.Contains(st.Reason, "canceled") {
		t.Fatalf("phase %s (%s), want aborted by the cancellation", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB, prodC)
	if got := f.calls("rollback"); !slices.Equal(got, []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}) {
		t.Errorf("rollbacks %v", got)
	}
}

func TestPauseAndResume(t *testing.T) {
	one := stg("one", prodA)
	one.Bake = placement.Duration(30 * time.Minute)
	f := newFixture(t, request(pipe("aws", "automatic", one, stg("two", prodB))))
	var paused Status
	var deploysWhilePaused []string
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdatePause, Request{Who: "carol", Reason: "incident elsewhere"}, true)
		f.update(UpdatePause, Request{Who: "carol"}, false)
	}, 10*time.Minute)
	f.env.RegisterDelayedCallback(func() {
		paused = f.status()
		deploysWhilePaused = f.calls("deploy")
		f.update(UpdateResume, Request{Who: "carol"}, true)
	}, 2*time.Hour)
	start := f.env.Now()
	st := f.run()

	if paused.Phase != PhasePaused {
		t.Errorf("phase while paused: %s", paused.Phase)
	}
	if len(deploysWhilePaused) != 1 {
		t.Errorf("deploys while paused: %v, want only stage one's", deploysWhilePaused)
	}
	if st.Phase != PhaseSucceeded || f.env.Now().Sub(start) < 2*time.Hour {
		t.Fatalf("phase %s after %s", st.Phase, f.env.Now().Sub(start))
	}
	f.assertLive("v2", prodA, prodB)
}

func TestPromoteEndsBake(t *testing.T) {
	one := stg("one", prodA)
	one.Bake = placement.Duration(10 * time.Hour)
	f := newFixture(t, request(pipe("aws", "automatic", one)))
	f.env.RegisterDelayedCallback(func() {
		f.update(UpdatePromote, Request{Who: "dan", Reason: "hotfix"}, true)
	}, 7*time.Minute)
	start := f.env.Now()
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if took := f.env.Now().Sub(start); took > 10*time.Minute {
		t.Errorf("release took %s: promote did not end the 10h bake", took)
	}
}

func TestChangeMadeThenPermanentErrorIsStillCompensated(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA, prodB))))
	f.fake.SetFaults(prodB, fake.Faults{Status: driver.PermissionDenied})
	st := f.run()
	if got := f.calls("rollback"); !slices.Equal(got, []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}) {
		t.Errorf("rollbacks %v: the target whose status failed after its deploy must be rolled back too", got)
	}
	f.assertLive("v1", prodA, prodB)
	// prodB's rollback cannot be confirmed ready while its status fails.
	if st.Phase != PhaseFailed || !slices.Equal(st.LeftAsIs, []string{prodB.ID()}) {
		t.Fatalf("phase %s, left as is %v: want failed with %s unconfirmed", st.Phase, st.LeftAsIs, prodB.ID())
	}
	if n := len(f.calls("status")); n != 4 {
		t.Errorf("%d status calls: a permanent error must not be retried (want one per rollout and rollback)", n)
	}
}

func TestStagePolicyRollsBackOnlyTheFailedStage(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "stage", stg("one", prodA), stg("two", prodB, prodC))))
	f.fake.FailVersion(prodC, "v2")
	st := f.run()
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	f.assertLive("v2", prodA)
	f.assertLive("v1", prodB, prodC)
	if got := f.calls("rollback"); !slices.Equal(got, []string{"rollback " + prodC.ID(), "rollback " + prodB.ID()}) {
		t.Errorf("rollbacks %v", got)
	}
}

func TestManualPolicyPausesThenOperatorRollsBack(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "manual", stg("one", prodA), stg("two", prodB))))
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	var paused Status
	var rollbacksBefore []string
	f.env.RegisterDelayedCallback(func() {
		paused = f.status()
		rollbacksBefore = f.calls("rollback")
		f.update(UpdateRollback, Request{Who: "erin", Reason: "gate failed"}, true)
	}, time.Hour)
	st := f.run()
	if paused.Phase != PhasePaused || !strings.Contains(paused.Pipelines[0].Reason, "waiting for an operator") {
		t.Errorf("after the failure: %s (%s), want paused for an operator", paused.Phase, paused.Pipelines[0].Reason)
	}
	if len(rollbacksBefore) != 0 {
		t.Errorf("manual policy rolled back on its own: %v", rollbacksBefore)
	}
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB)
}

func TestManualPolicyResumeRetriesTheStage(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "manual", stg("one", prodA), stg("two", prodB))))
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	f.env.RegisterDelayedCallback(func() {
		f.fake.SetFaults(prodB, fake.Faults{}) // the operator fixed the alarm
		f.update(UpdateResume, Request{Who: "erin", Reason: "alarm was misconfigured"}, true)
	}, time.Hour)
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	f.assertLive("v2", prodA, prodB)
	f.assertDeployedOnce()
}

func TestFailingRollbackIsReported(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA, prodB), stg("two", prodC))))
	f.fake.SetFaults(prodC, fake.Faults{Health: driver.Unhealthy})
	f.fake.SetFaults(prodA, fake.Faults{Rollback: driver.PermissionDenied})
	st := f.run()
	if st.Phase != PhaseFailed {
		t.Fatalf("phase %s (%s), want failed", st.Phase, st.Reason)
	}
	if !slices.Equal(st.LeftAsIs, []string{prodA.ID()}) {
		t.Errorf("left as is %v, want [%s]", st.LeftAsIs, prodA.ID())
	}
	f.assertLive("v1", prodB, prodC)
	f.assertLive("v2", prodA)
	if n := len(f.calls("rollback")); n != 3 {
		t.Errorf("%d rollback calls: a permission error must not be retried", n)
	}
}

// throttledRollbacks is the fake driver whose provider throttles the first
// rollback calls, as during a mass rollback.
type throttledRollbacks struct {
	*fake.Driver
	throttles atomic.Int64 // rollback calls still to throttle
}

func (d *throttledRollbacks) Rollback(ctx context.Context, t driver.Target, revision string) error {
	if d.throttles.Add(-1) >= 0 {
		return &fake.Error{Code: driver.Throttled, Msg: "rate exceeded"}
	}
	return d.Driver.Rollback(ctx, t, revision)
}

// A throttled provider must not leave targets as they are when more
// retries would roll them back.
func TestThrottledRollbackIsRetriedUntilItSucceeds(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA))))
	f.fake.SetFaults(prodA, fake.Faults{Health: driver.Unhealthy})
	d := &throttledRollbacks{Driver: f.fake}
	d.throttles.Store(8)
	f.env = quietEnv()
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	st := f.run()
	if st.Phase != PhaseRolledBack || len(st.LeftAsIs) > 0 {
		t.Fatalf("phase %s (%s), left as is %v: want rolled back after 8 throttled rollback calls", st.Phase, st.Reason, st.LeftAsIs)
	}
	if n := d.throttles.Load(); n >= 0 {
		t.Errorf("%d throttles left: the rollback was not retried through them", n+1)
	}
	f.assertLive("v1", prodA)
}

// stuckProgressing is the fake driver where one target's new revision
// stays progressing, half of it ready.
type stuckProgressing struct {
	*fake.Driver
	stuck placement.Target
}

func (d *stuckProgressing) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	if t.ID() == d.stuck.ID() && revision == "v2" {
		return driver.Status{Revision: revision, State: driver.StateProgressing, Ready: 1, Desired: 2, Reason: "pulling image"}, nil
	}
	return d.Driver.Status(ctx, t, revision)
}

// A revision stuck progressing fails the rollout at the ready timeout, not
// after every attempt's timeout, and its change is still compensated.
func TestRevisionStuckProgressingFailsAtTheReadyTimeout(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA), stg("two", prodB))))
	d := &stuckProgressing{Driver: f.fake, stuck: prodB}
	f.env = quietEnv()
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)),
		PollInterval: time.Millisecond, ReadyTimeout: 50 * time.Millisecond})
	st := f.run()
	want := prodB.ID() + ": revision v2 not ready after 50ms: 1/2 ready: pulling image"
	if st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, want) {
		t.Fatalf("phase %s (%s), want rolled back because %q", st.Phase, st.Reason, want)
	}
	if n := len(f.calls("deploy")); n != 2 {
		t.Errorf("%d deploy calls, want 2: the stuck rollout must fail for good, not be retried", n)
	}
	if got, want := f.calls("rollback"), []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}; !slices.Equal(got, want) {
		t.Errorf("rollbacks %v, want %v", got, want)
	}
	f.assertLive("v1", prodA, prodB)
}

// runNothing makes the targets run nothing, as before their first deploy.
func (f *fixture) runNothing(targets ...placement.Target) {
	for _, tg := range targets {
		f.fake.SetLive(tg, "")
	}
}

// rollbacks returns "target→revision" for the fake's rollback calls, in order.
func (f *fixture) rollbacks() []string {
	var out []string
	for _, c := range f.fake.Calls() {
		if c.Op == "rollback" {
			out = append(out, c.Target+"→"+c.Arg)
		}
	}
	return out
}

func TestFailedFirstDeployIsRemoved(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", stagingA, prodA), stg("two", prodB))))
	f.runNothing(stagingA, prodA, prodB)
	f.fake.SetFaults(prodA, fake.Faults{Health: driver.Unhealthy})
	st := f.run()

	if st.Phase != PhaseRolledBack || len(st.LeftAsIs) > 0 {
		t.Fatalf("phase %s (%s), left as is %v: want rolled-back, nothing left", st.Phase, st.Reason, st.LeftAsIs)
	}
	f.assertLive("", stagingA, prodA, prodB)
	if got, want := f.rollbacks(), []string{prodA.ID() + "→", stagingA.ID() + "→"}; !slices.Equal(got, want) {
		t.Errorf("rollbacks %v, want the first deploys removed newest first %v", got, want)
	}
	if ps := st.Pipelines[0]; ps.Phase != PhaseRolledBack || !strings.Contains(ps.Reason, "healthz") {
		t.Errorf("pipeline ended %s (%q), want rolled-back naming the gate", ps.Phase, ps.Reason)
	}
}

func TestFirstDeployTheDriverCannotRemoveIsLeftAsIs(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA, prodB))))
	f.runNothing(prodA)
	f.fake.SetFaults(prodA, fake.Faults{Rollback: driver.Invalid})
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	st := f.run()

	if st.Phase != PhaseFailed || !slices.Equal(st.LeftAsIs, []string{prodA.ID()}) {
		t.Fatalf("phase %s, left as is %v: want failed with %s left as is", st.Phase, st.LeftAsIs, prodA.ID())
	}
	f.assertLive("v2", prodA)
	f.assertLive("v1", prodB)
	if n := len(f.calls("rollback")); n != 2 {
		t.Errorf("%d rollback calls, want 2: invalid must not be retried", n)
	}
}

func TestPipelineStatusAlwaysHasAStage(t *testing.T) {
	data, err := json.Marshal(PipelineStatus{Cloud: "aws", Boundary: "aws", Phase: PhasePending})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"stage":""`) {
		t.Errorf("%s has no stage key", data)
	}
}

func TestBoundaryLag(t *testing.T) {
	gov := pipe("aws-us-gov", "automatic", stg("gov", govA))
	gov.After, gov.Lag = []string{"aws"}, placement.Duration(4*time.Hour)
	public := pipe("aws", "automatic", stg("prod", prodA))
	public.Stages[0].Bake = placement.Duration(time.Hour)
	f := newFixture(t, request(gov, public)) // gov first: order in the plan must not matter
	var early Status
	var govDeploysEarly []string
	f.env.RegisterDelayedCallback(func() {
		early = f.status()
		for _, c := range f.calls("deploy") {
			if strings.Contains(c, "us-gov") {
				govDeploysEarly = append(govDeploysEarly, c)
			}
		}
	}, 4*time.Hour+59*time.Minute)
	start := f.env.Now()
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if early.Pipelines[0].Phase != PhasePending || len(govDeploysEarly) > 0 {
		t.Errorf("gov started before public's bake + 4h lag: %s, deploys %v", early.Pipelines[0].Phase, govDeploysEarly)
	}
	if took := f.env.Now().Sub(start); took < 5*time.Hour {
		t.Errorf("release took %s, want at least 5h", took)
	}
}

func TestFailedBoundarySkipsLaggedBoundary(t *testing.T) {
	gov := pipe("aws-us-gov", "automatic", stg("gov", govA))
	gov.After = []string{"aws"}
	f := newFixture(t, request(pipe("aws", "automatic", stg("prod", prodA)), gov))
	f.fake.SetFaults(prodA, fake.Faults{Deploy: driver.Invalid})
	st := f.run()
	if st.Phase != PhaseRolledBack || st.Pipelines[1].Phase != PhaseSkipped {
		t.Fatalf("phase %s, gov %s: want rolled-back and gov skipped", st.Phase, st.Pipelines[1].Phase)
	}
	if n := len(f.calls("deploy")); n != 1 {
		t.Errorf("%d deploys: an invalid deploy must not be retried, gov must not start", n)
	}
}

func TestRollbackWithinWindowAfterSuccess(t *testing.T) {
	req := request(pipe("aws", "stage", stg("one", prodA), stg("two", prodB)))
	req.RollbackWindow = placement.Duration(time.Hour)
	f := newFixture(t, req)
	var succeeded Status
	f.env.RegisterDelayedCallback(func() {
		succeeded = f.status()
		f.update(UpdatePause, Request{Who: "fay"}, false)
		f.update(UpdateRollback, Request{Who: "fay", Reason: "customer reports"}, true)
	}, 30*time.Minute)
	st := f.run()
	if succeeded.Phase != PhaseSucceeded {
		t.Errorf("phase in window %s, want succeeded", succeeded.Phase)
	}
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	f.assertLive("v1", prodA, prodB)
	if got := f.calls("rollback"); !slices.Equal(got, []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}) {
		t.Errorf("rollbacks %v: want newest first", got)
	}
}

func TestConfigChangeRollsBackConfig(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	req.Change = Change{Kind: KindConfig, ID: "cfg2", Version: "cfg2", Config: []byte(`{"maxConnections":300}`)}
	f := newFixture(t, req)
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	st := f.run()
	if st.Phase != PhaseRolledBack {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if got := f.calls("rollback-config", "apply-config"); !slices.Equal(got, []string{
		"apply-config " + prodA.ID(), "apply-config " + prodB.ID(), "rollback-config " + prodB.ID(), "rollback-config " + prodA.ID(),
	}) {
		t.Errorf("config calls %v", got)
	}
}

func TestShardAwareRestart(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-1"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(time.Second)}
	f := newFixture(t, req)
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	var seq []string
	for _, c := range f.fake.Calls() {
		switch c.Op {
		case "drain", "restart-instance", "undrain":
			seq = append(seq, c.Op+" "+c.Arg)
		}
	}
	var want []string
	for i := range 3 {
		id := fmt.Sprintf("%s#%d", prodA.ID(), i)
		want = append(want, "drain "+id, "restart-instance "+id, "undrain "+id)
	}
	if !slices.Equal(seq, want) {
		t.Errorf("restart sequence\n got %v\nwant %v", seq, want)
	}
}

func TestRestartFailsWhenDrainTimesOut(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-2"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(20 * time.Millisecond)}
	f := newFixture(t, req)
	f.fake.SetFaults(prodA, fake.Faults{StuckDrain: true})
	st := f.run()
	if st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, "drain timeout") {
		t.Fatalf("phase %s (%s), want a drain timeout", st.Phase, st.Reason)
	}
	if n := len(f.calls("restart-instance")); n != 0 {
		t.Errorf("%d instances restarted while their shards were still owned", n)
	}
}

func TestInvalidRequestIsRejected(t *testing.T) {
	f := newFixture(t, ReleaseRequest{Service: "billing", Change: Change{Kind: "rebuild"}})
	f.env.ExecuteWorkflow(Release, f.req)
	err := f.env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "unknown change kind") || !strings.Contains(err.Error(), "change id is required") {
		t.Fatalf("error %v: want every problem named", err)
	}
}

// A pipeline's targets are capped in all, not only per stage: its input
// and its changes must fit Temporal's payload limit.
func TestTooManyTargetsInOnePipelineAreRejected(t *testing.T) {
	stages := func(sizes ...int) []pipelines.Stage {
		var out []pipelines.Stage
		for i, n := range sizes {
			st := pipelines.Stage{Name: fmt.Sprintf("s%d", i), Environment: "prod", MaxParallel: 10}
			for j := range n {
				st.Targets = append(st.Targets, tgt("prod", "aws", fmt.Sprintf("r%d-%d", i, j)))
			}
			out = append(out, st)
		}
		return out
	}
	ok := request(pipe("aws", "automatic", stages(MaxPipelineTargets/2, MaxPipelineTargets-MaxPipelineTargets/2)...))
	if err := ok.Validate(); err != nil {
		t.Fatalf("%d targets in one pipeline: %v", MaxPipelineTargets, err)
	}
	over := request(pipe("aws", "automatic", stages(3000, 3000)...))
	err := over.Validate()
	want := fmt.Sprintf("pipeline aws/aws has 6000 targets in all, more than %d", MaxPipelineTargets)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to contain %q", err, want)
	}
}

// Canceling a succeeded release in its rollback window ends the window (abort
// is refused there), so that the service's next change can roll.
func TestCancelingDuringRollbackWindowEndsIt(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.RollbackWindow = placement.Duration(24 * time.Hour)
	f := newFixture(t, req)
	start := f.env.Now()
	f.env.RegisterDelayedCallback(f.env.CancelWorkflow, 30*time.Minute)
	st := f.run()
	if st.Phase != PhaseSucceeded || !strings.Contains(st.Reason, "canceled") {
		t.Fatalf("phase %s (%s), want succeeded, window closed by the cancellation", st.Phase, st.Reason)
	}
	if took := f.env.Now().Sub(start); took > time.Hour {
		t.Errorf("the release ended %s after it started: the cancellation did not end its rollback window", took)
	}
	f.assertLive("v2", prodA)
}

// A change whose Rollout timed out for good (a revision stuck progressing
// past every attempt's timeout) was heartbeated: it is still compensated.
func TestTimedOutRolloutIsStillCompensated(t *testing.T) {
	f := newFixture(t, request(pipe("aws", "automatic", stg("one", prodA), stg("two", prodB))))
	p := providers.New(f.fake, nil)
	acts := &Activities{Providers: providers.NewSet().Add("aws", "", p), PollInterval: time.Millisecond}
	var made driver.Deployment
	f.env.OnActivity("Rollout", mock.Anything, mock.Anything).Return(func(ctx context.Context, in RolloutInput) (RolloutResult, error) {
		if in.Target.ID() != prodB.ID() {
			return acts.Rollout(ctx, in)
		}
		if !made.Changed {
			dep, err := p.Deploy(ctx, providers.DeployRequest{Target: in.Target, Image: in.Change.Image, Version: in.Change.Version, ChangeID: in.Change.ID})
			if err != nil {
				return RolloutResult{}, err
			}
			made = dep
		}
		return RolloutResult{}, temporal.NewTimeoutError(enums.TIMEOUT_TYPE_START_TO_CLOSE, nil, made)
	})
	st := f.run()
	if st.Phase != PhaseRolledBack || !made.Changed {
		t.Fatalf("phase %s (%s), deployed %+v: want rolled back after a change", st.Phase, st.Reason, made)
	}
	if got, want := f.calls("rollback"), []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}; !slices.Equal(got, want) {
		t.Errorf("rollbacks %v, want %v", got, want)
	}
	f.assertLive("v1", prodA, prodB)
}
