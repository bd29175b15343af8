package gcpfake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// FixtureProject is the project the fixture's targets live in.
const FixtureProject = "meridian-conformance"

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

// NewDriver returns a driver made by newDriver (gcprun.New,
// gcpmonitoring.New) for the public boundary, aimed at s in project.
func NewDriver[D io.Closer](ctx context.Context, s *Server, project string, newDriver func(context.Context, regions.Boundary, *gcp.Options) (D, error)) (D, error) {
	b, ok := regions.Default().Boundary("gcp", "public")
	if !ok {
		var none D
		return none, errors.New("no gcp/public boundary in the regions catalog")
	}
	return newDriver(ctx, b, s.DriverOptions(project))
}

// Fixture is the backend side of the GCP drivers' drivertest.Harness: a
// fake whose targets' Cloud Run services do not exist yet, in
// FixtureProject of the public boundary. The conformance test adds the
// drivers (Cloud Run, Cloud Monitoring) made with NewDriver.
type Fixture struct {
	Fake    *Server
	targets int
}

// NewFixture starts a fake on which a rollout progresses for a few Status
// polls before it is ready.
func NewFixture() (*Fixture, error) {
	s, err := Start()
	if err != nil {
		return nil, err
	}
	// Two reads per Status poll: a rollout progresses for a few polls.
	s.SetReadyAfter(6)
	return &Fixture{Fake: s}, nil
}

// Target returns a target whose Cloud Run service does not exist yet.
func (h *Fixture) Target(context.Context) (driver.Target, error) {
	h.targets++
	return driver.Target{
		Service:     fmt.Sprintf("svc-%d", h.targets),
		Environment: "prod",
		Cloud:       "gcp",
		Boundary:    "public",
		Region:      "europe-west3",
	}, nil
}

// Image is an Artifact Registry image.
func (h *Fixture) Image() string { return "europe-docker.pkg.dev/meridian/apps/demo" }

// FailVersion makes revisions of version fail to start.
func (h *Fixture) FailVersion(_ driver.Target, version string) {
	h.Fake.FailImage(h.Image()+":"+version,
		"The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable.")
}

// Gate returns an alarm gate on an alert policy of the target's service.
func (h *Fixture) Gate(t driver.Target) driver.Gate {
	name := t.Service + "-errors"
	h.Fake.AddAlarm(FixtureProject, name)
	return driver.Gate{Name: "alarm-" + name, Alarm: &driver.AlarmGate{Name: name}}
}

// SetHealth sets what the target's alert policy reports in its region.
func (h *Fixture) SetHealth(t driver.Target, health driver.Health) {
	h.Fake.SetAlarm(FixtureProject, t.Service+"-errors", t.Region, health)
}

// Throttle makes the next n calls fail with RESOURCE_EXHAUSTED.
func (h *Fixture) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the fake.
func (h *Fixture) Close() { h.Fake.Close() }
