package gcprun_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
)

var _ drivertest.ConfigHarness = (*harness)(nil)

// TestConformance runs the suite on the Cloud Run driver, which deploys
// and delivers config as revision environment variables, against the fake.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, _ *testing.T) (drivertest.Harness, error) {
		f, err := gcpfake.NewFixture()
		if err != nil {
			return nil, err
		}
		run, err := gcpfake.NewDriver(ctx, f.Fake, gcpfake.FixtureProject, gcprun.New)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &harness{Fixture: f, run: run}, nil
	})
}

// harness runs the Cloud Run driver against the fixture's fake.
type harness struct {
	*gcpfake.Fixture
	run *gcprun.Driver
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error)     { return h.run, nil }
func (h *harness) Configurer(context.Context) (driver.Configurer, error) { return h.run, nil }

func (h *harness) Close() {
	h.run.Close()
	h.Fixture.Close()
}
