package azure_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// TestClouds: each boundary resolves to the SDK's cloud, whose endpoints
// agree with the regions catalog.
func TestClouds(t *testing.T) {
	for _, tc := range []struct {
		boundary, authority, arm, audience string
	}{
		{"public", "https://login.microsoftonline.com/", "https://management.azure.com", "https://management.core.windows.net/"},
		{"us-gov", "https://login.microsoftonline.us/", "https://management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net/"},
		{"china", "https://login.chinacloudapi.cn/", "https://management.chinacloudapi.cn", "https://management.core.chinacloudapi.cn/"},
	} {
		b, err := azure.Boundary(tc.boundary)
		if err != nil {
			t.Fatal(err)
		}
		c, err := azure.Cloud(b)
		if err != nil {
			t.Fatal(err)
		}
		rm := c.Services[cloud.ResourceManager]
		if c.ActiveDirectoryAuthorityHost != tc.authority || rm.Endpoint != tc.arm || rm.Audience != tc.audience {
			t.Errorf("%s: authority %s, ARM %s, audience %s", tc.boundary, c.ActiveDirectoryAuthorityHost, rm.Endpoint, rm.Audience)
		}
		ep := b.Endpoints
		if ep["authorityHost"] != c.ActiveDirectoryAuthorityHost || ep["resourceManager"] != rm.Endpoint ||
			strings.TrimSuffix(ep["audience"], "/") != strings.TrimSuffix(rm.Audience, "/") {
			t.Errorf("%s: catalog endpoints %v disagree with the SDK's cloud", tc.boundary, ep)
		}
	}
	if _, err := azure.Boundary("atlantis"); azure.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown boundary: %v, want invalid", err)
	}
	if b, err := azure.Boundary(""); err != nil || b.ID != "public" {
		t.Errorf("default boundary = %v, %v; want public", b.ID, err)
	}
}

func TestNewScope(t *testing.T) {
	s, err := azure.NewScope(&azure.Options{Boundary: "us-gov"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ARM().Cloud.Services[cloud.ResourceManager].Endpoint; got != "https://management.usgovcloudapi.net" {
		t.Errorf("us-gov scope ARM endpoint = %s", got)
	}
	custom := cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: "https://127.0.0.1:1", Audience: "https://fake"},
	}}
	s, err = azure.NewScope(&azure.Options{Boundary: "china", ClientOptions: azcore.ClientOptions{Cloud: custom}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ARM().Cloud.Services[cloud.ResourceManager].Endpoint; got != "https://127.0.0.1:1" || s.Boundary.ID != "china" {
		t.Errorf("an explicit cloud was replaced: %s (boundary %s)", got, s.Boundary.ID)
	}
	if _, err := azure.NewScope(&azure.Options{Boundary: "moon"}); azure.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown boundary: %v", err)
	}
}

