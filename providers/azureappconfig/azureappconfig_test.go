package azureappconfig_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/meridian-deploy/meridian/providers/azureappconfig"
	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

func newDriver(t *testing.T) (*azurefake.Fixture, *azureappconfig.Driver, driver.Target) {
	t.Helper()
	h := azurefake.NewFixture("us-gov", "usgovvirginia")
	t.Cleanup(h.Close)
	d, err := azureappconfig.New(h.Credential, storeOptions(h))
	if err != nil {
		t.Fatal(err)
	}
	return h, d, driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "us-gov", Region: "usgovvirginia"}
}

func apply(t *testing.T, d *azureappconfig.Driver, target driver.Target, version, data string) driver.Deployment {
	t.Helper()
	dep, err := d.ApplyConfig(context.Background(), driver.ConfigRequest{Target: target, Version: version, Data: []byte(data)})
	if err != nil {
		t.Fatalf("ApplyConfig(%s): %v (code %v)", version, err, d.ErrorCode(err))
	}
	return dep
}

// TestStoreLayout: one label per version under meridian/<service>/config,
// and a sentinel per target scope pointing at the live one.
func TestStoreLayout(t *testing.T) {
	h, d, target := newDriver(t)
	apply(t, d, target, "c1", `{"x":1}`)
	apply(t, d, target, "c2", `{"x":2}`)
	cell := target
	cell.Cell = "cell-1"
	apply(t, d, cell, "c1", `{"x":1}`)
	for _, tc := range []struct{ key, label, want string }{
		{"meridian/billing/config", "prod/c1", `{"x":1}`},
		{"meridian/billing/config", "prod/c2", `{"x":2}`},
		{"meridian/billing/live", "prod/usgovvirginia", `{"version":"c2","previous":"c1"}`},
		{"meridian/billing/live", "prod/usgovvirginia/cell-1", `{"version":"c1"}`},
	} {
		if got, ok := h.Fake.Setting(tc.key, tc.label); !ok || got != tc.want {
			t.Errorf("%s (label %s) = %q, %v; want %q", tc.key, tc.label, got, ok, tc.want)
		}
	}
	if err := d.RollbackConfig(context.Background(), target, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.Fake.Setting("meridian/billing/live", "prod/usgovvirginia"); got != `{"version":"c1","previous":"c2"}` {
		t.Errorf("sentinel after rollback = %s", got)
	}
	if st, err := d.ConfigStatus(context.Background(), target, "c2"); err != nil || st.State != driver.StateFailed || !strings.Contains(st.Reason, `points at "c1"`) {
		t.Errorf("status of the rolled-back-from c2 = %+v, %v", st, err)
	}
}

// TestVersionsAreImmutable: a version applied again with other data is
// refused; with the same data it is reused.
func TestVersionsAreImmutable(t *testing.T) {
	_, d, target := newDriver(t)
	apply(t, d, target, "c1", `{"x":1}`)
	other := target
	other.Region = "usgovarizona"
	if _, err := d.ApplyConfig(context.Background(), driver.ConfigRequest{Target: other, Version: "c1", Data: []byte(`{"x":2}`)}); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("c1 with other data: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	if dep := apply(t, d, other, "c1", `{"x":1}`); !dep.Changed || dep.Previous != "" {
		t.Errorf("c1 with the same data in another region = %+v", dep)
	}
	if err := d.RollbackConfig(context.Background(), target, "c9"); d.ErrorCode(err) != driver.NotFound {
		t.Errorf("rollback to an unknown version: %v", err)
	}
}

// TestThrottledAndSyncTokens: 429s (with retry-after-ms) are retried by
// the SDK, and every answer carries the Sync-Token it requires.
func TestThrottledAndSyncTokens(t *testing.T) {
	h, d, target := newDriver(t)
	h.Throttle(3)
	apply(t, d, target, "c1", `{}`)
	if tokens := h.Fake.SyncTokens(); len(tokens) == 0 || !strings.HasPrefix(tokens[len(tokens)-1], "fake=") {
		t.Errorf("the client sent back no sync token the store issued: %v", tokens)
	}
	h.Throttle(20)
	if _, err := d.ConfigStatus(context.Background(), target, "c1"); d.ErrorCode(err) != driver.Throttled {
		t.Errorf("persistent throttling: %v (code %v)", err, d.ErrorCode(err))
	}
}

func TestEndpoints(t *testing.T) {
	for _, tc := range []struct {
		boundary, region string
		settings         map[string]string
		want             string
	}{
		{"public", "westeurope", nil, "https://meridian-prod.azconfig.io"},
		{"us-gov", "usgovtexas", nil, "https://meridian-prod.azconfig.azure.us"},
		{"china", "chinaeast2", map[string]string{azureappconfig.SettingStore: "cfg-{environment}-{region}"}, "https://cfg-prod-chinaeast2.azconfig.azure.cn"},
		{"public", "westeurope", map[string]string{azureappconfig.SettingEndpoint + ".prod": "https://central.example.net", azureappconfig.SettingStore: "unused"}, "https://central.example.net"},
	} {
		rec, cred := &azurefake.Recorder{}, &azurefake.Credential{}
		d, err := azureappconfig.New(cred, &azure.Options{Boundary: tc.boundary, Settings: tc.settings, ClientOptions: policy.ClientOptions{Transport: rec}})
		if err != nil {
			t.Fatal(err)
		}
		target := driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: tc.boundary, Region: tc.region}
		if got, err := d.Endpoint(target); err != nil || got != tc.want {
			t.Errorf("%s: endpoint %s, %v; want %s", tc.boundary, got, err, tc.want)
		}
		if _, err := d.ConfigStatus(context.Background(), target, "c1"); d.ErrorCode(err) != driver.NotFound {
			t.Fatalf("%s: %v", tc.boundary, err)
		}
		if urls := rec.URLs(); len(urls) != 1 || urls[0] != tc.want+"/kv/meridian%2Fbilling%2Fconfig" && urls[0] != tc.want+"/kv/meridian/billing/config" {
			t.Errorf("%s: requests %v", tc.boundary, urls)
		}
		if scopes := cred.Scopes(); !slices.Equal(scopes, []string{tc.want + "/.default"}) {
			t.Errorf("%s: token scopes %v", tc.boundary, scopes)
		}
	}
}
