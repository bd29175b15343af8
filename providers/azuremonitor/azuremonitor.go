// Package azuremonitor is Meridian's gate evaluator on Azure Monitor.
//
// An alarm gate names a metric alert rule (a template: "{service}-5xx"
// names one rule per service) in the target's resource group (see
// azure.Scope.Resource; the boundary setting "alertResourceGroup"
// overrides it). Its status (Microsoft.Insights/metricAlerts/{rule}/status)
// decides: Healthy or Resolved is healthy, Unhealthy, Fired or Activated is
// unhealthy (the alert fires), and a rule that is disabled or has no status
// yet is unknown.
//
// A metric gate is healthy while the newest value of a metric over its
// window (default 5m, one-minute grain) satisfies "value <op> threshold";
// no value is unknown. The metric's name is
// "[<namespace>/]<metric>[:<aggregation>]" (Requests:Total,
// Microsoft.App/containerApps/RestartCount:Maximum; the aggregation
// defaults to Average), read from the target's container app, or from the
// resource whose id the boundary setting "metricResource" gives (a
// template).
package azuremonitor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Options configures the driver; nil means defaults.
type Options = azure.Options

// Boundary provider settings the driver reads (each may be suffixed
// ".<environment>").
const (
	SettingAlertResourceGroup = "alertResourceGroup" // template
	SettingMetricResource     = "metricResource"     // resource id template
)

// Driver evaluates gates with the Azure Monitor APIs of one boundary. It
// implements driver.GateEvaluator.
type Driver struct {
	scope   azure.Scope
	clients *azure.Clients[clients]
	now     func() time.Time
}

type clients struct {
	alerts  *armmonitor.MetricAlertsClient
	status  *armmonitor.MetricAlertsStatusClient
	metrics *armmonitor.MetricsClient
}

var _ driver.GateEvaluator = (*Driver)(nil)

// New returns a driver that calls Azure Monitor with cred (see
// azure.DefaultCredential) in the cloud of opts.Boundary.
func New(cred azcore.TokenCredential, opts *Options) (*Driver, error) {
	scope, err := azure.NewScope(opts)
	if err != nil {
		return nil, err
	}
	return &Driver{
		scope: scope,
		now:   time.Now,
		clients: azure.NewClients(func(sub string) (clients, error) {
			var c clients
			var err error
			if c.alerts, err = armmonitor.NewMetricAlertsClient(sub, cred, scope.ARM()); err != nil {
				return c, err
			}
			if c.status, err = armmonitor.NewMetricAlertsStatusClient(sub, cred, scope.ARM()); err != nil {
				return c, err
			}
			c.metrics, err = armmonitor.NewMetricsClient(sub, cred, scope.ARM())
			return c, err
		}),
	}, nil
}

// ErrorCode maps the driver's errors to driver codes.
func (d *Driver) ErrorCode(err error) driver.Code { return azure.ErrorCode(err) }

// EvaluateGate observes an alarm or metric gate on t.
func (d *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	switch {
	case g.Alarm != nil:
		return d.alert(ctx, t, g.Alarm.Name)
	case g.Metric != nil:
		return d.metric(ctx, t, g.Metric)
	}
	return driver.Observation{}, driver.Errorf(driver.Invalid, "azure monitor evaluates alarm and metric gates, not gate %q", g.Name)
}

// Alert statuses by verdict; anything else is unknown.
var (
	healthyStatus   = map[string]bool{"healthy": true, "resolved": true, "deactivated": true}
	unhealthyStatus = map[string]bool{"unhealthy": true, "fired": true, "activated": true, "active": true}
)

func (d *Driver) alert(ctx context.Context, t driver.Target, template string) (driver.Observation, error) {
	res, err := d.scope.Resource(t)
	if err != nil {
		return driver.Observation{}, err
	}
	if rg := d.scope.Setting(SettingAlertResourceGroup, t); rg != "" {
		res.ResourceGroup = driver.Expand(rg, t)
	}
	c, err := d.clients.For(res.Subscription)
	if err != nil {
		return driver.Observation{}, err
	}
	rule := driver.Expand(template, t)
	where := fmt.Sprintf("metric alert %s in resource group %s", rule, res.ResourceGroup)
	got, err := c.alerts.Get(ctx, res.ResourceGroup, rule, nil)
	if err != nil {
		return driver.Observation{}, fmt.Errorf("get %s: %w", where, err)
	}
	if p := got.Properties; p == nil || p.Enabled == nil || !*p.Enabled {
		return driver.Observation{Health: driver.HealthUnknown, Message: where + " is disabled"}, nil
	}
	st, err := c.status.List(ctx, res.ResourceGroup, rule, nil)
	if err != nil {
		return driver.Observation{}, fmt.Errorf("get the status of %s: %w", where, err)
	}
	obs := driver.Observation{Health: driver.HealthUnknown, Message: where + " has no status yet"}
	for _, s := range st.Value {
		if s == nil || s.Properties == nil || s.Properties.Status == nil {
			continue
		}
		status := *s.Properties.Status
		switch {
		case unhealthyStatus[strings.ToLower(status)]:
			return driver.Observation{Health: driver.Unhealthy, Message: where + " is " + status}, nil
		case healthyStatus[strings.ToLower(status)]:
			obs = driver.Observation{Health: driver.Healthy, Message: where + " is " + status}
		}
	}
	return obs, nil
}

