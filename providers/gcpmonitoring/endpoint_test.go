package gcpmonitoring

import (
	"context"
	"testing"

	"google.golang.org/api/option"

	"github.com/meridian-deploy/meridian/regions"
)

// TestUniverseEndpoints checks, without any network, the endpoint each GCP
// boundary's Monitoring clients dial.
func TestUniverseEndpoints(t *testing.T) {
	for boundary, want := range map[string]string{
		"public":       "monitoring.googleapis.com:443",
		"fr-sovereign": "monitoring.s3nsapis.fr:443",
	} {
		t.Run(boundary, func(t *testing.T) {
			b, ok := regions.Default().Boundary("gcp", boundary)
			if !ok {
				t.Fatalf("no gcp/%s boundary in the catalog", boundary)
			}
			d, err := New(context.Background(), b, &Options{ClientOptions: []option.ClientOption{option.WithoutAuthentication()}})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			//lint:ignore SA1019 the deprecated accessor is the only way to read the dialed target
			for name, got := range map[string]string{"alert policies": d.alerts.Connection().Target(), "metrics": d.metrics.Connection().Target()} {
				if got != want {
					t.Errorf("%s client dials %q, want %q", name, got, want)
				}
			}
		})
	}
}
