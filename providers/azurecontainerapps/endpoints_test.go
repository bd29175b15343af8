package azurecontainerapps_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

// TestEndpointsPerBoundary: each boundary's driver calls its cloud's
// Resource Manager with a token for its cloud's audience (no network: the
// transport records and answers 404).
func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range azurefake.ARMClouds {
		rec, cred := &azurefake.Recorder{}, &azurefake.Credential{}
		d, err := azurecontainerapps.New(cred, azurefake.RecorderOptions(tc.Boundary, rec))
		if err != nil {
			t.Fatal(err)
		}
		target := driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: tc.Boundary, Region: tc.Region}
		if _, err := d.Status(context.Background(), target, "billing--v1"); d.ErrorCode(err) != driver.NotFound {
			t.Fatalf("%s: Status: %v, want not-found from the recorder", tc.Boundary, err)
		}
		want := "https://" + tc.Host + "/subscriptions/" + azurefake.Subscription + "/resourceGroups/meridian-prod-" + tc.Region + "/providers/Microsoft.App/containerApps/billing/revisions/billing--v1"
		if urls := rec.URLs(); len(urls) == 0 || urls[0] != want {
			t.Errorf("%s: requests %v, want %s", tc.Boundary, urls, want)
		}
		if scopes := cred.Scopes(); !slices.Equal(scopes, []string{tc.Scope}) {
			t.Errorf("%s: token scopes %v, want %s", tc.Boundary, scopes, tc.Scope)
		}
		// A target of another boundary never reaches the wire.
		other := target
		other.Boundary, other.Region = "public", "westeurope"
		if tc.Boundary == "public" {
			other.Boundary, other.Region = "us-gov", "usgovarizona"
		}
		n := len(rec.URLs())
		if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: other, Image: "img", Version: "v1"}); d.ErrorCode(err) != driver.Invalid || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%s: deploy to %s: %v, want invalid", tc.Boundary, other.ID(), err)
		}
		if len(rec.URLs()) != n {
			t.Errorf("%s: a target of another boundary was sent to %v", tc.Boundary, rec.URLs()[n:])
		}
	}
}
