package gcpmonitoring_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	monitoredrespb "google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/gcpmonitoring"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
)

// The conformance suite evaluates this driver's gates in providers/gcprun's
// TestConformance, beside the Cloud Run deployer the suite needs.

const project = "acme-prod"

var target = driver.Target{Service: "billing", Environment: "prod", Cloud: "gcp", Boundary: "public", Region: "europe-west3"}

// series writes a series of metric for service in region with points
// (value, age) newest first.
// newDriver starts a fake and a driver on it in project, both closed when
// t ends.
func newDriver(t *testing.T) (*gcpfake.Server, *gcpmonitoring.Driver) {
	t.Helper()
	fake, err := gcpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	d, err := gcpfake.NewDriver(context.Background(), fake, project, gcpmonitoring.New)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return fake, d
}

func series(fake *gcpfake.Server, metric, service, region string, points ...point) {
	ts := &monitoringpb.TimeSeries{
		Metric: &metricpb.Metric{Type: metric},
		Resource: &monitoredrespb.MonitoredResource{Type: "cloud_run_revision", Labels: map[string]string{
			"project_id": project, "service_name": service, "location": region,
		}},
	}
	now := time.Now()
	for _, p := range points {
		ts.Points = append(ts.Points, gcpfake.Point(now.Add(-p.age), p.value))
	}
	fake.SetTimeSeries(project, ts)
}

type point struct {
	value float64
	age   time.Duration
}

func evaluate(t *testing.T, d *gcpmonitoring.Driver, g driver.Gate) driver.Observation {
	t.Helper()
	obs, err := d.EvaluateGate(context.Background(), target, g)
	if err != nil {
		t.Fatalf("EvaluateGate(%s): %v (code %v)", g.Name, err, d.ErrorCode(err))
	}
	return obs
}

func TestMetricGate(t *testing.T) {
	fake, d := newDriver(t)
	const latency = "run.googleapis.com/request_latencies"
	gate := driver.Gate{Name: "p50", Metric: &driver.MetricGate{Name: latency, Op: "<", Threshold: 300, Window: 5 * time.Minute}}
	if obs := evaluate(t, d, gate); obs.Health != driver.HealthUnknown {
		t.Fatalf("metric gate without data = %+v, want unknown", obs)
	}
	// Mean over the window of the target's service in the target's region;
	// other regions, other services and points older than the window do not count.
	series(fake, latency, "billing", "europe-west3", point{200, time.Minute}, point{280, 2 * time.Minute}, point{5000, 10 * time.Minute})
	series(fake, latency, "billing", "us-central1", point{9000, time.Minute})
	series(fake, latency, "checkout", "europe-west3", point{9000, time.Minute})
	if obs := evaluate(t, d, gate); obs.Health != driver.Healthy || obs.Value != 240 {
		t.Fatalf("metric gate = %+v, want healthy with mean 240", obs)
	}
	series(fake, latency, "billing", "europe-west3", point{400, time.Minute}, point{280, 2 * time.Minute})
	if obs := evaluate(t, d, gate); obs.Health != driver.Unhealthy || obs.Value != 340 {
		t.Fatalf("metric gate = %+v, want unhealthy with mean 340", obs)
	}
	gate.Metric.Op = "=="
	if _, err := d.EvaluateGate(context.Background(), target, gate); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("operator ==: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
}

func policy(fake *gcpfake.Server, name string, combiner monitoringpb.AlertPolicy_ConditionCombinerType, conds ...*monitoringpb.AlertPolicy_Condition) driver.Gate {
	fake.AddAlertPolicy(project, &monitoringpb.AlertPolicy{DisplayName: name, Combiner: combiner, Conditions: conds})
	return driver.Gate{Name: "alarm-" + name, Alarm: &driver.AlarmGate{Name: name}}
}

func threshold(metric string, cmp monitoringpb.ComparisonType, value float64, duration time.Duration) *monitoringpb.AlertPolicy_Condition {
	return &monitoringpb.AlertPolicy_Condition{
		DisplayName: metric,
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
			Filter:         `metric.type = "` + metric + `"`,
			Comparison:     cmp,
			ThresholdValue: value,
			Duration:       durationpb.New(duration),
		}},
	}
}

