package drivertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// TestConformance runs the suite against memDriver, a minimal in-memory
// driver whose rollouts finish after a few Status polls, on targets that
// run nothing at first. It checks the suite itself; real drivers run it
// against their own backends.
func TestConformance(t *testing.T) {
	RunConformanceTests(t, newMemHarness(false))
}

// TestConformanceOnRunningTargets runs the suite on targets that already
// run a revision Meridian did not deploy.
func TestConformanceOnRunningTargets(t *testing.T) {
	RunConformanceTests(t, newMemHarness(true))
}

// TestBrokenDriverFailsTheSuite shows the suite can fail: it runs the
// suite on memDriver with an ErrorCode that classifies nothing (so
// NotFound is never reported) in a child process of this test binary, and
// expects that run to fail in ErrorCodes and to pass where codes do not
// matter.
func TestBrokenDriverFailsTheSuite(t *testing.T) {
	runBroken(t, "codes", func(h *memHarness) Harness { return brokenHarness{h} },
		"--- FAIL: TestBrokenDriverFailsTheSuite/ErrorCodes", "--- PASS: TestBrokenDriverFailsTheSuite/DeployReportsPrevious")
}

// TestStaleSurveyFailsTheSuite runs the suite, likewise, on a memDriver
// that remembers what Remove took off: Current still reports it and
// Managed still lists the target. The run must fail in Current and
// Managed, and pass in Remove, which reads Status.
func TestStaleSurveyFailsTheSuite(t *testing.T) {
	runBroken(t, "stale", func(h *memHarness) Harness { return staleHarness{h} },
		"--- FAIL: TestStaleSurveyFailsTheSuite/Current", "--- FAIL: TestStaleSurveyFailsTheSuite/Managed", "--- PASS: TestStaleSurveyFailsTheSuite/Remove")
}

// runBroken runs the calling test's suite on the harness broken makes in
// a child process of this test binary (when brokenEnv is name), and
// checks that the child's output has every line in want.
func runBroken(t *testing.T, name string, broken func(*memHarness) Harness, want ...string) {
	if os.Getenv(brokenEnv) == name {
		RunConformanceTests(t, func(ctx context.Context, t *testing.T) (Harness, error) {
			h, err := newMemHarness(false)(ctx, t)
			return broken(h.(*memHarness)), err
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), brokenEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a broken driver (%s):\n%s", name, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("the run on the broken driver lacks %q:\n%s", w, out)
		}
	}
}

// staleHarness serves stale, a memDriver that remembers what it removed.
type staleHarness struct{ *memHarness }

func (h staleHarness) Deployer(context.Context) (driver.Deployer, error) {
	return &stale{memDriver: h.d, removed: map[string]driver.Current{}}, nil
}

type stale struct {
	*memDriver
	mu      sync.Mutex
	removed map[string]driver.Current // by target ID
}

func (s *stale) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	c, err := s.memDriver.Current(ctx, t)
	if err != nil {
		return driver.Removal{}, err
	}
	s.mu.Lock()
	s.removed[t.ID()] = c
	s.mu.Unlock()
	return s.memDriver.Remove(ctx, t)
}

func (s *stale) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	c, err := s.memDriver.Current(ctx, t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.removed[t.ID()]; ok && err == nil && c.Revision == "" {
		return old, nil
	}
	return c, err
}

func (s *stale) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	ts, err := s.memDriver.Managed(ctx, scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.removed {
		if t, ok := driver.ParseID(id); ok && scope.Contains(t) && !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	driver.SortByID(ts)
	return ts, err
}

// brokenEnv tells the child process of runBroken which broken driver to
// run the suite on.
const brokenEnv = "DRIVERTEST_BROKEN_DRIVER"

// brokenHarness serves misclassifying, a memDriver whose ErrorCode
// classifies nothing.
type brokenHarness struct{ *memHarness }

func (h brokenHarness) Deployer(context.Context) (driver.Deployer, error) {
	return misclassifying{h.d}, nil
}

type misclassifying struct{ *memDriver }

func (misclassifying) ErrorCode(error) driver.Code { return driver.Unknown }

func newMemHarness(running bool) HarnessMaker {
	return func(context.Context, *testing.T) (Harness, error) {
		return &memHarness{d: &memDriver{targets: map[string]*memTarget{}, bad: map[string]bool{}}, running: running}, nil
	}
}

var (
	errNotFound  = errors.New("mem: not found")
	errThrottled = errors.New("mem: throttled")
)

type memTarget struct {
	target    driver.Target
	revisions []string // revision i+1 is revisions[i], a version
	live      string
	managed   bool // Meridian deployed or restored live
	polls     map[string]int
	health    driver.Health
}

type memDriver struct {
	mu       sync.Mutex
	targets  map[string]*memTarget
	bad      map[string]bool
	throttle int
	nextTgt  int
}

func (d *memDriver) ErrorCode(err error) driver.Code {
	switch {
	case errors.Is(err, errNotFound):
		return driver.NotFound
	case errors.Is(err, errThrottled):
		return driver.Throttled
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	}
	return driver.Unknown
}

// enter checks the context and the throttle, and locks the driver.
func (d *memDriver) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.throttle > 0 {
		d.throttle--
		d.mu.Unlock()
		return errThrottled
	}
	return nil
}

func (d *memDriver) target(t driver.Target) *memTarget {
	mt := d.targets[t.ID()]
	if mt == nil {
		mt = &memTarget{target: t, polls: map[string]int{}, health: driver.Healthy}
		d.targets[t.ID()] = mt
	}
	return mt
}

