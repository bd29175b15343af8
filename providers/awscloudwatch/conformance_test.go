package awscloudwatch_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/awscloudwatch"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{awsfake.NewFixture("us-gov", "us-gov-west-1")}, nil
	})
}

// harness runs the CloudWatch gate evaluator beside the ECS deployer, both
// against the fake, in a GovCloud region; each target's gate is the alarm
// "<service>-errors", named by a template.
type harness struct{ *awsfake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.Config(), nil), nil
}

func (h harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return awscloudwatch.New(h.Config(), nil), nil
}
