package azuremonitor_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurefake"
	"github.com/meridian-deploy/meridian/providers/azuremonitor"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{azurefake.NewHarness("china", "chinanorth3")}, nil
	})
}

// harness runs the Azure Monitor gate evaluator beside the Container Apps
// deployer, both against the fake, in Azure China; each target's gate is
// the metric alert "<service>-errors".
type harness struct{ *azurefake.Harness }

func (h harness) GateEvaluator(context.Context) (driver.GateEvaluator, error) {
	return azuremonitor.New(h.Credential, h.Options())
}