func (d *memDriver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Deployment{}, err
	}
	defer d.mu.Unlock()
	mt := d.target(req.Target)
	if mt.live != "" && mt.revisions[revIndex(mt.live)] == req.Version {
		return driver.Deployment{Revision: mt.live, Previous: mt.live}, nil
	}
	mt.revisions = append(mt.revisions, req.Version)
	mt.managed = true
	prev := mt.live
	mt.live = fmt.Sprintf("rev-%d", len(mt.revisions))
	return driver.Deployment{Revision: mt.live, Previous: prev, Changed: true}, nil
}

func revIndex(rev string) int {
	var n int
	if _, err := fmt.Sscanf(rev, "rev-%d", &n); err != nil {
		return -1
	}
	return n - 1
}

func (d *memDriver) Status(ctx context.Context, t driver.Target, rev string) (driver.Status, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Status{}, err
	}
	defer d.mu.Unlock()
	mt := d.target(t)
	if rev == "" && mt.live == "" {
		return driver.Status{State: driver.StateReady}, nil // nothing runs
	}
	i := revIndex(rev)
	if i < 0 || i >= len(mt.revisions) {
		return driver.Status{}, fmt.Errorf("revision %s: %w", rev, errNotFound)
	}
	mt.polls[rev]++
	st := driver.Status{Revision: rev, State: driver.StateProgressing, Desired: 2, Ready: min(mt.polls[rev]-1, 2)}
	switch {
	case d.bad[mt.revisions[i]] && st.Ready == 2:
		st.State, st.Ready, st.Reason = driver.StateFailed, 0, "circuit breaker tripped"
	case st.Ready == 2:
		st.State = driver.StateReady
	}
	return st, nil
}

func (d *memDriver) Rollback(ctx context.Context, t driver.Target, rev string) error {
	if err := d.enter(ctx); err != nil {
		return err
	}
	defer d.mu.Unlock()
	mt := d.target(t)
	if i := revIndex(rev); rev != "" && (i < 0 || i >= len(mt.revisions)) {
		return fmt.Errorf("revision %s: %w", rev, errNotFound)
	}
	mt.live = rev // "" removes a first deploy
	mt.managed = mt.managed && rev != ""
	return nil
}

// Remove forgets what is live; the revisions stay, for Restore.
func (d *memDriver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Removal{}, err
	}
	defer d.mu.Unlock()
	mt := d.target(t)
	if mt.live == "" {
		return driver.Removal{}, nil
	}
	r := driver.Removal{Revision: mt.live, Version: mt.revisions[revIndex(mt.live)], Instances: 2}
	mt.live, mt.managed = "", false
	return r, nil
}

func (d *memDriver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Deployment{}, err
	}
	defer d.mu.Unlock()
	mt := d.target(t)
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	if i := revIndex(r.Revision); i < 0 || i >= len(mt.revisions) {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "revision %s is not this target's", r.Revision)
	}
	if mt.live == r.Revision {
		return driver.Deployment{Revision: mt.live}, nil
	}
	mt.live, mt.managed = r.Revision, true
	return driver.Deployment{Revision: mt.live, Changed: true}, nil
}

// Current reports the live revision, ready once Status has seen it ready.
func (d *memDriver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Current{}, err
	}
	defer d.mu.Unlock()
	mt := d.target(t)
	if mt.live == "" {
		return driver.Current{}, nil
	}
	version := mt.revisions[revIndex(mt.live)]
	c := driver.Current{Revision: mt.live, Version: version, Image: memImage, State: driver.StateProgressing, Desired: 2, Ready: min(max(mt.polls[mt.live]-1, 0), 2)}
	if c.Ready == 2 {
		c.State = driver.StateReady
	}
	return c, nil
}

// Managed lists the targets on which Meridian's revisions run.
func (d *memDriver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	if err := d.enter(ctx); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var ts []driver.Target
	for _, mt := range d.targets {
		if mt.managed && mt.live != "" && scope.Contains(mt.target) {
			ts = append(ts, mt.target)
		}
	}
	driver.SortByID(ts)
	return ts, nil
}

func (d *memDriver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	if err := d.enter(ctx); err != nil {
		return driver.Observation{}, err
	}
	defer d.mu.Unlock()
	return driver.Observation{Health: d.target(t).health}, nil
}

// memHarness steers memDriver; with running set, each target starts out
// running version "bootstrap" as its first revision.
type memHarness struct {
	d       *memDriver
	running bool
}

func (h *memHarness) Deployer(context.Context) (driver.Deployer, error) { return h.d, nil }

func (h *memHarness) Target(context.Context) (driver.Target, error) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	h.d.nextTgt++
	t := driver.Target{Service: "svc", Environment: "test", Cloud: "mem", Boundary: "public", Region: fmt.Sprintf("r%d", h.d.nextTgt)}
	if h.running {
		mt := h.d.target(t)
		mt.revisions, mt.live = []string{"bootstrap"}, "rev-1"
	}
	return t, nil
}

func (h *memHarness) LiveRevision(t driver.Target) string {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	return h.d.target(t).live
}

// memImage is the image memHarness deploys.
const memImage = "mem/svc"

func (h *memHarness) Image() string { return memImage }

func (h *memHarness) FailVersion(_ driver.Target, version string) {
	if !strings.Contains(version, "bad") {
		panic("suite fails only versions containing bad")
	}
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	h.d.bad[version] = true
}

func (h *memHarness) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "mem", Alarm: &driver.AlarmGate{Name: "mem"}}
}

func (h *memHarness) SetHealth(t driver.Target, health driver.Health) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	h.d.target(t).health = health
}

func (h *memHarness) Throttle(n int) {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	h.d.throttle = n
}

func (h *memHarness) Close() {}
