package awscloudwatch_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/awscloudwatch"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

var billing = driver.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "eu-west-1"}

func evaluate(t *testing.T, d *awscloudwatch.Driver, g driver.Gate) driver.Observation {
	t.Helper()
	obs, err := d.EvaluateGate(context.Background(), billing, g)
	if err != nil {
		t.Fatalf("EvaluateGate(%s): %v", g.Name, err)
	}
	return obs
}

// TestAlarmTransitions follows an alarm through a queue of states, one per
// evaluation, and a composite alarm.
func TestAlarmTransitions(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	d := awscloudwatch.New(fake.Config("eu-west-1"), nil)
	fake.SetAlarm("billing-5xx", awsfake.AlarmInsufficientData)
	fake.QueueAlarmStates("billing-5xx", awsfake.AlarmOK, awsfake.AlarmFiring, awsfake.AlarmOK)
	gate := driver.Gate{Name: "5xx", Alarm: &driver.AlarmGate{Name: "{service}-5xx"}}
	var got []driver.Health
	for range 4 {
		got = append(got, evaluate(t, d, gate).Health)
	}
	want := []driver.Health{driver.Healthy, driver.Unhealthy, driver.Healthy, driver.Healthy}
	if !slices.Equal(got, want) {
		t.Errorf("healths = %v, want %v", got, want)
	}
	fake.SetCompositeAlarm("billing-slo", awsfake.AlarmFiring)
	obs := evaluate(t, d, driver.Gate{Name: "slo", Alarm: &driver.AlarmGate{Name: "billing-slo"}})
	if obs.Health != driver.Unhealthy || !strings.Contains(obs.Message, "Threshold Crossed") {
		t.Errorf("composite alarm: %+v", obs)
	}
	_, err := d.EvaluateGate(context.Background(), billing, driver.Gate{Name: "x", Alarm: &driver.AlarmGate{Name: "no-such-alarm"}})
	if d.ErrorCode(err) != driver.NotFound {
		t.Errorf("missing alarm: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
}

func TestMetricGate(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	d := awscloudwatch.New(fake.Config("eu-west-1"), &awscloudwatch.Options{Now: func() time.Time { return now }})
	gate := driver.Gate{Name: "cpu", Metric: &driver.MetricGate{
		Name: "AWS/ECS/CPUUtilization:Maximum", Op: "<", Threshold: 80, Window: 90 * time.Second,
	}}
	if obs := evaluate(t, d, gate); obs.Health != driver.HealthUnknown {
		t.Errorf("no datapoints: %+v, want unknown", obs)
	}
	fake.SetMetric("AWS/ECS/CPUUtilization", 42, 95)
	if obs := evaluate(t, d, gate); obs.Health != driver.Healthy || obs.Value != 42 {
		t.Errorf("newest 42 < 80: %+v", obs)
	}
	fake.SetMetric("AWS/ECS/CPUUtilization", 91.5, 42)
	if obs := evaluate(t, d, gate); obs.Health != driver.Unhealthy || obs.Value != 91.5 {
		t.Errorf("newest 91.5 < 80: %+v", obs)
	}
	q := fake.MetricQueries()[0]
	wantDims := map[string]string{"ServiceName": "billing", "ClusterName": "meridian-prod"}
	if q.Namespace != "AWS/ECS" || q.Metric != "CPUUtilization" || q.Stat != "Maximum" || q.Period != 120 || !maps.Equal(q.Dimensions, wantDims) {
		t.Errorf("query = %+v", q)
	}

	expr := driver.Gate{Name: "errors", Metric: &driver.MetricGate{
		Name: `SELECT SUM(Errors) FROM "Billing" WHERE Service = '{service}'`, Op: "<=", Threshold: 0,
	}}
	fake.SetMetric(`SELECT SUM(Errors) FROM "Billing" WHERE Service = 'billing'`, 0)
	if obs := evaluate(t, d, expr); obs.Health != driver.Healthy {
		t.Errorf("expression gate: %+v", obs)
	}
	bad := driver.Gate{Name: "bad", Metric: &driver.MetricGate{Name: "CPUUtilization", Op: "<", Threshold: 1}}
	if _, err := d.EvaluateGate(context.Background(), billing, bad); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("metric without namespace: %v, want invalid", err)
	}
}

func TestDimensions(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	opts := &awscloudwatch.Options{Boundary: "public", Dimensions: map[string]string{"LoadBalancer": "{service}-{environment}", "Region": "{region}"}}
	d := awscloudwatch.New(fake.Config("eu-west-1"), opts)
	evaluate(t, d, driver.Gate{Name: "5xx", Metric: &driver.MetricGate{Name: "AWS/ApplicationELB/HTTPCode_Target_5XX_Count:Sum", Op: "<", Threshold: 1}})
	want := map[string]string{"LoadBalancer": "billing-prod", "Region": "eu-west-1"}
	if got := fake.MetricQueries()[0].Dimensions; !maps.Equal(got, want) {
		t.Errorf("dimensions = %v, want %v", got, want)
	}
}

func TestThrottlingAndErrors(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	d := awscloudwatch.New(fake.Config("eu-west-1"), nil)
	fake.SetAlarm("billing-5xx", awsfake.AlarmOK)
	gate := driver.Gate{Name: "5xx", Alarm: &driver.AlarmGate{Name: "billing-5xx"}}
	fake.Throttle(4)
	if obs := evaluate(t, d, gate); obs.Health != driver.Healthy {
		t.Errorf("after throttling: %+v", obs)
	}
	fake.Throttle(5)
	if _, err := d.EvaluateGate(context.Background(), billing, gate); d.ErrorCode(err) != driver.Throttled {
		t.Errorf("throttled past retries: %v (code %v)", err, d.ErrorCode(err))
	}
	fake.FailNext(1, "AccessDeniedException")
	if _, err := d.EvaluateGate(context.Background(), billing, gate); d.ErrorCode(err) != driver.PermissionDenied {
		t.Errorf("access denied: %v (code %v)", err, d.ErrorCode(err))
	}
	probe := driver.Gate{Name: "probe", HTTP: &driver.HTTPGate{Path: "/healthz"}}
	if _, err := d.EvaluateGate(context.Background(), billing, probe); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("http gate: %v, want invalid", err)
	}
}
