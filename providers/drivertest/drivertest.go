// Package drivertest is the conformance suite every provider driver passes.
// A driver's test supplies a Harness that builds the driver against a real
// or faked backend and lets the suite steer that backend (fail a rollout,
// trip a gate, throttle); RunConformanceTests does the rest.
//
// The suite calls the driver through the portable type,
// providers.New(driver, opts), as go-cloud's drivertest calls a bucket
// through blob.NewBucket: what it checks is what the rollout engine sees,
// Meridian's own conversion and error wrapping included. The suite's own
// tests run it on a minimal in-memory driver, and on deliberately broken
// ones (error codes that classify nothing, a survey that remembers what
// was removed) to show that it fails.
//
// Every subtest gets a new Harness and a fresh target: a target the backend
// knows, which may already run a revision Meridian did not deploy (a team
// adopting Meridian for a running service). A harness whose targets run one
// says which with LiveRevisionHarness. Rollouts are awaited
// by polling Status with a short interval until a condition holds (bounded by
// AwaitTimeout), so a fake may be instant or model progress over time.
//
// The suite checks the contracts the driver package's doc comments state:
//   - revisions are opaque strings; the suite passes back exactly what
//     Deploy (or ApplyConfig) returned, or what LiveRevision named;
//   - Deploy's Previous is the revision that was live before it, whoever
//     deployed it: on the first deploy to a target, the harness's
//     LiveRevision ("" only when the target ran nothing), and rolling back
//     to it makes that revision live and ready again;
//   - Status of a revision the target never had fails with code NotFound;
//   - a rollout that fails ends in StateFailed with a non-empty Reason;
//   - once a revision is ready, Ready == Desired > 0;
//   - a canceled context makes a call fail promptly with code Canceled;
//   - a throttled backend either surfaces code Throttled or is retried
//     inside the driver;
//   - Remove (a driver.Remover) leaves nothing running, succeeds again on
//     what is gone, and Restore of its Removal makes the removed revision
//     live and ready again; RemoveConfig (a driver.ConfigRemover) likewise,
//     restored by applying the removed version and document again;
//   - Current (a driver.Surveyor) reports what runs, whoever deployed it:
//     nothing (a zero Current, Desired 0, no error) on a target that runs
//     nothing or was removed, else the live revision, its image and
//     version, and Ready == Desired > 0 once it is ready; with config, the
//     live config's revision and version (the Configurer must then be a
//     driver.ConfigSurveyor);
//   - Managed (a driver.Lister) lists a target from Meridian's first
//     deploy to it until its Remove, and only in scopes that contain it;
//   - a config that references a secret reaches the backend with the
//     secret's value (where the harness can read it back: a
//     ConfigDocumentHarness), and nothing the driver returns holds the
//     value: not a Deployment, a ConfigRemoval nor a Removal, which go
//     into workflow histories.
package drivertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Harness connects the suite to one driver and its backend.
type Harness interface {
	// Deployer returns the driver under test. Configurer, GateEvaluator and
	// Restarter are optional capabilities: the suite runs their tests when
	// the harness (or the deployer) implements them and returns non-nil.
	Deployer(ctx context.Context) (driver.Deployer, error)
	// Target returns a fresh target the backend knows, with nothing deployed
	// by Meridian yet; it may already run a revision Meridian did not
	// deploy, which the harness then names with LiveRevisionHarness.
	Target(ctx context.Context) (driver.Target, error)
	// Image is an artifact image the backend accepts; any version tag works.
	Image() string
	// FailVersion makes every later rollout of version on t fail the way the
	// cloud reports it (a tripped circuit breaker, an unhealthy revision).
	// The suite's failing versions always contain "bad".
	FailVersion(t driver.Target, version string)
	// Gate returns a gate the backend can evaluate on t, and SetHealth sets
	// what it reports from then on.
	Gate(t driver.Target) driver.Gate
	SetHealth(t driver.Target, h driver.Health)
	// Throttle makes the backend answer the next n requests with its
	// throttling error.
	Throttle(n int)
	// Close releases the backend.
	Close()
}

// LiveRevisionHarness is implemented by harnesses whose targets already run
// a revision before the suite deploys anything. The suite asks once, right
// after Target, and expects the first Deploy to report that revision as
// Previous. Targets of other harnesses run nothing: Previous must be "".
type LiveRevisionHarness interface {
	// LiveRevision is the revision t runs now, as the driver names
	// revisions; "" when it runs nothing.
	LiveRevision(t driver.Target) string
}

// WorkloadHarness is implemented by harnesses whose driver deploys a
// workload the spec describes (driver.DeployRequest.Workload).
type WorkloadHarness interface {
	// Workload is the workload every deploy to t asks for.
	Workload(t driver.Target) []byte
}

// ConfigHarness is implemented by harnesses whose driver delivers config.
type ConfigHarness interface {
	Configurer(ctx context.Context) (driver.Configurer, error)
}

// ConfigDocumentHarness is implemented by harnesses that can read back
// the config document a target's backend serves (the file, the hosted
// version, the key-value, the revision's environment).
type ConfigDocumentHarness interface {
	// LiveConfigDocument returns the JSON document of t's live config.
	LiveConfigDocument(t driver.Target) ([]byte, error)
}

// GateHarness is implemented by harnesses whose gates are evaluated by a
// driver other than the deployer (CloudWatch beside ECS).
type GateHarness interface {
	GateEvaluator(ctx context.Context) (driver.GateEvaluator, error)
}

// RestartHarness is implemented by harnesses whose driver restarts instances.
type RestartHarness interface {
	Restarter(ctx context.Context) (driver.Restarter, error)
}

// HarnessMaker makes a new Harness for each test.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// AwaitTimeout bounds every wait for a rollout, a config or a gate to reach
// the state the suite expects.
var AwaitTimeout = 60 * time.Second

// instances is how many instances the suite asks for per target.
const instances = 2

