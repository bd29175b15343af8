// Package awscloudwatch is Meridian's gate evaluator on Amazon CloudWatch.
//
// An alarm gate names a metric or composite alarm (a template:
// "{service}-5xx" names one alarm per service): OK is healthy, ALARM
// unhealthy and INSUFFICIENT_DATA unknown. A metric gate is healthy while
// the newest datapoint of the metric, over its window, satisfies
// "value <op> threshold"; no datapoint is unknown. The metric's name is
// either "<namespace>/<metric>[:<statistic>]" (AWS/ECS/CPUUtilization:Maximum;
// the statistic defaults to Average) measured with the dimensions in
// Options, or a metric math or Metrics Insights expression (anything with a
// parenthesis or a space), both expanded with the target's {service},
// {environment}, {boundary}, {region} and {cell}.
package awscloudwatch

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// SettingDimensions is the boundary provider setting that package fleet
// reads into Options.Dimensions: comma-separated name=template pairs.
const SettingDimensions = "cloudwatchDimensions"

// Options configure the driver.
type Options struct {
	// Boundary, when set, is the only boundary the driver serves: targets
	// of other boundaries are refused. Set it to the boundary whose
	// credentials cfg holds (the worker of one boundary's task queue).
	Boundary string
	// Dimensions are the dimensions of a metric gate's metric, as templates.
	// Default: ServiceName={service} and ClusterName as awsecs names the
	// cluster ({cell} for a target with a cell, else meridian-{environment}).
	Dimensions map[string]string
	// Now is the clock metric windows end at; default time.Now.
	Now func() time.Time
}

// Driver evaluates alarm and metric gates. It implements driver.GateEvaluator.
type Driver struct {
	clients *awsx.Clients[*cloudwatch.Client]
	opts    Options
}

var _ driver.GateEvaluator = (*Driver)(nil)

// New returns a driver that calls CloudWatch with cfg (see aws.LoadConfig),
// in each target's own region and partition. A nil opts means defaults.
func New(cfg aws.Config, opts *Options) *Driver {
	d := &Driver{}
	if opts != nil {
		d.opts = *opts
	}
	if d.opts.Now == nil {
		d.opts.Now = time.Now
	}
	d.clients = awsx.NewClients(d.opts.Boundary, func(b regions.Boundary, region string) *cloudwatch.Client {
		return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.Region = region
			o.EndpointResolverV2 = endpointResolver{boundary: b}
		})
	})
	return d
}

// endpointResolver resolves CloudWatch endpoints with the SDK's rules, kept
// inside the target's boundary.
type endpointResolver struct{ boundary regions.Boundary }

func (r endpointResolver) ResolveEndpoint(ctx context.Context, p cloudwatch.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, cloudwatch.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "monitoring", r.boundary)
}

// ErrorCode maps CloudWatch and driver errors to portable codes.
func (d *Driver) ErrorCode(err error) driver.Code { return awsx.ErrorCode(err) }

// EvaluateGate observes an alarm or metric gate on the target.
func (d *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	c, err := d.clients.For(t)
	if err != nil {
		return driver.Observation{}, err
	}
	switch {
	case g.Alarm != nil:
		return alarm(ctx, c, driver.Expand(g.Alarm.Name, t))
	case g.Metric != nil:
		return d.metric(ctx, c, t, g.Metric)
	}
	return driver.Observation{}, driver.Errorf(driver.Invalid, "cloudwatch: gate %q is neither an alarm nor a metric gate", g.Name)
}

var alarmHealth = map[types.StateValue]driver.Health{
	types.StateValueOk:               driver.Healthy,
	types.StateValueAlarm:            driver.Unhealthy,
	types.StateValueInsufficientData: driver.HealthUnknown,
}

func alarm(ctx context.Context, c *cloudwatch.Client, name string) (driver.Observation, error) {
	out, err := c.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: []string{name},
		AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm},
	})
	if err != nil {
		return driver.Observation{}, fmt.Errorf("describe alarm %s: %w", name, err)
	}
	var state types.StateValue
	var reason string
	for _, a := range out.MetricAlarms {
		state, reason = a.StateValue, aws.ToString(a.StateReason)
	}
	for _, a := range out.CompositeAlarms {
		state, reason = a.StateValue, aws.ToString(a.StateReason)
	}
	if state == "" {
		return driver.Observation{}, driver.Errorf(driver.NotFound, "cloudwatch alarm %s not found", name)
	}
	h, ok := alarmHealth[state]
	if !ok {
		h = driver.HealthUnknown
	}
	return driver.Observation{Health: h, Message: fmt.Sprintf("alarm %s is %s: %s", name, state, reason)}, nil
}

func (d *Driver) metric(ctx context.Context, c *cloudwatch.Client, t driver.Target, m *driver.MetricGate) (driver.Observation, error) {
	healthy, ok := m.HealthyWhen()
	if !ok {
		return driver.Observation{}, driver.Errorf(driver.Invalid, "cloudwatch: metric gate %s: operator %q is not one of <, <=, >, >=", m.Name, m.Op)
	}
	window := time.Duration(m.Window)
	if window <= 0 {
		window = 5 * time.Minute
	}
	// CloudWatch periods of a minute or more are multiples of 60 seconds.
	period := max(60, int32(math.Ceil(window.Minutes()))*60)
	q := types.MetricDataQuery{Id: aws.String("gate"), ReturnData: aws.Bool(true)}
	name := driver.Expand(m.Name, t)
	if strings.ContainsAny(name, "( ") {
		q.Expression, q.Period = &name, &period
	} else {
		stat, err := d.metricStat(name, t, period)
		if err != nil {
			return driver.Observation{}, err
		}
		q.MetricStat = stat
	}
	end := d.opts.Now()
	out, err := c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{q},
		StartTime:         aws.Time(end.Add(-window)),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampDescending,
	})
	if err != nil {
		return driver.Observation{}, fmt.Errorf("get metric data for %s: %w", name, err)
	}
	for _, r := range out.MetricDataResults {
		if len(r.Values) == 0 {
			continue
		}
		v := r.Values[0]
		h := driver.Unhealthy
		if healthy(v) {
			h = driver.Healthy
		}
		return driver.Observation{Health: h, Value: v, Message: fmt.Sprintf("%s = %g, want %s %g", name, v, m.Op, m.Threshold)}, nil
	}
	return driver.Observation{Health: driver.HealthUnknown, Message: fmt.Sprintf("%s has no datapoint in the last %v", name, window)}, nil
}

// metricStat reads "<namespace>/<metric>[:<statistic>]".
func (d *Driver) metricStat(name string, t driver.Target, period int32) (*types.MetricStat, error) {
	name, stat, _ := strings.Cut(name, ":")
	i := strings.LastIndex(name, "/")
	if i <= 0 || i == len(name)-1 {
		return nil, driver.Errorf(driver.Invalid, "cloudwatch: metric %q is not <namespace>/<metric>[:<statistic>] or an expression", name)
	}
	if stat == "" {
		stat = "Average"
	}
	dims := d.opts.Dimensions
	if dims == nil {
		cluster := "meridian-{environment}"
		if t.Cell != "" {
			cluster = "{cell}"
		}
		dims = map[string]string{"ServiceName": "{service}", "ClusterName": cluster}
	}
	var dimensions []types.Dimension
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		dimensions = append(dimensions, types.Dimension{Name: aws.String(k), Value: aws.String(driver.Expand(dims[k], t))})
	}
	return &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String(name[:i]), MetricName: aws.String(name[i+1:]), Dimensions: dimensions},
		Period: &period,
		Stat:   &stat,
	}, nil
}
