package awsappconfig_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/awsappconfig"
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

// harness runs the AppConfig driver beside the ECS deployer, both against
// the fake. Each Target is a new ECS service with an AppConfig application,
// environment and profile of the same name and nothing deployed.
type harness struct {
	fake *awsfake.Server
	n    int
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.fake.Config("eu-west-1"), nil), nil
}

func (h *harness) Configurer(context.Context) (driver.Configurer, error) {
	return awsappconfig.New(h.fake.Config("eu-west-1"), nil), nil
}

func (h *harness) Target(context.Context) (placement.Target, error) {
	h.n++
	svc := fmt.Sprintf("svc%d", h.n)
	h.fake.CreateService("eu-west-1", "meridian-conformance", svc, image+":bootstrap", 2)
	h.fake.CreateConfigProfile(svc, "conformance", "meridian")
	return placement.Target{Service: svc, Environment: "conformance", Cloud: "aws", Boundary: "public", Region: "eu-west-1"}, nil
}

// LiveRevision is the bootstrap task definition a new service runs.
func (h *harness) LiveRevision(t placement.Target) string {
	return h.fake.ServiceTaskDefinition("meridian-conformance", t.Service)
}

func (h *harness) Image() string { return image }

func (h *harness) FailVersion(_ placement.Target, version string) {
	h.fake.FailImage(image + ":" + version)
}

func (h *harness) Gate(t placement.Target) placement.Gate {
	return placement.Gate{Name: "errors", Alarm: &placement.AlarmGate{Name: t.Service + "-errors"}}
}

func (h *harness) SetHealth(placement.Target, driver.Health) {}

func (h *harness) Throttle(n int) { h.fake.Throttle(n) }

func (h *harness) Close() { h.fake.Close() }
