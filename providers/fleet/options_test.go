package fleet

import (
	"errors"
	"maps"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/awsappconfig"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// TestDriverOptionsFromSettings: each driver's options are read from the
// boundary's provider settings, and the boundary is the one it serves.
func TestDriverOptionsFromSettings(t *testing.T) {
	rule := placement.BoundaryRule{Cloud: "aws", Boundary: "public", Provider: map[string]string{
		"ecsCluster": "payments-{environment}", "ecsService": "{service}-api", "ecsContainer": "app",
		"appconfigApplication": "payments", "appconfigEnvironment": "prod-{region}", "appconfigProfile": "{service}-config", "appconfigStrategy": "Meridian.Instant",
		"cloudwatchDimensions": "LoadBalancer={service}-{environment}, Region={region}",
	}}
	if got, want := *ecsOptions(rule), (awsecs.Options{Boundary: "public", Cluster: "payments-{environment}", Service: "{service}-api", Container: "app"}); got != want {
		t.Errorf("ECS options %+v, want %+v", got, want)
	}
	if got, want := *appConfigOptions(rule), (awsappconfig.Options{Boundary: "public", Application: "payments", Environment: "prod-{region}", Profile: "{service}-config", Strategy: "Meridian.Instant"}); got != want {
		t.Errorf("AppConfig options %+v, want %+v", got, want)
	}
	cw, err := cloudWatchOptions(rule)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"LoadBalancer": "{service}-{environment}", "Region": "{region}"}; cw.Boundary != "public" || !maps.Equal(cw.Dimensions, want) {
		t.Errorf("CloudWatch options %+v, want dimensions %v", cw, want)
	}
	var invalid *driver.Error
	if _, err := cloudWatchOptions(placement.BoundaryRule{Provider: map[string]string{"cloudwatchDimensions": "novalue"}}); !errors.As(err, &invalid) || invalid.Code != driver.Invalid {
		t.Errorf("a malformed dimensions setting: %v, want invalid", err)
	}
	az := azureOptions(placement.BoundaryRule{Cloud: "azure", Boundary: "china", Provider: map[string]string{"subscription": "s"}})
	if az.Boundary != "china" || az.Settings["subscription"] != "s" {
		t.Errorf("Azure options %+v", az)
	}
}