// RunConformanceTests runs the suite against the driver newHarness builds.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"DeployReportsPrevious", testDeployReportsPrevious},
		{"DeployIsIdempotent", testDeployIsIdempotent},
		{"StatusProgressThenReady", testStatusProgressThenReady},
		{"FailedRollout", testFailedRollout},
		{"Rollback", testRollback},
		{"RollbackOfFirstDeploy", testRollbackOfFirstDeploy},
		{"RollbackOfFirstDeployRemovesIt", testRollbackOfFirstDeployRemovesIt},
		{"Config", testConfig},
		{"Gates", testGates},
		{"Throttled", testThrottled},
		{"ErrorCodes", testErrorCodes},
		{"Canceled", testCanceled},
		{"RestartInstance", testRestartInstance},
		{"Remove", testRemove},
		{"RemoveWhatRanBefore", testRemoveWhatRanBefore},
		{"RemoveConfig", testRemoveConfig},
		{"SecretReferences", testSecretReferences},
		{"Current", testCurrent},
		{"CurrentConfig", testCurrentConfig},
		{"Managed", testManaged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("harness: %v", err)
			}
			defer h.Close()
			d, err := h.Deployer(ctx)
			if err != nil {
				t.Fatalf("deployer: %v", err)
			}
			tgt, err := h.Target(ctx)
			if err != nil {
				t.Fatalf("target: %v", err)
			}
			s := &suite{ctx: ctx, h: h, d: d, target: tgt, spec: specTarget(tgt)}
			s.p = providers.New(d, s.options(t))
			if lh, ok := h.(LiveRevisionHarness); ok {
				s.initial = lh.LiveRevision(tgt)
			}
			tc.run(t, s)
		})
	}
}

// suite is one subtest's driver, the Provider wrapping it, its harness and
// a fresh target.
type suite struct {
	ctx    context.Context
	h      Harness
	d      driver.Deployer
	p      *providers.Provider
	target driver.Target    // as the harness knows it
	spec   placement.Target // as the Provider is called with it
	// configs, gates and restarts tell which optional capabilities the
	// Provider has.
	configs, gates, restarts bool
	// removes and removesConfig tell whether it decommissions targets and
	// removes their config.
	removes, removesConfig bool
	// surveys, surveysConfig and lists tell whether it reports what runs,
	// what config is live, and which targets Meridian manages.
	surveys, surveysConfig, lists bool
	// initial is the revision the target ran before the suite deployed to
	// it, "" for none.
	initial string
}

// specTarget is t as the spec names it.
func specTarget(t driver.Target) placement.Target { return placement.Target(t) }

// specGate is g as the spec writes it, for the Provider to convert back.
func specGate(g driver.Gate) placement.Gate {
	sg := placement.Gate{Name: g.Name}
	if g.HTTP != nil {
		http := placement.HTTPGate(*g.HTTP)
		sg.HTTP = &http
	}
	if g.Alarm != nil {
		alarm := placement.AlarmGate(*g.Alarm)
		sg.Alarm = &alarm
	}
	if m := g.Metric; m != nil {
		sg.Metric = &placement.MetricGate{Name: m.Name, Op: m.Op, Threshold: m.Threshold, Window: placement.Duration(m.Window)}
	}
	return sg
}

// options are the Provider's optional capabilities: those the harness
// builds, else those of the deployer (which providers.New finds itself).
func (s *suite) options(t *testing.T) *providers.Options {
	var opts providers.Options
	if ch, ok := s.h.(ConfigHarness); ok {
		c, err := ch.Configurer(s.ctx)
		if err != nil {
			t.Fatalf("configurer: %v", err)
		}
		opts.Configurer = c
	}
	if gh, ok := s.h.(GateHarness); ok {
		g, err := gh.GateEvaluator(s.ctx)
		if err != nil {
			t.Fatalf("gate evaluator: %v", err)
		}
		opts.Gates = g
	}
	if rh, ok := s.h.(RestartHarness); ok {
		r, err := rh.Restarter(s.ctx)
		if err != nil {
			t.Fatalf("restarter: %v", err)
		}
		opts.Restarter = r
	}
	_, configures := s.d.(driver.Configurer)
	_, evaluates := s.d.(driver.GateEvaluator)
	_, restarts := s.d.(driver.Restarter)
	s.configs = opts.Configurer != nil || configures
	s.gates = opts.Gates != nil || evaluates
	s.restarts = opts.Restarter != nil || restarts
	_, s.removes = s.d.(driver.Remover)
	_, s.surveys = s.d.(driver.Surveyor)
	_, s.lists = s.d.(driver.Lister)
	if opts.Configurer != nil {
		_, s.removesConfig = opts.Configurer.(driver.ConfigRemover)
		_, s.surveysConfig = opts.Configurer.(driver.ConfigSurveyor)
	} else {
		_, s.removesConfig = s.d.(driver.ConfigRemover)
		_, s.surveysConfig = s.d.(driver.ConfigSurveyor)
	}
	return &opts
}

func (s *suite) request(version string) providers.DeployRequest {
	req := providers.DeployRequest{
		Target:    s.spec,
		Image:     s.h.Image(),
		Version:   version,
		ChangeID:  "conformance-" + version,
		Instances: instances,
	}
	if wh, ok := s.h.(WorkloadHarness); ok {
		req.Workload = wh.Workload(s.target)
	}
	return req
}

func (s *suite) deploy(t *testing.T, version string) driver.Deployment {
	t.Helper()
	dep, err := s.p.Deploy(s.ctx, s.request(version))
	if err != nil {
		t.Fatalf("Deploy(%s): %v (code %v)", version, err, providers.Code(err))
	}
	if dep.Revision == "" {
		t.Fatalf("Deploy(%s) reported an empty revision", version)
	}
	return dep
}

