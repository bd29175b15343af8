package gcpfake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/gcp"
	"github.com/meridian-deploy/meridian/providers/gcpmonitoring"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/regions"
)

// HarnessProject is the project the harness's targets live in.
const HarnessProject = "meridian-conformance"

// Harness runs drivertest's conformance suite against gcprun (deploys and
// config) and gcpmonitoring (gates) over one fake in the public boundary.
type Harness struct {
	Fake       *Server
	Run        *gcprun.Driver
	Monitoring *gcpmonitoring.Driver
	targets    int
}

var (
	_ drivertest.Harness       = (*Harness)(nil)
	_ drivertest.ConfigHarness = (*Harness)(nil)
	_ drivertest.GateHarness   = (*Harness)(nil)
)

// DriverOptions are the options that point a GCP driver at this fake in
// project, polling and retrying at test speed.
func (s *Server) DriverOptions(project string) *gcp.Options {
	return &gcp.Options{
		Settings:      map[string]string{"project": project},
		ClientOptions: s.ClientOptions(),
		PollInterval:  time.Millisecond,
		Retry:         gcp.Retry{Attempts: 4, Initial: time.Millisecond, Max: 4 * time.Millisecond},
	}
}

// NewDriver starts a fake for test t and a driver made by newDriver
// (gcprun.New, gcpmonitoring.New) for the public boundary, aimed at the fake
// in project; both are closed when t ends.
func NewDriver[D io.Closer](t testing.TB, project string, newDriver func(context.Context, regions.Boundary, *gcp.Options) (D, error)) (*Server, D) {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	b, ok := regions.Default().Boundary("gcp", "public")
	if !ok {
		t.Fatal("no gcp/public boundary in the regions catalog")
	}
	d, err := newDriver(context.Background(), b, s.DriverOptions(project))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return s, d
}

// NewHarness starts a fake and the drivers that talk to it; it is a
// drivertest.HarnessMaker.
func NewHarness(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
	s, err := Start()
	if err != nil {
		return nil, err
	}
	b, ok := regions.Default().Boundary("gcp", "public")
	if !ok {
		s.Close()
		return nil, errors.New("no gcp/public boundary in the regions catalog")
	}
	// Two reads per Status poll: the suite sees a rollout progress for a
	// few polls before it is ready.
	s.SetReadyAfter(6)
	h := &Harness{Fake: s}
	if h.Run, err = gcprun.New(ctx, b, s.DriverOptions(HarnessProject)); err != nil {
		s.Close()
		return nil, err
	}
	if h.Monitoring, err = gcpmonitoring.New(ctx, b, s.DriverOptions(HarnessProject)); err != nil {
		h.Run.Close()
		s.Close()
		return nil, err
	}
	return h, nil
}

// Deployer returns the Cloud Run driver.
func (h *Harness) Deployer(context.Context) (driver.Deployer, error) { return h.Run, nil }

// Configurer returns the Cloud Run driver, which delivers config as
// revision environment variables.
func (h *Harness) Configurer(context.Context) (driver.Configurer, error) { return h.Run, nil }

// GateEvaluator returns the Cloud Monitoring driver.
func (h *Harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return h.Monitoring, nil
}

// Target returns a target whose Cloud Run service does not exist yet.
func (h *Harness) Target(context.Context) (placement.Target, error) {
	h.targets++
	return placement.Target{
		Service:     fmt.Sprintf("svc-%d", h.targets),
		Environment: "prod",
		Cloud:       "gcp",
		Boundary:    "public",
		Region:      "europe-west3",
	}, nil
}

// Image is an Artifact Registry image.
func (h *Harness) Image() string { return "europe-docker.pkg.dev/meridian/apps/demo" }

// FailVersion makes revisions of version fail to start.
func (h *Harness) FailVersion(_ placement.Target, version string) {
	h.Fake.FailImage(h.Image()+":"+version,
		"The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.")
}

// Gate returns an alarm gate on an alert policy of the target's service.
func (h *Harness) Gate(t placement.Target) placement.Gate {
	name := t.Service + "-errors"
	h.Fake.AddAlarm(HarnessProject, name)
	return placement.Gate{Name: "alarm-" + name, Alarm: &placement.AlarmGate{Name: name}}
}

// SetHealth sets what the target's alert policy reports in its region.
func (h *Harness) SetHealth(t placement.Target, health driver.Health) {
	h.Fake.SetAlarm(HarnessProject, t.Service+"-errors", t.Region, health)
}

// Throttle makes the next n calls fail with RESOURCE_EXHAUSTED.
func (h *Harness) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the drivers and the fake.
func (h *Harness) Close() {
	h.Run.Close()
	h.Monitoring.Close()
	h.Fake.Close()
}
