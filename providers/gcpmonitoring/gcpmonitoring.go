// Package gcpmonitoring is the Cloud Monitoring (v3) gate driver.
//
// An alarm gate names an alert policy by its display name. Cloud Monitoring
// has no public API for a policy's open incidents, so the driver evaluates
// the policy's conditions the way the alerting pipeline does: it reads the
// time series each condition selects (its filter and aggregation) and applies
// the condition's comparison, threshold, duration and trigger. A met
// condition (combined with the policy's combiner) is unhealthy; no data is
// unknown. Metric-threshold and metric-absence conditions are supported.
//
// A metric gate reads a metric (a metric type, or a full filter when its
// name contains "=") over the gate's window, aligned and reduced to its
// mean, and is healthy when the value is on the gate's op side of the
// threshold; no data is unknown.
//
// Both gates are narrowed to the target's region with
// resource.labels.location, and Cloud Run metrics (run.googleapis.com/…)
// of metric gates to the target's service with resource.labels.service_name.
package gcpmonitoring

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Options configures the driver; nil means defaults.
type Options = gcp.Options

// lookback is how far back a threshold condition without a duration (or
// shorter than this) looks for its latest point.
const lookback = 5 * time.Minute

// Driver evaluates gates against Cloud Monitoring in one boundary. It
// implements driver.GateEvaluator.
type Driver struct {
	scope   gcp.Scope
	alerts  *monitoring.AlertPolicyClient
	metrics *monitoring.MetricClient
}

var _ driver.GateEvaluator = (*Driver)(nil)

// New returns a driver for boundary b, whose clients use b's universe
// domain and Application Default Credentials unless opts.ClientOptions say
// otherwise. Close it when done.
func New(ctx context.Context, b regions.Boundary, opts *Options) (*Driver, error) {
	if opts == nil {
		opts = &Options{}
	}
	alerts, metrics, err := gcp.NewClients(ctx, b, opts, monitoring.NewAlertPolicyClient, monitoring.NewMetricClient)
	if err != nil {
		return nil, err
	}
	retry := []gax.CallOption{opts.CallOption()}
	alerts.CallOptions.ListAlertPolicies = retry
	metrics.CallOptions.ListTimeSeries = retry
	return &Driver{scope: gcp.Scope{Boundary: b, Settings: opts.Settings}, alerts: alerts, metrics: metrics}, nil
}

// Close releases the driver's connections.
func (d *Driver) Close() error { return errors.Join(d.alerts.Close(), d.metrics.Close()) }

// ErrorCode maps the driver's errors to driver codes.
func (d *Driver) ErrorCode(err error) driver.Code { return gcp.ErrorCode(err) }

// EvaluateGate evaluates an alarm or metric gate on t.
func (d *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	project, err := d.scope.Project(t)
	if err != nil {
		return driver.Observation{}, err
	}
	switch {
	case g.Alarm != nil:
		return d.alertPolicy(ctx, project, t, g.Alarm.Name)
	case g.Metric != nil:
		return d.metric(ctx, project, t, g.Metric)
	}
	return driver.Observation{}, driver.Errorf(driver.Invalid, "gate %q: Cloud Monitoring evaluates alarm and metric gates only", g.Name)
}

// scoped narrows a filter to the target's region.
func scoped(filter string, t driver.Target) string {
	if strings.Contains(filter, " OR ") {
		filter = "(" + filter + ")"
	}
	return fmt.Sprintf("%s AND resource.labels.location = %q", filter, t.Region)
}

func (d *Driver) metric(ctx context.Context, project string, t driver.Target, m *driver.MetricGate) (driver.Observation, error) {
	filter := m.Name
	if !strings.Contains(filter, "=") {
		filter = fmt.Sprintf("metric.type = %q", m.Name)
		if strings.HasPrefix(m.Name, "run.googleapis.com/") {
			filter += fmt.Sprintf(" AND resource.labels.service_name = %q", t.Service)
		}
	}
	window := time.Duration(m.Window)
	if window <= 0 {
		window = lookback
	}
	// Cloud Monitoring aligns over at least a minute.
	window = max(window, time.Minute)
	series, err := d.series(ctx, project, scoped(filter, t), window, &monitoringpb.Aggregation{
		AlignmentPeriod:    durationpb.New(window),
		PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_MEAN,
		CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_MEAN,
	})
	if err != nil {
		return driver.Observation{}, err
	}
	if len(series) == 0 || len(series[0].Points) == 0 {
		return driver.Observation{Health: driver.HealthUnknown, Message: fmt.Sprintf("no data for %s in the last %s", m.Name, window)}, nil
	}
	v := value(series[0].Points[0])
	healthy, ok := m.HealthyWhen()
	if !ok {
		return driver.Observation{}, driver.Errorf(driver.Invalid, "metric gate operator %q: want <, <=, > or >=", m.Op)
	}
	obs := driver.Observation{Health: driver.Healthy, Value: v, Message: fmt.Sprintf("%s = %g, healthy when %s %g", m.Name, v, m.Op, m.Threshold)}
	if !healthy(v) {
		obs.Health = driver.Unhealthy
	}
	return obs, nil
}

// series lists the time series matching filter that have points in the
// window ending now, each with its points newest first.
func (d *Driver) series(ctx context.Context, project, filter string, window time.Duration, agg *monitoringpb.Aggregation) ([]*monitoringpb.TimeSeries, error) {
	now := time.Now()
	it := d.metrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name:   "projects/" + project,
		Filter: filter,
		Interval: &monitoringpb.TimeInterval{
			StartTime: timestamppb.New(now.Add(-window)),
			EndTime:   timestamppb.New(now),
		},
		Aggregation: agg,
		View:        monitoringpb.ListTimeSeriesRequest_FULL,
	})
	var out []*monitoringpb.TimeSeries
	for {
		ts, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(ts.Points) == 0 {
			continue
		}
		slices.SortFunc(ts.Points, func(a, b *monitoringpb.Point) int {
			return b.GetInterval().GetEndTime().AsTime().Compare(a.GetInterval().GetEndTime().AsTime())
		})
		out = append(out, ts)
	}
}

func value(p *monitoringpb.Point) float64 {
	switch v := p.GetValue().GetValue().(type) {
	case *monitoringpb.TypedValue_DoubleValue:
		return v.DoubleValue
	case *monitoringpb.TypedValue_Int64Value:
		return float64(v.Int64Value)
	case *monitoringpb.TypedValue_BoolValue:
		if v.BoolValue {
			return 1
		}
	}
	return 0
}