// awaitStatus polls Status of revision until it leaves StateProgressing and
// returns the final status. Every status seen on the way must be for the
// revision and consistent (Ready <= Desired).
func (s *suite) awaitStatus(t *testing.T, revision string) driver.Status {
	t.Helper()
	var last driver.Status
	await(t, s.ctx, "rollout of "+revision+" to finish", func() (bool, error) {
		st, err := s.p.Status(s.ctx, s.spec, revision)
		if err != nil {
			return false, fmt.Errorf("Status(%s): %w (code %v)", revision, err, providers.Code(err))
		}
		if st.Revision != revision {
			return false, fmt.Errorf("Status(%s) reported revision %q", revision, st.Revision)
		}
		if st.Ready > st.Desired {
			return false, fmt.Errorf("Status(%s): ready %d > desired %d", revision, st.Ready, st.Desired)
		}
		last = st
		return st.State != driver.StateProgressing, nil
	})
	return last
}

// awaitReady waits for revision to be ready and checks Ready == Desired > 0.
func (s *suite) awaitReady(t *testing.T, revision string) {
	t.Helper()
	st := s.awaitStatus(t, revision)
	if st.State != driver.StateReady {
		t.Fatalf("revision %s ended %s (%s), want ready", revision, st.State, st.Reason)
	}
	if st.Desired <= 0 || st.Ready != st.Desired {
		t.Fatalf("revision %s ready with %d/%d instances, want all of at least one", revision, st.Ready, st.Desired)
	}
}

func (s *suite) deployReady(t *testing.T, version string) driver.Deployment {
	t.Helper()
	dep := s.deploy(t, version)
	s.awaitReady(t, dep.Revision)
	return dep
}

// await polls cond with a short, growing interval until it reports done,
// fails the test on a condition error, and gives up after AwaitTimeout.
func await(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(AwaitTimeout)
	interval := 5 * time.Millisecond
	for {
		done, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", AwaitTimeout, what)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(interval):
		}
		interval = min(2*interval, 200*time.Millisecond)
	}
}

func testDeployReportsPrevious(t *testing.T, s *suite) {
	first := s.deploy(t, "v1")
	if first.Previous != s.initial || !first.Changed {
		t.Fatalf("first Deploy = %+v, want previous %q (the revision live before) and changed", first, s.initial)
	}
	if first.Revision == s.initial {
		t.Fatalf("v1 got the pre-existing revision %q", s.initial)
	}
	s.awaitReady(t, first.Revision)
	second := s.deploy(t, "v2")
	if second.Previous != first.Revision || !second.Changed {
		t.Fatalf("second Deploy = %+v, want previous %q and changed", second, first.Revision)
	}
	if second.Revision == first.Revision {
		t.Fatalf("v2 got v1's revision %q", first.Revision)
	}
	s.awaitReady(t, second.Revision)
}

func testDeployIsIdempotent(t *testing.T, s *suite) {
	first := s.deploy(t, "v1")
	again := s.deploy(t, "v1")
	if again.Changed || again.Revision != first.Revision {
		t.Fatalf("Deploy of v1 while it rolls out = %+v, want unchanged revision %q", again, first.Revision)
	}
	s.awaitReady(t, first.Revision)
	live := s.deploy(t, "v1")
	if live.Changed || live.Revision != first.Revision {
		t.Fatalf("Deploy of live v1 = %+v, want unchanged revision %q", live, first.Revision)
	}
}

func testStatusProgressThenReady(t *testing.T, s *suite) {
	dep := s.deploy(t, "v1")
	var states []driver.State
	await(t, s.ctx, "v1 to be ready", func() (bool, error) {
		st, err := s.p.Status(s.ctx, s.spec, dep.Revision)
		if err != nil {
			return false, fmt.Errorf("Status(%s): %w", dep.Revision, err)
		}
		if len(states) == 0 || states[len(states)-1] != st.State {
			states = append(states, st.State)
		}
		switch st.State {
		case driver.StateProgressing:
			if st.Ready > st.Desired {
				return false, fmt.Errorf("progressing with ready %d > desired %d", st.Ready, st.Desired)
			}
			return false, nil
		case driver.StateReady:
			if st.Desired <= 0 || st.Ready != st.Desired {
				return false, fmt.Errorf("ready with %d/%d instances", st.Ready, st.Desired)
			}
			return true, nil
		}
		return false, fmt.Errorf("unexpected state %q (%s) on the way to ready", st.State, st.Reason)
	})
	t.Logf("states seen: %v", states)
	// Once ready, a revision stays ready.
	st, err := s.p.Status(s.ctx, s.spec, dep.Revision)
	if err != nil || st.State != driver.StateReady {
		t.Fatalf("Status after ready = %+v, %v; want ready", st, err)
	}
}

func testFailedRollout(t *testing.T, s *suite) {
	good := s.deployReady(t, "v1")
	s.h.FailVersion(s.target, "v2-bad")
	bad := s.deploy(t, "v2-bad")
	if bad.Previous != good.Revision {
		t.Fatalf("Deploy(v2-bad).Previous = %q, want %q", bad.Previous, good.Revision)
	}
	st := s.awaitStatus(t, bad.Revision)
	if st.State != driver.StateFailed {
		t.Fatalf("rollout of v2-bad ended %+v, want failed", st)
	}
	if st.Reason == "" {
		t.Fatal("failed rollout has no reason")
	}
	t.Logf("failure reason: %s", st.Reason)
	// The failed rollout is recovered the way the workflow does it.
	if err := s.p.Rollback(s.ctx, s.spec, good.Revision); err != nil {
		t.Fatalf("Rollback(%s): %v", good.Revision, err)
	}
	s.awaitReady(t, good.Revision)
}

func testRollback(t *testing.T, s *suite) {
	first := s.deployReady(t, "v1")
	second := s.deployReady(t, "v2")
	if err := s.p.Rollback(s.ctx, s.spec, first.Revision); err != nil {
		t.Fatalf("Rollback(%s): %v (code %v)", first.Revision, err, providers.Code(err))
	}
	s.awaitReady(t, first.Revision)
	// Rolling back to the live revision again is harmless.
	if err := s.p.Rollback(s.ctx, s.spec, first.Revision); err != nil {
		t.Fatalf("second Rollback(%s): %v", first.Revision, err)
	}
	s.awaitReady(t, first.Revision)
	third := s.deploy(t, "v3")
	if third.Previous != first.Revision {
		t.Fatalf("Deploy after rollback reported previous %q, want the rolled-back-to %q (not %q)", third.Previous, first.Revision, second.Revision)
	}
	s.awaitReady(t, third.Revision)
}

