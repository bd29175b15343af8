package awsappconfig_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/awsappconfig"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{awsfake.NewFixture("public", "eu-west-1")}, nil
	})
}

// harness runs the AppConfig driver beside the ECS deployer, both against
// the fake. Each Target is a new ECS service with an AppConfig application,
// environment and profile of the same name and nothing deployed.
type harness struct{ *awsfake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return awsecs.New(h.Config(), nil), nil
}

func (h harness) Configurer(context.Context) (driver.Configurer, error) {
	return awsappconfig.New(h.Config(), nil), nil
}

func (h harness) Target(ctx context.Context) (driver.Target, error) {
	t, err := h.Fixture.Target(ctx)
	h.Fake.CreateConfigProfile(t.Service, t.Environment, "meridian")
	return t, err
}

// LiveConfigDocument is the content of the hosted version the target's
// environment serves.
func (h harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	_, content := h.Fake.LiveConfigVersion(t.Service, t.Environment, "meridian")
	return content, nil
}
