package azurecontainerapps_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/azure"
	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/azurefake"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// TestEndpointsPerBoundary: each boundary's driver calls its cloud's
// Resource Manager with a token for its cloud's audience (no network: the
// transport records and answers 404).
func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range []struct{ boundary, region, host, scope string }{
		{"public", "westeurope", "management.azure.com", "https://management.core.windows.net//.default"},
		{"us-gov", "usgovvirginia", "management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net//.default"},
		{"china", "chinanorth3", "management.chinacloudapi.cn", "https://management.core.chinacloudapi.cn//.default"},
	} {
		rec, cred := &azurefake.Recorder{}, &azurefake.Credential{}
		d, err := azurecontainerapps.New(cred, &azurecontainerapps.Options{
			Boundary:      tc.boundary,
			Settings:      map[string]string{azure.SettingSubscription: azurefake.Subscription},
			ClientOptions: policy.ClientOptions{Transport: rec},
		})
		if err != nil {
			t.Fatal(err)
		}
		target := placement.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: tc.boundary, Region: tc.region}
		if _, err := d.Status(context.Background(), target, "billing--v1"); d.ErrorCode(err) != driver.NotFound {
			t.Fatalf("%s: Status: %v, want not-found from the recorder", tc.boundary, err)
		}
		want := "https://" + tc.host + "/subscriptions/" + azurefake.Subscription + "/resourceGroups/meridian-prod-" + tc.region + "/providers/Microsoft.App/containerApps/billing/revisions/billing--v1"
		if urls := rec.URLs(); len(urls) == 0 || urls[0] != want {
			t.Errorf("%s: requests %v, want %s", tc.boundary, urls, want)
		}
		if scopes := cred.Scopes(); !slices.Equal(scopes, []string{tc.scope}) {
			t.Errorf("%s: token scopes %v, want %s", tc.boundary, scopes, tc.scope)
		}
		// A target of another boundary never reaches the wire.
		other := target
		other.Boundary, other.Region = "public", "westeurope"
		if tc.boundary == "public" {
			other.Boundary, other.Region = "us-gov", "usgovarizona"
		}
		n := len(rec.URLs())
		if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: other, Image: "img", Version: "v1"}); d.ErrorCode(err) != driver.Invalid || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%s: deploy to %s: %v, want invalid", tc.boundary, other.ID(), err)
		}
		if len(rec.URLs()) != n {
			t.Errorf("%s: a target of another boundary was sent to %v", tc.boundary, rec.URLs()[n:])
		}
	}
}