// testRollbackOfFirstDeploy rolls back Meridian's first releases to a
// target that already ran a revision: a healthy one (a gate failed after
// it) and one whose rollout failed. Each time the pre-existing revision is
// live and ready again, and the next Deploy reports it as Previous.
func testRollbackOfFirstDeploy(t *testing.T, s *suite) {
	if s.initial == "" {
		t.Skip("the harness's targets run nothing before the first deploy")
	}
	s.awaitReady(t, s.initial)
	restore := func(dep driver.Deployment) {
		t.Helper()
		if dep.Previous != s.initial {
			t.Fatalf("Deploy = %+v, want previous %q (the revision live before)", dep, s.initial)
		}
		if err := s.p.Rollback(s.ctx, s.spec, dep.Previous); err != nil {
			t.Fatalf("Rollback(%s): %v (code %v)", dep.Previous, err, providers.Code(err))
		}
		s.awaitReady(t, s.initial)
	}
	restore(s.deployReady(t, "v1"))
	s.h.FailVersion(s.target, "v2-bad")
	bad := s.deploy(t, "v2-bad")
	if st := s.awaitStatus(t, bad.Revision); st.State != driver.StateFailed {
		t.Fatalf("rollout of v2-bad ended %+v, want failed", st)
	}
	restore(bad)
}

// testRollbackOfFirstDeployRemovesIt undoes a first deploy to a target that
// ran nothing: Rollback to "" removes it (Status of "" ends ready with
// nothing desired, or the target is gone), and the next Deploy reports that
// nothing was running. A driver that cannot remove what it started says so
// with code Invalid.
func testRollbackOfFirstDeployRemovesIt(t *testing.T, s *suite) {
	if s.initial != "" {
		t.Skip("the harness's targets run a revision before the first deploy")
	}
	s.deployReady(t, "v1")
	if err := s.p.Rollback(s.ctx, s.spec, ""); providers.Code(err) == driver.Invalid {
		t.Logf("the driver cannot undo a first deploy (code invalid): %v", err)
		return
	} else if err != nil {
		t.Fatalf(`Rollback(""): %v (code %v), want success or invalid`, err, providers.Code(err))
	}
	s.awaitRemoved(t, `Rollback("")`)
	dep := s.deploy(t, "v2")
	if dep.Previous != "" || !dep.Changed {
		t.Fatalf(`Deploy after Rollback("") = %+v, want previous "" (nothing was running) and changed`, dep)
	}
	s.awaitReady(t, dep.Revision)
}

// awaitConfig waits for config revision to be live and checks it is ready.
func (s *suite) awaitConfig(t *testing.T, revision string) {
	t.Helper()
	var last driver.Status
	await(t, s.ctx, "config "+revision+" to be applied", func() (bool, error) {
		st, err := s.p.ConfigStatus(s.ctx, s.spec, revision)
		if err != nil {
			return false, fmt.Errorf("ConfigStatus(%s): %w (code %v)", revision, err, providers.Code(err))
		}
		last = st
		return st.State != driver.StateProgressing, nil
	})
	if last.State != driver.StateReady {
		t.Fatalf("config %s ended %s (%s), want ready", revision, last.State, last.Reason)
	}
}

func testConfig(t *testing.T, s *suite) {
	if !s.configs {
		t.Skip("driver does not deliver config")
	}
	s.deployReady(t, "v1")
	apply := func(version, doc string) driver.Deployment {
		t.Helper()
		dep, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: version, Data: []byte(doc)})
		if err != nil {
			t.Fatalf("ApplyConfig(%s): %v (code %v)", version, err, providers.Code(err))
		}
		if dep.Revision == "" {
			t.Fatalf("ApplyConfig(%s) reported an empty revision", version)
		}
		return dep
	}
	c1 := apply("c1", `{"greeting":"hello","maxConnections":100}`)
	if c1.Previous != "" || !c1.Changed {
		t.Fatalf("first ApplyConfig = %+v, want previous \"\" and changed", c1)
	}
	s.awaitConfig(t, c1.Revision)
	if again := apply("c1", `{"greeting":"hello","maxConnections":100}`); again.Changed || again.Revision != c1.Revision {
		t.Fatalf("ApplyConfig of live c1 = %+v, want unchanged revision %q", again, c1.Revision)
	}
	c2 := apply("c2", `{"greeting":"bonjour","maxConnections":200}`)
	if c2.Previous != c1.Revision || !c2.Changed || c2.Revision == c1.Revision {
		t.Fatalf("ApplyConfig(c2) = %+v, want a new revision with previous %q", c2, c1.Revision)
	}
	s.awaitConfig(t, c2.Revision)
	if err := s.p.RollbackConfig(s.ctx, s.spec, c1.Revision); err != nil {
		t.Fatalf("RollbackConfig(%s): %v (code %v)", c1.Revision, err, providers.Code(err))
	}
	s.awaitConfig(t, c1.Revision)
	if _, err := s.p.ConfigStatus(s.ctx, s.spec, "no-such-config"); providers.Code(err) != driver.NotFound {
		t.Fatalf("ConfigStatus of an unknown version: err %v (code %v), want not-found", err, providers.Code(err))
	}
}

func testGates(t *testing.T, s *suite) {
	if !s.gates {
		t.Skip("driver does not evaluate gates")
	}
	s.deployReady(t, "v1")
	gate := s.h.Gate(s.target)
	for _, want := range []driver.Health{driver.Healthy, driver.Unhealthy, driver.Healthy, driver.HealthUnknown} {
		s.h.SetHealth(s.target, want)
		var last driver.Observation
		await(t, s.ctx, fmt.Sprintf("gate %s to report %s", gate.Name, want), func() (bool, error) {
			obs, err := s.p.EvaluateGate(s.ctx, s.spec, specGate(gate))
			if err != nil {
				return false, fmt.Errorf("EvaluateGate: %w (code %v)", err, providers.Code(err))
			}
			last = obs
			return obs.Health == want, nil
		})
		t.Logf("%s: %+v", want, last)
	}
}

