package awsecs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
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

const (
	image   = "registry.example.com/billing"
	cluster = "meridian-conformance"
)

// harness runs the ECS driver against the fake. Each Target is a new ECS
// service running a bootstrap task definition not made by Meridian, which
// the first Deploy reports as Previous.
type harness struct {
	fake *awsfake.Server
	n    int
}

var _ drivertest.LiveRevisionHarness = (*harness)(nil)

func (h *harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.fake.Config("us-east-1"), nil), nil
}

func (h *harness) Target(context.Context) (placement.Target, error) {
	h.n++
	svc := fmt.Sprintf("svc%d", h.n)
	h.fake.CreateService("us-east-1", cluster, svc, image+":bootstrap", 2)
	return placement.Target{Service: svc, Environment: "conformance", Cloud: "aws", Boundary: "public", Region: "us-east-1"}, nil
}

func (h *harness) LiveRevision(t placement.Target) string {
	return h.fake.ServiceTaskDefinition(cluster, t.Service)
}

func (h *harness) Image() string { return image }

func (h *harness) FailVersion(_ placement.Target, version string) {
	h.fake.FailImage(image + ":" + version)
}

func (h *harness) Gate(t placement.Target) placement.Gate {
	return placement.Gate{Name: "errors", Alarm: &placement.AlarmGate{Name: t.Service + "-errors"}}
}

func (h *harness) SetHealth(t placement.Target, health driver.Health) {
	h.fake.SetAlarm(t.Service+"-errors", map[driver.Health]string{
		driver.Healthy: awsfake.AlarmOK, driver.Unhealthy: awsfake.AlarmFiring,
	}[health])
}

func (h *harness) Throttle(n int) { h.fake.Throttle(n) }

func (h *harness) Close() { h.fake.Close() }
