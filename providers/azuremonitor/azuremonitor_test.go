package azuremonitor_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	"github.com/meridian-deploy/meridian/providers/azuremonitor"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

func newDriver(t *testing.T) (*azurefake.Fixture, *azuremonitor.Driver, driver.Target) {
	t.Helper()
	h := azurefake.NewFixture("public", "westeurope")
	t.Cleanup(h.Close)
	d, err := azuremonitor.New(h.Credential, h.Options())
	if err != nil {
		t.Fatal(err)
	}
	target, _ := h.Target(context.Background())
	return h, d, target
}

func TestMetricGate(t *testing.T) {
	h, d, target := newDriver(t)
	app := azurefake.AppID(target)
	gate := driver.Gate{Name: "5xx", Metric: &driver.MetricGate{Name: "Microsoft.App/containerApps/Requests:Total", Op: "<", Threshold: 5}}
	for _, tc := range []struct {
		value *float64
		want  driver.Health
	}{
		{to.Ptr(3.0), driver.Healthy},
		{to.Ptr(7.0), driver.Unhealthy},
		{to.Ptr(5.0), driver.Unhealthy},
		{nil, driver.HealthUnknown},
	} {
		h.Fake.SetMetric(app, "Requests", tc.value)
		obs, err := d.EvaluateGate(context.Background(), target, gate)
		if err != nil {
			t.Fatal(err)
		}
		if obs.Health != tc.want || (tc.value != nil && obs.Value != *tc.value) {
			t.Errorf("value %v: %+v, want %s", tc.value, obs, tc.want)
		}
	}
	h.Fake.SetMetric(app, "RestartCount", to.Ptr(0.0))
	obs, err := d.EvaluateGate(context.Background(), target, driver.Gate{Metric: &driver.MetricGate{Name: "RestartCount:Maximum", Op: "<=", Threshold: 0}})
	if err != nil || obs.Health != driver.Healthy || !strings.Contains(obs.Message, "Maximum RestartCount = 0") {
		t.Errorf("restart count gate: %+v, %v", obs, err)
	}
	if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Metric: &driver.MetricGate{Name: "NoSuchMetric", Op: "<", Threshold: 1}}); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown metric: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Metric: &driver.MetricGate{Name: "Requests", Op: "=="}}); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown operator: %v", err)
	}
	if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Name: "probe", HTTP: &driver.HTTPGate{Path: "/"}}); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("http gate: %v", err)
	}
}

// TestMetricResourceSetting reads a metric of another resource named by
// the metricResource setting.
func TestMetricResourceSetting(t *testing.T) {
	h := azurefake.NewFixture("public", "westeurope")
	defer h.Close()
	opts := h.Options()
	opts.Settings[azuremonitor.SettingMetricResource] = "/subscriptions/" + azurefake.Subscription + "/resourceGroups/shared/providers/Microsoft.Network/frontDoors/{service}-fd"
	d, err := azuremonitor.New(h.Credential, opts)
	if err != nil {
		t.Fatal(err)
	}
	target := driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "public", Region: "westeurope"}
	h.Fake.SetMetric("/subscriptions/"+azurefake.Subscription+"/resourceGroups/shared/providers/Microsoft.Network/frontDoors/billing-fd", "Percentage5XX", to.Ptr(0.5))
	obs, err := d.EvaluateGate(context.Background(), target, driver.Gate{Metric: &driver.MetricGate{Name: "Percentage5XX", Op: "<", Threshold: 1}})
	if err != nil || obs.Health != driver.Healthy {
		t.Errorf("front door metric: %+v, %v", obs, err)
	}
}

func TestAlertGate(t *testing.T) {
	h, d, target := newDriver(t)
	if _, err := d.EvaluateGate(context.Background(), target, h.Gate(target)); d.ErrorCode(err) != driver.NotFound {
		t.Errorf("missing alert rule: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
	h.SetHealth(target, driver.Unhealthy)
	if obs, err := d.EvaluateGate(context.Background(), target, h.Gate(target)); err != nil || obs.Health != driver.Unhealthy || !strings.Contains(obs.Message, target.Service+"-errors") {
		t.Errorf("firing alert: %+v, %v", obs, err)
	}
	h.Throttle(2)
	if obs, err := d.EvaluateGate(context.Background(), target, h.Gate(target)); err != nil || obs.Health != driver.Unhealthy {
		t.Errorf("throttled twice: %+v, %v", obs, err)
	}
}

func TestAlertResourceGroupSetting(t *testing.T) {
	h := azurefake.NewFixture("public", "westeurope")
	defer h.Close()
	opts := h.Options()
	opts.Settings[azuremonitor.SettingAlertResourceGroup] = "alerts-{environment}"
	d, err := azuremonitor.New(h.Credential, opts)
	if err != nil {
		t.Fatal(err)
	}
	target := driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "public", Region: "westeurope"}
	h.Fake.SetAlert(azurefake.Subscription, "alerts-prod", "billing-latency", azurefake.AlertHealthy)
	obs, err := d.EvaluateGate(context.Background(), target, driver.Gate{Alarm: &driver.AlarmGate{Name: "{service}-latency"}})
	if err != nil || obs.Health != driver.Healthy {
		t.Errorf("alert in alerts-prod: %+v, %v", obs, err)
	}
}

func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range azurefake.ARMClouds {
		rec, cred := &azurefake.Recorder{}, &azurefake.Credential{}
		d, err := azuremonitor.New(cred, azurefake.RecorderOptions(tc.Boundary, rec))
		if err != nil {
			t.Fatal(err)
		}
		target := driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: tc.Boundary, Region: tc.Region}
		if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Alarm: &driver.AlarmGate{Name: "{service}-5xx"}}); d.ErrorCode(err) != driver.NotFound {
			t.Fatalf("%s: %v", tc.Boundary, err)
		}
		if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Metric: &driver.MetricGate{Name: "Requests", Op: "<", Threshold: 1}}); d.ErrorCode(err) != driver.NotFound {
			t.Fatalf("%s: %v", tc.Boundary, err)
		}
		base := "https://" + tc.Host + "/subscriptions/" + azurefake.Subscription + "/"
		want := []string{
			base + "resourcegroups/meridian-prod-" + tc.Region + "/providers/Microsoft.Insights/metricAlerts/billing-5xx",
			base + "resourceGroups/meridian-prod-" + tc.Region + "/providers/Microsoft.App/containerApps/billing/providers/Microsoft.Insights/metrics",
		}
		if urls := rec.URLs(); !slices.Equal(urls, want) {
			t.Errorf("%s: requests %v, want %v", tc.Boundary, urls, want)
		}
		if scopes := slices.Compact(cred.Scopes()); !slices.Equal(scopes, []string{tc.Scope}) {
			t.Errorf("%s: token scopes %v", tc.Boundary, scopes)
		}
	}
}