func testThrottled(t *testing.T, s *suite) {
	s.h.Throttle(2)
	var dep driver.Deployment
	var throttled int
	await(t, s.ctx, "Deploy to succeed after throttling", func() (bool, error) {
		var err error
		dep, err = s.p.Deploy(s.ctx, s.request("v1"))
		if err == nil {
			return true, nil
		}
		if code := providers.Code(err); code != driver.Throttled {
			return false, fmt.Errorf("deploying on a throttling backend: %v (code %v), want throttled or success", err, code)
		}
		if throttled++; throttled > 10 {
			return false, fmt.Errorf("still throttled after %d attempts: %v", throttled, err)
		}
		return false, nil
	})
	t.Logf("throttled answers surfaced: %d", throttled)
	s.awaitReady(t, dep.Revision)
}

func testErrorCodes(t *testing.T, s *suite) {
	if _, err := s.p.Status(s.ctx, s.spec, "no-such-revision"); providers.Code(err) != driver.NotFound {
		t.Fatalf("Status on a target before the first deploy: err %v (code %v), want not-found", err, providers.Code(err))
	}
	s.deployReady(t, "v1")
	if _, err := s.p.Status(s.ctx, s.spec, "no-such-revision"); providers.Code(err) != driver.NotFound {
		t.Fatalf("Status of an unknown revision: err %v (code %v), want not-found", err, providers.Code(err))
	}
	if code := s.d.ErrorCode(errors.New("some unrelated error")); code.Retryable() && code != driver.Unknown {
		t.Fatalf("an unrelated error maps to %v, want unknown or a permanent code", code)
	}
}

// promptly bounds how long a call with a canceled context may take.
const promptly = 5 * time.Second

func testCanceled(t *testing.T, s *suite) {
	dep := s.deployReady(t, "v1")
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	check := func(call string, err error, took time.Duration) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s with a canceled context succeeded", call)
		}
		if providers.Code(err) != driver.Canceled {
			t.Fatalf("%s with a canceled context: %v (code %v), want canceled", call, err, providers.Code(err))
		}
		if took > promptly {
			t.Fatalf("%s with a canceled context took %v", call, took)
		}
	}
	start := time.Now()
	_, err := s.p.Deploy(ctx, s.request("v2"))
	check("Deploy", err, time.Since(start))
	start = time.Now()
	_, err = s.p.Status(ctx, s.spec, dep.Revision)
	check("Status", err, time.Since(start))
	start = time.Now()
	err = s.p.Rollback(ctx, s.spec, dep.Revision)
	check("Rollback", err, time.Since(start))
	// The canceled calls changed nothing: v1 is still live.
	again := s.deploy(t, "v1")
	if again.Changed || again.Revision != dep.Revision {
		t.Fatalf("after canceled calls, Deploy(v1) = %+v, want unchanged %q", again, dep.Revision)
	}
}

func testRestartInstance(t *testing.T, s *suite) {
	if !s.restarts {
		t.Skip("driver does not restart instances")
	}
	dep := s.deployReady(t, "v1")
	var list []driver.Instance
	await(t, s.ctx, "every instance to be listed ready", func() (bool, error) {
		var err error
		list, err = s.p.Instances(s.ctx, s.spec)
		if err != nil {
			return false, fmt.Errorf("listing instances: %w (code %v)", err, providers.Code(err))
		}
		if len(list) == 0 {
			return false, nil
		}
		for _, in := range list {
			if in.ID == "" || in.Revision != dep.Revision {
				return false, fmt.Errorf("instance %+v, want an id and revision %q", in, dep.Revision)
			}
			if !in.Ready {
				return false, nil
			}
		}
		return true, nil
	})
	id := list[0].ID
	if err := s.p.RestartInstance(s.ctx, s.spec, id); err != nil {
		t.Fatalf("RestartInstance(%s): %v (code %v)", id, err, providers.Code(err))
	}
	// The instance comes back ready, or (a Kubernetes Deployment's pod) a
	// replacement with a new id takes its place.
	before := map[string]bool{}
	for _, in := range list {
		before[in.ID] = true
	}
	await(t, s.ctx, "instance "+id+" to come back ready or be replaced", func() (bool, error) {
		now, err := s.p.Instances(s.ctx, s.spec)
		if err != nil {
			return false, fmt.Errorf("listing instances: %w", err)
		}
		ready, replaced := 0, false
		for _, in := range now {
			if in.Ready && in.Revision == dep.Revision {
				ready++
				replaced = replaced || !before[in.ID] || in.ID == id
			}
		}
		return replaced && ready >= len(list), nil
	})
	if err := s.p.RestartInstance(s.ctx, s.spec, "no-such-instance"); providers.Code(err) != driver.NotFound {
		t.Fatalf("RestartInstance of an unknown instance: err %v (code %v), want not-found", err, providers.Code(err))
	}
}

// remove calls Remove and fails the test on an error.
func (s *suite) remove(t *testing.T) driver.Removal {
	t.Helper()
	r, err := s.p.Remove(s.ctx, s.spec)
	if err != nil {
		t.Fatalf("Remove: %v (code %v)", err, providers.Code(err))
	}
	return r
}

// awaitRemoved waits for Status of "" to report that nothing runs after
// call: ready with nothing desired, or NotFound (the target itself is
// gone).
func (s *suite) awaitRemoved(t *testing.T, call string) {
	t.Helper()
	var last driver.Status
	await(t, s.ctx, "the target to run nothing", func() (bool, error) {
		st, err := s.p.Status(s.ctx, s.spec, "")
		if providers.Code(err) == driver.NotFound {
			last = driver.Status{State: driver.StateReady}
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf(`Status(""): %w (code %v)`, err, providers.Code(err))
		}
		last = st
		return st.State != driver.StateProgressing, nil
	})
	if last.State != driver.StateReady || last.Desired != 0 || last.Ready != 0 {
		t.Fatalf(`Status("") after %s = %+v, want ready with nothing desired`, call, last)
	}
}

