package azurecontainerapps_test

import (
	"context"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurefake"
	"github.com/meridian-deploy/meridian/providers/drivertest"
)

var _ drivertest.LiveRevisionHarness = (*azurefake.Harness)(nil)

// TestConformance runs the suite on the Container Apps driver against the
// fake; each target is a new container app in single-revision mode serving
// a bootstrap revision, which the first Deploy reports as Previous.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return azurefake.NewHarness("public", "westeurope"), nil
	})
}
