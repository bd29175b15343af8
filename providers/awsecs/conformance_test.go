package awsecs_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

var _ drivertest.LiveRevisionHarness = harness{}

// TestConformance runs the suite on the ECS driver against the fake. Each
// target is a new ECS service running a bootstrap task definition not made
// by Meridian, which the first Deploy reports as Previous.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{awsfake.NewFixture("public", "us-east-1")}, nil
	})
}

// harness runs the ECS driver against the fixture's fake.
type harness struct{ *awsfake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.Config(), nil), nil
}