// restore calls Restore with r, checks that it brings back r's revision,
// and waits for it to be ready.
func (s *suite) restore(t *testing.T, r driver.Removal) driver.Deployment {
	t.Helper()
	dep, err := s.p.Restore(s.ctx, s.spec, r)
	if err != nil {
		t.Fatalf("Restore(%+v): %v (code %v)", r, err, providers.Code(err))
	}
	if dep.Revision != r.Revision || dep.Previous != "" || !dep.Changed {
		t.Fatalf("Restore(%+v) = %+v, want revision %q, previous \"\" (nothing ran) and changed", r, dep, r.Revision)
	}
	s.awaitReady(t, dep.Revision)
	return dep
}

// testRemove decommissions a target Meridian deployed to and compensates:
// Remove leaves nothing running, removing again succeeds with nothing
// removed, and Restore makes the removed revision live again, so that
// deploying its version changes nothing.
func testRemove(t *testing.T, s *suite) {
	if !s.removes {
		t.Skip("driver does not remove targets")
	}
	v1 := s.deployReady(t, "v1")
	r := s.remove(t)
	if r.Revision != v1.Revision {
		t.Fatalf("Remove = %+v, want the live revision %q", r, v1.Revision)
	}
	t.Logf("removal: %+v", r)
	s.awaitRemoved(t, "Remove")
	if again := s.remove(t); again.Revision != "" {
		t.Fatalf("second Remove = %+v, want nothing removed", again)
	}
	s.awaitRemoved(t, "Remove")
	if dep, err := s.p.Restore(s.ctx, s.spec, driver.Removal{}); err != nil || dep != (driver.Deployment{}) {
		t.Fatalf("Restore of an empty removal = %+v, %v; want nothing done", dep, err)
	}
	s.restore(t, r)
	if again, err := s.p.Restore(s.ctx, s.spec, r); err != nil || again.Changed || again.Revision != r.Revision {
		t.Fatalf("Restore of the restored revision = %+v, %v; want unchanged %q", again, err, r.Revision)
	}
	if live := s.deploy(t, "v1"); live.Changed || live.Revision != v1.Revision {
		t.Fatalf("Deploy(v1) after Restore = %+v, want unchanged revision %q", live, v1.Revision)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	start := time.Now()
	if _, err := s.p.Remove(ctx, s.spec); providers.Code(err) != driver.Canceled || time.Since(start) > promptly {
		t.Fatalf("Remove with a canceled context: %v (code %v) after %v, want canceled promptly", err, providers.Code(err), time.Since(start))
	}
	s.awaitReady(t, v1.Revision)
}

// testRemoveWhatRanBefore removes a target before Meridian deployed to it:
// what ran there (the harness's LiveRevision) is removed and restored like
// Meridian's own revisions; a target that ran nothing is already removed.
func testRemoveWhatRanBefore(t *testing.T, s *suite) {
	if !s.removes {
		t.Skip("driver does not remove targets")
	}
	r := s.remove(t)
	if r.Revision != s.initial {
		t.Fatalf("Remove of a fresh target = %+v, want revision %q (what ran before)", r, s.initial)
	}
	s.awaitRemoved(t, "Remove")
	if s.initial == "" {
		return
	}
	s.restore(t, r)
	if dep := s.deploy(t, "v1"); dep.Previous != s.initial {
		t.Fatalf("Deploy after Restore = %+v, want previous %q (the restored revision)", dep, s.initial)
	}
}

// testRemoveConfig removes a target's config and restores it by applying
// the removed version and document again.
func testRemoveConfig(t *testing.T, s *suite) {
	if !s.removesConfig {
		t.Skip("driver does not remove config")
	}
	s.deployReady(t, "v1")
	const doc = `{"greeting":"hello","maxConnections":100}`
	c1, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: "c1", Data: []byte(doc)})
	if err != nil {
		t.Fatalf("ApplyConfig(c1): %v (code %v)", err, providers.Code(err))
	}
	s.awaitConfig(t, c1.Revision)
	r, err := s.p.RemoveConfig(s.ctx, s.spec)
	if err != nil {
		t.Fatalf("RemoveConfig: %v (code %v)", err, providers.Code(err))
	}
	if r.Revision != c1.Revision || r.Version != "c1" || !jsonEqual(r.Data, []byte(doc)) {
		t.Fatalf("RemoveConfig = %+v (data %s), want revision %q, version c1 and its document", r, r.Data, c1.Revision)
	}
	s.awaitConfigRemoved(t, c1.Revision)
	again, err := s.p.RemoveConfig(s.ctx, s.spec)
	if err != nil || again.Revision != "" {
		t.Fatalf("second RemoveConfig = %+v, %v; want nothing removed", again, err)
	}
	dep, err := s.p.RestoreConfig(s.ctx, s.spec, r)
	if err != nil {
		t.Fatalf("RestoreConfig: %v (code %v)", err, providers.Code(err))
	}
	if dep.Previous != "" || !dep.Changed {
		t.Fatalf("RestoreConfig = %+v, want previous \"\" (no config) and changed", dep)
	}
	s.awaitConfig(t, dep.Revision)
	live, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: "c1", Data: []byte(doc)})
	if err != nil || live.Changed || live.Revision != dep.Revision {
		t.Fatalf("ApplyConfig(c1) after RestoreConfig = %+v, %v; want unchanged revision %q", live, err, dep.Revision)
	}
}

