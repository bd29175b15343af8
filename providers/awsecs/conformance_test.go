package awsecs_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/awsfake"
	"github.com/meridian-deploy/meridian/providers/drivertest"
)

var _ drivertest.LiveRevisionHarness = (*awsfake.Harness)(nil)

// TestConformance runs the suite on the ECS driver against the fake. Each
// target is a new ECS service running a bootstrap task definition not made
// by Meridian, which the first Deploy reports as Previous.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return awsfake.NewHarness("public", "us-east-1"), nil
	})
}
