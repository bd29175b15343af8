package awscloudwatch_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/awscloudwatch"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/awsfake"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return &harness{fake: awsfake.New()}, nil
	})
}

const image = "registry.example.com/billing"

// harness runs the CloudWatch gate evaluator beside the ECS deployer, both
// against the fake, in a GovCloud region. Each Target is a new ECS service;
// its gate is the alarm "<service>-errors", named by a template.
type harness struct {
	fake *awsfake.Server
	n    int
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.fake.Config("us-gov-west-1"), nil), nil
}

func (h *harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return awscloudwatch.New(h.fake.Config("us-gov-west-1"), nil), nil
}

func (h *harness) Target(context.Context) (placement.Target, error) {
	h.n++
	svc := fmt.Sprintf("svc%d", h.n)
	h.fake.CreateService("us-gov-west-1", "meridian-conformance", svc, image+":bootstrap", 2)
	return placement.Target{Service: svc, Environment: "conformance", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1"}, nil
}

// LiveRevision is the bootstrap task definition a new service runs.
func (h *harness) LiveRevision(t placement.Target) string {
	return h.fake.ServiceTaskDefinition("meridian-conformance", t.Service)
}

func (h *harness) Image() string { return image }

func (h *harness) FailVersion(_ placement.Target, version string) {
	h.fake.FailImage(image + ":" + version)
}

func (h *harness) Gate(placement.Target) placement.Gate {
	return placement.Gate{Name: "errors", Alarm: &placement.AlarmGate{Name: "{service}-errors"}}
}

func (h *harness) SetHealth(t placement.Target, health driver.Health) {
	h.fake.SetAlarm(t.Service+"-errors", map[driver.Health]string{
		driver.Healthy:       awsfake.AlarmOK,
		driver.Unhealthy:     awsfake.AlarmFiring,
		driver.HealthUnknown: awsfake.AlarmInsufficientData,
	}[health])
}

func (h *harness) Throttle(n int) { h.fake.Throttle(n) }

func (h *harness) Close() { h.fake.Close() }