// awaitConfigRemoved waits until ConfigStatus of a removed config revision
// fails with NotFound or reports it failed.
func (s *suite) awaitConfigRemoved(t *testing.T, revision string) {
	t.Helper()
	await(t, s.ctx, "config "+revision+" to be removed", func() (bool, error) {
		st, err := s.p.ConfigStatus(s.ctx, s.spec, revision)
		if providers.Code(err) == driver.NotFound {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("ConfigStatus(%s): %w (code %v)", revision, err, providers.Code(err))
		}
		return st.State == driver.StateFailed, nil
	})
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// SecretValue is the value of the secret SecretName that the suite's
// Provider resolves: a harness may look for it in its backend.
const (
	SecretName  = "conformance/db-password"
	SecretValue = "drivertest-s3cr3t-must-not-come-back"
)

// suiteSecrets resolves SecretName to SecretValue; every other secret
// does not exist.
type suiteSecrets struct{}

func (suiteSecrets) Resolve(_ context.Context, _ driver.Target, name string) (string, error) {
	if name != SecretName {
		return "", driver.Errorf(driver.NotFound, "no secret %q", name)
	}
	return SecretValue, nil
}

func (suiteSecrets) ErrorCode(err error) driver.Code {
	var e *driver.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return driver.Unknown
}

// testSecretReferences applies a config that references a secret through
// a Provider that resolves it: the backend serves the value, nothing the
// driver returns holds it, RemoveConfig gives back the reference (or, for
// a driver that keeps every version, no document) and RestoreConfig of
// that puts the resolved config back.
func testSecretReferences(t *testing.T, s *suite) {
	if !s.configs {
		t.Skip("driver does not deliver config")
	}
	opts := s.options(t)
	opts.Secrets = suiteSecrets{}
	s.p = providers.New(s.d, opts)
	s.deployReady(t, "v1")
	const (
		doc      = `{"db":{"password":{"secretRef":"` + SecretName + `"},"user":"conformance"},"pool":4}`
		resolved = `{"db":{"password":"` + SecretValue + `","user":"conformance"},"pool":4}`
	)
	served := func(when string) {
		t.Helper()
		dh, ok := s.h.(ConfigDocumentHarness)
		if !ok {
			return
		}
		live, err := dh.LiveConfigDocument(s.target)
		if err != nil || !jsonEqual(live, []byte(resolved)) {
			t.Fatalf("%s the backend serves %s (%v), want %s", when, live, err, resolved)
		}
	}
	c1, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: "c1", Data: []byte(doc)})
	if err != nil {
		t.Fatalf("ApplyConfig(c1): %v (code %v)", err, providers.Code(err))
	}
	noSecret(t, "ApplyConfig", c1)
	s.awaitConfig(t, c1.Revision)
	served("after ApplyConfig")
	if _, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: "c2", Data: []byte(`{"key":{"secretRef":"conformance/missing"}}`)}); providers.Code(err) != driver.NotFound {
		t.Fatalf("ApplyConfig of an unknown secret: %v (code %v), want not-found", err, providers.Code(err))
	}
	if s.removesConfig {
		r, err := s.p.RemoveConfig(s.ctx, s.spec)
		if err != nil {
			t.Fatalf("RemoveConfig: %v (code %v)", err, providers.Code(err))
		}
		noSecret(t, "RemoveConfig", r)
		if r.Revision != c1.Revision || (r.Data != nil && !jsonEqual(r.Data, []byte(doc))) {
			t.Fatalf("RemoveConfig = %+v (data %s), want revision %q and the document as written, or none", r, r.Data, c1.Revision)
		}
		s.awaitConfigRemoved(t, c1.Revision)
		dep, err := s.p.RestoreConfig(s.ctx, s.spec, r)
		if err != nil {
			t.Fatalf("RestoreConfig: %v (code %v)", err, providers.Code(err))
		}
		noSecret(t, "RestoreConfig", dep)
		s.awaitConfig(t, dep.Revision)
		served("after RestoreConfig")
	}
	if s.removes {
		noSecret(t, "Remove", s.remove(t))
	}
}

// noSecret fails the test when what a call returned holds SecretValue
// (%s shows []byte fields, Data and Spec, as text).
func noSecret(t *testing.T, call string, v any) {
	t.Helper()
	if text := fmt.Sprintf("%s", v); strings.Contains(text, SecretValue) {
		t.Errorf("%s returned the secret's value: %s", call, text)
	}
}

// current calls Current and fails the test on an error.
func (s *suite) current(t *testing.T) driver.Current {
	t.Helper()
	c, err := s.p.Current(s.ctx, s.spec)
	if err != nil {
		t.Fatalf("Current: %v (code %v)", err, providers.Code(err))
	}
	if c.Ready > c.Desired {
		t.Fatalf("Current = %+v: ready > desired", c)
	}
	return c
}

// checkNothingRuns fails the test unless c says that nothing runs.
func checkNothingRuns(t *testing.T, when string, c driver.Current) {
	t.Helper()
	if c.Revision != "" || c.Desired != 0 || c.Ready != 0 || c.Version != "" {
		t.Fatalf("Current %s = %+v, want nothing running (no revision, desired 0)", when, c)
	}
}

// awaitCurrent waits until Current reports dep's revision, ready, and
// checks what it says about it: the image, version and, where the driver
// records it, a change ID among changes (the deploy's, or that of a
// release whose rollback made it live again).
func (s *suite) awaitCurrent(t *testing.T, dep driver.Deployment, version string, changes ...string) driver.Current {
	t.Helper()
	var c driver.Current
	await(t, s.ctx, "Current to report "+dep.Revision+" ready", func() (bool, error) {
		c = s.current(t)
		return c.Revision == dep.Revision && c.State == driver.StateReady, nil
	})
	if c.Desired <= 0 || c.Ready != c.Desired {
		t.Fatalf("Current = %+v: ready with %d/%d instances, want all of at least one", c, c.Ready, c.Desired)
	}
	if c.Version != version || c.Image != s.h.Image() {
		t.Fatalf("Current = %+v, want image %q version %q", c, s.h.Image(), version)
	}
	if c.ChangeID != "" && !slices.Contains(changes, c.ChangeID) {
		t.Fatalf("Current = %+v, want change ID one of %q (or none, where the driver does not record it)", c, changes)
	}
	return c
}