func TestResourceConvention(t *testing.T) {
	s, err := azure.NewScope(&azure.Options{Boundary: "public", Settings: map[string]string{
		azure.SettingSubscription:                "sub-default",
		azure.SettingSubscription + ".prod":      "sub-prod",
		azure.SettingResourceGroup + ".staging":  "rg-{service}-{region}",
		azure.SettingContainerApp + ".staging":   "{service}-{environment}",
		azure.SettingContainerApp + ".unrelated": "ignored",
	}})
	if err != nil {
		t.Fatal(err)
	}
	target := func(env, region, cell string) driver.Target {
		return driver.Target{Service: "billing", Environment: env, Cloud: "azure", Boundary: "public", Region: region, Cell: cell}
	}
	for _, tc := range []struct {
		t               driver.Target
		sub, rg, app    string
		wantErr         driver.Code
		wantErrContains string
	}{
		{t: target("dev", "westeurope", ""), sub: "sub-default", rg: "meridian-dev-westeurope", app: "billing"},
		{t: target("prod", "westeurope", "cell-7"), sub: "sub-prod", rg: "cell-7", app: "billing"},
		{t: target("staging", "northeurope", ""), sub: "sub-default", rg: "rg-billing-northeurope", app: "billing-staging"},
		{t: target("prod", "usgovvirginia", ""), wantErr: driver.Invalid, wantErrContains: "not an Azure region of boundary public"},
		{t: driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "us-gov", Region: "usgovvirginia"}, wantErr: driver.Invalid, wantErrContains: "outside this driver's boundary"},
		{t: driver.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "eu-west-1"}, wantErr: driver.Invalid},
	} {
		res, app, err := s.ContainerApp(tc.t)
		if tc.wantErr != driver.Unknown {
			if azure.ErrorCode(err) != tc.wantErr || !strings.Contains(fmt.Sprint(err), tc.wantErrContains) {
				t.Errorf("%s: err %v, want %v containing %q", tc.t.ID(), err, tc.wantErr, tc.wantErrContains)
			}
			continue
		}
		if err != nil || res.Subscription != tc.sub || res.ResourceGroup != tc.rg || app != tc.app {
			t.Errorf("%s: %+v %s %v; want %s/%s/%s", tc.t.ID(), res, app, err, tc.sub, tc.rg, tc.app)
		}
	}
	none, _ := azure.NewScope(nil)
	if _, err := none.Resource(target("dev", "westeurope", "")); azure.ErrorCode(err) != driver.Invalid || !strings.Contains(err.Error(), `"subscription"`) {
		t.Errorf("no subscription setting: %v", err)
	}
	if id := (azure.Resource{Subscription: "s", ResourceGroup: "rg"}).ID("Microsoft.App/containerApps", "a"); id != "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/a" {
		t.Errorf("ID = %s", id)
	}
}

func TestErrorCode(t *testing.T) {
	resp := func(status int, code string) error {
		return &azcore.ResponseError{StatusCode: status, ErrorCode: code}
	}
	for _, tc := range []struct {
		err  error
		want driver.Code
	}{
		{resp(404, "ResourceNotFound"), driver.NotFound},
		{fmt.Errorf("get: %w", resp(404, "ContainerAppRevisionNotFound")), driver.NotFound},
		{resp(400, "ResourceGroupNotFound"), driver.NotFound},
		{resp(409, "AnotherOperationInProgress"), driver.Conflict},
		{resp(412, ""), driver.Conflict},
		{resp(429, "TooManyRequests"), driver.Throttled},
		{resp(429, ""), driver.Throttled},
		{resp(403, "AuthorizationFailed"), driver.PermissionDenied},
		{resp(401, "InvalidAuthenticationToken"), driver.PermissionDenied},
		{resp(400, "ContainerAppInvalidImage"), driver.Invalid},
		{resp(400, "SomethingNew"), driver.Invalid},
		{resp(503, ""), driver.Unavailable},
		{resp(500, "InternalServerError"), driver.Unavailable},
		{&azidentity.AuthenticationFailedError{}, driver.PermissionDenied},
		{driver.Errorf(driver.Failed, "rollout failed"), driver.Failed},
		{fmt.Errorf("call: %w", context.Canceled), driver.Canceled},
		{context.DeadlineExceeded, driver.Unavailable},
		{errors.New("unrelated"), driver.Unknown},
		{nil, driver.Unknown},
		{resp(http.StatusOK, "ContainerAppOperationError"), driver.Failed},
	} {
		if got := azure.ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestDefaultCredential builds the default chain for each cloud without a
// network call (tokens are fetched on first use only).
func TestDefaultCredential(t *testing.T) {
	for _, id := range []string{"public", "us-gov", "china"} {
		opts := &azure.Options{Boundary: id, Settings: map[string]string{azure.SettingTenant: "00000000-0000-0000-0000-0000000000aa"}}
		cred, err := azure.DefaultCredential(opts)
		if err != nil || cred == nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, err := azure.DefaultCredential(&azure.Options{Boundary: "moon"}); azure.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown boundary: %v", err)
	}
}
