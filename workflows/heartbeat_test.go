package workflows

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// quietEnv is a test workflow environment without logs, with the worker's
// interceptors.
func quietEnv(interceptors ...interceptor.WorkerInterceptor) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: interceptors})
	return env
}

// heartbeatCounter counts the heartbeats activities record.
type heartbeatCounter struct {
	interceptor.WorkerInterceptorBase
	n atomic.Int64
}

func (h *heartbeatCounter) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &heartbeatInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, n: &h.n}
}

type heartbeatInbound struct {
	interceptor.ActivityInboundInterceptorBase
	n *atomic.Int64
}

func (i *heartbeatInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&heartbeatOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}, n: i.n})
}

type heartbeatOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	n *atomic.Int64
}

func (o *heartbeatOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.n.Add(1)
	o.Next.RecordHeartbeat(ctx, details...)
}

// slowCalls is the fake driver whose Deploy and Rollback last like an
// Azure update waiting for its long-running operation: they return once
// the activity has heartbeated twice while they run, or fail after a while.
type slowCalls struct {
	*fake.Driver
	beats *atomic.Int64
}

func (d *slowCalls) outlast(ctx context.Context, op string) error {
	start := d.beats.Load()
	deadline := time.Now().Add(500 * time.Millisecond)
	for d.beats.Load() < start+2 {
		if time.Now().After(deadline) {
			return &fake.Error{Code: driver.Invalid, Msg: op + " ran 500ms and the activity never heartbeated: its heartbeat timeout would retry it while it runs"}
		}
		time.Sleep(time.Millisecond)
	}
	return ctx.Err()
}

func (d *slowCalls) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	if err := d.outlast(ctx, "deploy"); err != nil {
		return driver.Deployment{}, err
	}
	return d.Driver.Deploy(ctx, req)
}

func (d *slowCalls) Rollback(ctx context.Context, t driver.Target, revision string) error {
	if err := d.outlast(ctx, "rollback"); err != nil {
		return err
	}
	return d.Driver.Rollback(ctx, t, revision)
}

// A provider call that outlasts the activity's heartbeat timeout (an Azure
// update waits for its long-running operation) must not leave the activity
// silent: the heartbeat timeout would start a second attempt while the
// first still changes the target, and the first's previous revision, the
// compensation, would be lost.
func TestSlowProviderCallsKeepHeartbeating(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)))
	f := newFixture(t, req)
	f.fake.SetFaults(prodB, fake.Faults{Health: driver.Unhealthy})
	beats := &heartbeatCounter{}
	f.env = quietEnv(beats)
	d := &slowCalls{Driver: f.fake, beats: &beats.n}
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	st := f.run()
	if st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, prodB.ID()) || !strings.Contains(st.Reason, "healthz") {
		t.Fatalf("phase %s (%s): want rolled back after %s's gate failed", st.Phase, st.Reason, prodB.ID())
	}
	if got, want := f.calls("rollback"), []string{"rollback " + prodB.ID(), "rollback " + prodA.ID()}; !slices.Equal(got, want) {
		t.Errorf("rollbacks %v, want %v", got, want)
	}
	f.assertLive("v1", prodA, prodB)
}

// slowGates is the fake driver whose gates take a while (an HTTP gate that
// waits for its timeout).
type slowGates struct {
	slowCalls
}

func (d *slowGates) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	if err := d.outlast(ctx, "gate "+g.Name); err != nil {
		return driver.Observation{}, err
	}
	return d.Driver.EvaluateGate(ctx, t, g)
}

// The gates a Rollout evaluates after a change that was ready at once must
// not leave it silent either: a retry would not know the change was made.
func TestSlowGatesKeepHeartbeating(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Gates[0].ErrorLimit = 1
	f := newFixture(t, req)
	beats := &heartbeatCounter{}
	f.env = quietEnv(beats)
	d := &slowGates{slowCalls{Driver: f.fake, beats: &beats.n}}
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	if st := f.run(); st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s), want succeeded", st.Phase, st.Reason)
	}
	f.assertLive("v2", prodA)
}

// The bake's gate evaluations must not leave EvaluateGates silent either:
// slow gates would trip its heartbeat timeout and fail the bake.
func TestSlowBakeGatesKeepHeartbeating(t *testing.T) {
	one := stg("one", prodA)
	one.Bake = placement.Duration(10 * time.Minute)
	req := request(pipe("aws", "automatic", one))
	req.Gates[0].ErrorLimit = 1
	f := newFixture(t, req)
	beats := &heartbeatCounter{}
	f.env = quietEnv(beats)
	d := &slowGates{slowCalls{Driver: f.fake, beats: &beats.n}}
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	if st := f.run(); st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s), want succeeded", st.Phase, st.Reason)
	}
	if n := len(f.calls("evaluate-gate")); n < 3 {
		t.Errorf("%d gate evaluations, want the rollout's and at least two bake rounds", n)
	}
	f.assertLive("v2", prodA)
}
