package awsfake

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Harness is the part of a drivertest.Harness every AWS driver's
// conformance test shares: a fake, the ECS deployer, and a new ECS service
// per target, running a bootstrap task definition not made by Meridian
// (LiveRevision), which the first Deploy reports as Previous. The driver
// packages add Configurer or GateEvaluator.
type Harness struct {
	Fake *Server
	// Boundary and Region are where targets live.
	Boundary, Region string
	n                int
}

// Harness targets' image and the ECS cluster of their services.
const (
	HarnessImage   = "registry.example.com/billing"
	HarnessCluster = "meridian-conformance"
)

// NewHarness starts a fake for targets in region of boundary.
func NewHarness(boundary, region string) *Harness {
	return &Harness{Fake: New(), Boundary: boundary, Region: region}
}

// Config is the SDK configuration for the fake in the harness's region.
func (h *Harness) Config() aws.Config { return h.Fake.Config(h.Region) }

// Deployer returns an ECS driver aimed at the fake.
func (h *Harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.Config(), nil), nil
}

// Target creates a new ECS service "svcN" in HarnessCluster running
// HarnessImage:bootstrap with two tasks, and returns its target.
func (h *Harness) Target(context.Context) (placement.Target, error) {
	h.n++
	svc := fmt.Sprintf("svc%d", h.n)
	h.Fake.CreateService(h.Region, HarnessCluster, svc, HarnessImage+":bootstrap", 2)
	return placement.Target{Service: svc, Environment: "conformance", Cloud: "aws", Boundary: h.Boundary, Region: h.Region}, nil
}

// LiveRevision is the bootstrap task definition a new service runs.
func (h *Harness) LiveRevision(t placement.Target) string {
	return h.Fake.ServiceTaskDefinition(HarnessCluster, t.Service)
}

// Image returns HarnessImage.
func (h *Harness) Image() string { return HarnessImage }

// FailVersion makes rollouts of HarnessImage:version trip the circuit breaker.
func (h *Harness) FailVersion(_ placement.Target, version string) {
	h.Fake.FailImage(HarnessImage + ":" + version)
}

// Gate is an alarm gate on the alarm "{service}-errors".
func (h *Harness) Gate(placement.Target) placement.Gate {
	return placement.Gate{Name: "errors", Alarm: &placement.AlarmGate{Name: "{service}-errors"}}
}

// SetHealth sets the state of the target's alarm.
func (h *Harness) SetHealth(t placement.Target, health driver.Health) {
	h.Fake.SetAlarm(t.Service+"-errors", map[driver.Health]string{
		driver.Healthy:       AlarmOK,
		driver.Unhealthy:     AlarmFiring,
		driver.HealthUnknown: AlarmInsufficientData,
	}[health])
}

// Throttle makes the next n requests fail with ThrottlingException.
func (h *Harness) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the fake.
func (h *Harness) Close() { h.Fake.Close() }
