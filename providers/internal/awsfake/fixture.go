package awsfake

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Fixture is the backend side of a drivertest.Harness that every AWS
// driver's conformance test shares: a fake and a new ECS service per
// target, running a bootstrap task definition not made by Meridian
// (LiveRevision), which the first Deploy reports as Previous. Each driver's
// test adds the drivers (the ECS deployer, AppConfig, CloudWatch) aimed at
// Config.
type Fixture struct {
	Fake *Server
	// Boundary and Region are where targets live.
	Boundary, Region string
	n                int
}

// Fixture targets' image and the ECS cluster of their services.
const (
	FixtureImage   = "registry.example.com/billing"
	FixtureCluster = "meridian-conformance"
)

// NewFixture starts a fake for targets in region of boundary.
func NewFixture(boundary, region string) *Fixture {
	return &Fixture{Fake: New(), Boundary: boundary, Region: region}
}

// Config is the SDK configuration for the fake in the fixture's region.
func (h *Fixture) Config() aws.Config { return h.Fake.Config(h.Region) }

// Target creates a new ECS service "svcN" in FixtureCluster running
// FixtureImage:bootstrap with two tasks, and returns its target.
func (h *Fixture) Target(context.Context) (driver.Target, error) {
	h.n++
	svc := fmt.Sprintf("svc%d", h.n)
	h.Fake.CreateService(h.Region, FixtureCluster, svc, FixtureImage+":bootstrap", 2)
	return driver.Target{Service: svc, Environment: "conformance", Cloud: "aws", Boundary: h.Boundary, Region: h.Region}, nil
}

// LiveRevision is the bootstrap task definition a new service runs.
func (h *Fixture) LiveRevision(t driver.Target) string {
	return h.Fake.ServiceTaskDefinition(FixtureCluster, t.Service)
}

// Image returns FixtureImage.
func (h *Fixture) Image() string { return FixtureImage }

// FailVersion makes rollouts of FixtureImage:version trip the circuit breaker.
func (h *Fixture) FailVersion(_ driver.Target, version string) {
	h.Fake.FailImage(FixtureImage + ":" + version)
}

// Gate is an alarm gate on the alarm "{service}-errors".
func (h *Fixture) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "errors", Alarm: &driver.AlarmGate{Name: "{service}-errors"}}
}

// SetHealth sets the state of the target's alarm.
func (h *Fixture) SetHealth(t driver.Target, health driver.Health) {
	h.Fake.SetAlarm(t.Service+"-errors", map[driver.Health]string{
		driver.Healthy:       AlarmOK,
		driver.Unhealthy:     AlarmFiring,
		driver.HealthUnknown: AlarmInsufficientData,
	}[health])
}

// Throttle makes the next n requests fail with ThrottlingException.
func (h *Fixture) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the fake.
func (h *Fixture) Close() { h.Fake.Close() }
