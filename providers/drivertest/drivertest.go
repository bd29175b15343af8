// Package drivertest is the conformance suite every provider driver passes.
// A driver's test supplies a Harness that builds the driver against a real
// or faked backend and lets the suite steer that backend (fail a rollout,
// trip a gate, throttle); RunConformanceTests does the rest.
package drivertest

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Harness connects the suite to one driver and its backend.
type Harness interface {
	// Deployer returns the driver under test. Configurer, GateEvaluator and
	// Restarter are optional capabilities: the suite runs their tests when
	// the harness (or the deployer) implements them and returns non-nil.
	Deployer(ctx context.Context) (driver.Deployer, error)
	// Target returns a fresh target the backend knows, with nothing deployed
	// by Meridian yet.
	Target(ctx context.Context) (placement.Target, error)
	// Image is an artifact image the backend accepts; any version tag works.
	Image() string
	// FailVersion makes every later rollout of version on t fail the way the
	// cloud reports it (a tripped circuit breaker, an unhealthy revision).
	FailVersion(t placement.Target, version string)
	// Gate returns a gate the backend can evaluate on t, and SetHealth sets
	// what it reports from then on.
	Gate(t placement.Target) placement.Gate
	SetHealth(t placement.Target, h driver.Health)
	// Throttle makes the backend answer the next n requests with its
	// throttling error.
	Throttle(n int)
	// Close releases the backend.
	Close()
}

// ConfigHarness is implemented by harnesses whose driver delivers config.
type ConfigHarness interface {
	Configurer(ctx context.Context) (driver.Configurer, error)
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

// RunConformanceTests runs the suite against the driver newHarness builds.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	t.Skip("drivertest: conformance suite not written yet")
}
