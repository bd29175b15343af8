package gcprun_test

import (
	"testing"

	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/gcpfake"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, gcpfake.NewHarness)
}