// testCurrent surveys a target through its life: what ran before Meridian
// (or nothing), two deploys, a rollback and a removal.
func testCurrent(t *testing.T, s *suite) {
	if !s.surveys {
		t.Skip("driver does not report what runs")
	}
	if c := s.current(t); s.initial == "" {
		checkNothingRuns(t, "before the first deploy", c)
	} else if c.Revision != s.initial || c.ChangeID != "" {
		t.Fatalf("Current before the first deploy = %+v, want revision %q (what ran before), deployed by no change", c, s.initial)
	}
	v1 := s.deployReady(t, "v1")
	c := s.awaitCurrent(t, v1, "v1", s.request("v1").ChangeID)
	t.Logf("current: %+v", c)
	v2 := s.deployReady(t, "v2")
	s.awaitCurrent(t, v2, "v2", s.request("v2").ChangeID)
	if err := s.p.Rollback(s.ctx, s.spec, v1.Revision); err != nil {
		t.Fatalf("Rollback(%s): %v (code %v)", v1.Revision, err, providers.Code(err))
	}
	s.awaitReady(t, v1.Revision)
	s.awaitCurrent(t, v1, "v1", s.request("v1").ChangeID, s.request("v2").ChangeID)
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	start := time.Now()
	if _, err := s.p.Current(ctx, s.spec); providers.Code(err) != driver.Canceled || time.Since(start) > promptly {
		t.Fatalf("Current with a canceled context: %v (code %v) after %v, want canceled promptly", err, providers.Code(err), time.Since(start))
	}
	if !s.removes {
		return
	}
	s.remove(t)
	s.awaitRemoved(t, "Remove")
	checkNothingRuns(t, "after Remove", s.current(t))
}

// testCurrentConfig checks that Current reports the live config's
// revision and version, through applies, a rollback and a removal.
func testCurrentConfig(t *testing.T, s *suite) {
	if !s.surveys || !s.configs {
		t.Skip("driver does not report what runs, or delivers no config")
	}
	if !s.surveysConfig {
		t.Fatal("the Configurer does not report the live config (not a driver.ConfigSurveyor)")
	}
	s.deployReady(t, "v1")
	if c := s.current(t); c.ConfigRevision != "" || c.ConfigVersion != "" {
		t.Fatalf("Current before any config = %+v, want no config", c)
	}
	apply := func(version string) driver.Deployment {
		t.Helper()
		dep, err := s.p.ApplyConfig(s.ctx, providers.ConfigRequest{Target: s.spec, Version: version, Data: []byte(`{"greeting":"` + version + `"}`)})
		if err != nil {
			t.Fatalf("ApplyConfig(%s): %v (code %v)", version, err, providers.Code(err))
		}
		s.awaitConfig(t, dep.Revision)
		return dep
	}
	check := func(dep driver.Deployment, version string) {
		t.Helper()
		if c := s.current(t); c.ConfigRevision != dep.Revision || c.ConfigVersion != version {
			t.Fatalf("Current = %+v, want config revision %q version %q", c, dep.Revision, version)
		}
	}
	c1 := apply("c1")
	check(c1, "c1")
	check(apply("c2"), "c2")
	if err := s.p.RollbackConfig(s.ctx, s.spec, c1.Revision); err != nil {
		t.Fatalf("RollbackConfig(%s): %v (code %v)", c1.Revision, err, providers.Code(err))
	}
	s.awaitConfig(t, c1.Revision)
	check(c1, "c1")
	if !s.removesConfig {
		return
	}
	if _, err := s.p.RemoveConfig(s.ctx, s.spec); err != nil {
		t.Fatalf("RemoveConfig: %v (code %v)", err, providers.Code(err))
	}
	s.awaitConfigRemoved(t, c1.Revision)
	if c := s.current(t); c.ConfigRevision != "" || c.ConfigVersion != "" {
		t.Fatalf("Current after RemoveConfig = %+v, want no config", c)
	}
}

// managed reports whether Managed lists the target in scope.
func (s *suite) managed(t *testing.T, scope driver.Scope) bool {
	t.Helper()
	ts, err := s.p.Managed(s.ctx, scope)
	if err != nil {
		t.Fatalf("Managed(%+v): %v (code %v)", scope, err, providers.Code(err))
	}
	listed := false
	for i, mt := range ts {
		if !scope.Contains(driver.Target(mt)) {
			t.Fatalf("Managed(%+v) lists %s, outside the scope", scope, mt.ID())
		}
		if i > 0 && ts[i-1].ID() >= mt.ID() {
			t.Fatalf("Managed(%+v) is not sorted by ID: %s before %s", scope, ts[i-1].ID(), mt.ID())
		}
		listed = listed || mt == s.spec
	}
	return listed
}

// testManaged checks that Managed lists the target from Meridian's first
// deploy until its Remove, in the scopes that contain it.
func testManaged(t *testing.T, s *suite) {
	if !s.lists {
		t.Skip("driver does not list what it manages")
	}
	region := driver.Scope{Cloud: s.target.Cloud, Boundary: s.target.Boundary, Region: s.target.Region}
	if s.target.Cell != "" {
		region.Cells = []string{s.target.Cell}
	}
	service := region
	service.Service, service.Environment = s.target.Service, s.target.Environment
	other := region
	other.Service = s.target.Service + "-other"
	if s.managed(t, region) {
		t.Fatalf("Managed lists %s before Meridian deployed to it", s.target.ID())
	}
	s.deployReady(t, "v1")
	if !s.managed(t, region) || !s.managed(t, service) {
		t.Fatalf("Managed does not list %s after a deploy (scopes %+v, %+v)", s.target.ID(), region, service)
	}
	if s.managed(t, other) {
		t.Fatalf("Managed(%+v) lists %s, another service's target", other, s.target.ID())
	}
	if !s.removes {
		return
	}
	s.remove(t)
	s.awaitRemoved(t, "Remove")
	if s.managed(t, region) {
		t.Fatalf("Managed lists %s after Remove", s.target.ID())
	}
}