func (d *Driver) metric(ctx context.Context, t driver.Target, m *driver.MetricGate) (driver.Observation, error) {
	healthy, ok := m.HealthyWhen()
	if !ok {
		return driver.Observation{}, driver.Errorf(driver.Invalid, "metric gate %s: unknown operator %q (want <, <=, > or >=)", m.Name, m.Op)
	}
	res, app, err := d.scope.ContainerApp(t)
	if err != nil {
		return driver.Observation{}, err
	}
	resource := res.ID("Microsoft.App/containerApps", app)
	if r := d.scope.Setting(SettingMetricResource, t); r != "" {
		resource = driver.Expand(r, t)
	}
	c, err := d.clients.For(res.Subscription)
	if err != nil {
		return driver.Observation{}, err
	}
	namespace, name, aggregation := parseMetric(driver.Expand(m.Name, t))
	window := time.Duration(m.Window)
	if window <= 0 {
		window = 5 * time.Minute
	}
	end := d.now().UTC().Truncate(time.Minute)
	opts := &armmonitor.MetricsClientListOptions{
		Metricnames: to.Ptr(name),
		Aggregation: to.Ptr(aggregation),
		Interval:    to.Ptr("PT1M"),
		Timespan:    to.Ptr(end.Add(-window).Format(time.RFC3339) + "/" + end.Format(time.RFC3339)),
	}
	if namespace != "" {
		opts.Metricnamespace = to.Ptr(namespace)
	}
	out, err := c.metrics.List(ctx, strings.TrimPrefix(resource, "/"), opts)
	if err != nil {
		return driver.Observation{}, fmt.Errorf("read metric %s of %s: %w", name, resource, err)
	}
	value, at, ok := newest(out.Value, aggregation)
	if !ok {
		return driver.Observation{Health: driver.HealthUnknown, Message: fmt.Sprintf("no %s %s of %s in the last %v", aggregation, name, resource, window)}, nil
	}
	obs := driver.Observation{Value: value, Health: driver.Unhealthy}
	if healthy(value) {
		obs.Health = driver.Healthy
	}
	obs.Message = fmt.Sprintf("%s %s = %g at %s (healthy while %s %g)", aggregation, name, value, at.Format(time.RFC3339), m.Op, m.Threshold)
	return obs, nil
}

// parseMetric splits "[<namespace>/]<metric>[:<aggregation>]".
func parseMetric(s string) (namespace, name, aggregation string) {
	name, aggregation, _ = strings.Cut(s, ":")
	if aggregation == "" {
		aggregation = "Average"
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		namespace, name = name[:i], name[i+1:]
	}
	return namespace, name, aggregation
}

// newest returns the newest value of aggregation among the metrics' points.
func newest(metrics []*armmonitor.Metric, aggregation string) (float64, time.Time, bool) {
	var (
		value float64
		at    time.Time
		found bool
	)
	for _, m := range metrics {
		if m == nil {
			continue
		}
		for _, ts := range m.Timeseries {
			if ts == nil {
				continue
			}
			for _, p := range ts.Data {
				v := pick(p, aggregation)
				if v == nil || p.TimeStamp == nil || (found && !p.TimeStamp.After(at)) {
					continue
				}
				value, at, found = *v, *p.TimeStamp, true
			}
		}
	}
	return value, at, found
}

func pick(p *armmonitor.MetricValue, aggregation string) *float64 {
	if p == nil {
		return nil
	}
	switch strings.ToLower(aggregation) {
	case "total":
		return p.Total
	case "maximum":
		return p.Maximum
	case "minimum":
		return p.Minimum
	case "count":
		return p.Count
	}
	return p.Average
}
