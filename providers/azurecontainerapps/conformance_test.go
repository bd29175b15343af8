package azurecontainerapps_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

var _ drivertest.LiveRevisionHarness = harness{}

// TestConformance runs the suite on the Container Apps driver against the
// fake; each target is a new container app in single-revision mode serving
// a bootstrap revision, which the first Deploy reports as Previous.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{azurefake.NewFixture("public", "westeurope")}, nil
	})
}

// harness runs the Container Apps driver against the fixture's fake.
type harness struct{ *azurefake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return azurecontainerapps.New(h.Credential, h.Options())
}