func TestAlertPolicyDuration(t *testing.T) {
	fake, d := newDriver(t)
	gate := policy(fake, "billing-5xx", monitoringpb.AlertPolicy_OR,
		threshold("custom.googleapis.com/5xx", monitoringpb.ComparisonType_COMPARISON_GT, 10, 3*time.Minute))
	// Violating for only the last minute of the three the condition asks for.
	series(fake, "custom.googleapis.com/5xx", "billing", "europe-west3",
		point{50, 0}, point{40, time.Minute}, point{2, 2 * time.Minute}, point{1, 3 * time.Minute})
	if obs := evaluate(t, d, gate); obs.Health != driver.Healthy {
		t.Fatalf("policy violated for less than its duration = %+v, want healthy", obs)
	}
	series(fake, "custom.googleapis.com/5xx", "billing", "europe-west3",
		point{50, 0}, point{40, time.Minute}, point{30, 2 * time.Minute}, point{20, 3 * time.Minute})
	if obs := evaluate(t, d, gate); obs.Health != driver.Unhealthy || obs.Value != 50 {
		t.Fatalf("policy violated for its whole duration = %+v, want unhealthy at 50", obs)
	}
}

func TestAlertPolicyCombinerAndAbsence(t *testing.T) {
	fake, d := newDriver(t)
	absent := &monitoringpb.AlertPolicy_Condition{
		DisplayName: "no heartbeats",
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionAbsent{ConditionAbsent: &monitoringpb.AlertPolicy_Condition_MetricAbsence{
			Filter:   `metric.type = "custom.googleapis.com/heartbeat"`,
			Duration: durationpb.New(5 * time.Minute),
		}},
	}
	errorsHigh := threshold("custom.googleapis.com/errors", monitoringpb.ComparisonType_COMPARISON_GE, 5, 0)
	both := policy(fake, "both", monitoringpb.AlertPolicy_AND, absent, errorsHigh)
	either := policy(fake, "either", monitoringpb.AlertPolicy_OR, absent, errorsHigh)

	series(fake, "custom.googleapis.com/errors", "billing", "europe-west3", point{9, 0})
	series(fake, "custom.googleapis.com/heartbeat", "billing", "europe-west3", point{1, time.Minute})
	if obs := evaluate(t, d, both); obs.Health != driver.Healthy {
		t.Errorf("AND policy with one condition met = %+v, want healthy", obs)
	}
	if obs := evaluate(t, d, either); obs.Health != driver.Unhealthy {
		t.Errorf("OR policy with one condition met = %+v, want unhealthy", obs)
	}
	series(fake, "custom.googleapis.com/heartbeat", "billing", "europe-west3", point{1, 10 * time.Minute})
	if obs := evaluate(t, d, both); obs.Health != driver.Unhealthy {
		t.Errorf("AND policy with both conditions met = %+v, want unhealthy", obs)
	}
}

func TestAlertPolicyErrors(t *testing.T) {
	fake, d := newDriver(t)
	if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Alarm: &driver.AlarmGate{Name: "nope"}}); d.ErrorCode(err) != driver.NotFound {
		t.Errorf("unknown alert policy: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
	mql := policy(fake, "mql", monitoringpb.AlertPolicy_OR, &monitoringpb.AlertPolicy_Condition{
		DisplayName: "mql",
		Condition: &monitoringpb.AlertPolicy_Condition_ConditionMonitoringQueryLanguage{ConditionMonitoringQueryLanguage: &monitoringpb.AlertPolicy_Condition_MonitoringQueryLanguageCondition{
			Query: "fetch cloud_run_revision | metric 'run.googleapis.com/request_count'",
		}},
	})
	if _, err := d.EvaluateGate(context.Background(), target, mql); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("MQL condition: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	fake.AddAlertPolicy(project, &monitoringpb.AlertPolicy{DisplayName: "off", Enabled: wrapperspb.Bool(false),
		Conditions: []*monitoringpb.AlertPolicy_Condition{threshold("custom.googleapis.com/errors", monitoringpb.ComparisonType_COMPARISON_GT, 0, 0)}})
	if obs := evaluate(t, d, driver.Gate{Alarm: &driver.AlarmGate{Name: "off"}}); obs.Health != driver.HealthUnknown {
		t.Errorf("disabled policy = %+v, want unknown", obs)
	}
	if _, err := d.EvaluateGate(context.Background(), target, driver.Gate{Name: "probe", HTTP: &driver.HTTPGate{Path: "/healthz"}}); d.ErrorCode(err) != driver.Invalid {
		t.Errorf("HTTP gate: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	fake.Throttle(100)
	if _, err := d.EvaluateGate(context.Background(), target, mql); d.ErrorCode(err) != driver.Throttled {
		t.Errorf("throttled API: %v (code %v), want throttled", err, d.ErrorCode(err))
	}
}
