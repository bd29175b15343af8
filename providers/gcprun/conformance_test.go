package gcprun_test

import (
	"context"
	"errors"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/gcpmonitoring"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
)

var (
	_ drivertest.ConfigHarness = (*harness)(nil)
	_ drivertest.GateHarness   = (*harness)(nil)
)

// TestConformance runs the suite on the GCP drivers against one fake: the
// Cloud Run driver, which deploys and delivers config as revision
// environment variables, and the Cloud Monitoring driver for the gates, an
// alert policy of each target's service.
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
		monitoring, err := gcpfake.NewDriver(ctx, f.Fake, gcpfake.FixtureProject, gcpmonitoring.New)
		if err != nil {
			f.Close()
			return nil, errors.Join(err, run.Close())
		}
		return &harness{Fixture: f, run: run, monitoring: monitoring}, nil
	})
}

// harness runs the Cloud Run and Cloud Monitoring drivers against the
// fixture's fake.
type harness struct {
	*gcpfake.Fixture
	run        *gcprun.Driver
	monitoring *gcpmonitoring.Driver
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error)     { return h.run, nil }
func (h *harness) Configurer(context.Context) (driver.Configurer, error) { return h.run, nil }

func (h *harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return h.monitoring, nil
}

func (h *harness) Close() {
	h.run.Close()
	h.monitoring.Close()
	h.Fixture.Close()
}

// LiveConfigDocument is the EnvConfig variable of the target's service
// template, which the live revision runs once its config is ready.
func (h *harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	name := "projects/" + gcpfake.FixtureProject + "/locations/" + t.Region + "/services/" + t.Service
	svc, ok := h.Fake.Service(name)
	if !ok {
		return nil, errors.New("no service " + name)
	}
	for _, c := range svc.GetTemplate().GetContainers() {
		for _, e := range c.GetEnv() {
			if e.GetName() == gcprun.EnvConfig {
				return []byte(e.GetValue()), nil
			}
		}
	}
	return nil, errors.New("no config in the template of " + name)
}
