package azuremonitor_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/azuremonitor"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{azurefake.NewFixture("china", "chinanorth3")}, nil
	})
}

// harness runs the Azure Monitor gate evaluator beside the Container Apps
// deployer, both against the fake, in Azure China; each target's gate is
// the metric alert "<service>-errors".
type harness struct{ *azurefake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return azurecontainerapps.New(h.Credential, h.Options())
}

func (h harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return azuremonitor.New(h.Credential, h.Options())
}
