package gcpmonitoring

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/iterator"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// verdict is one condition's evaluation.
type verdict struct {
	health driver.Health
	value  float64
	msg    string
}

// alertPolicy evaluates the alert policy whose display name is name.
func (d *Driver) alertPolicy(ctx context.Context, project string, t driver.Target, name string) (driver.Observation, error) {
	it := d.alerts.ListAlertPolicies(ctx, &monitoringpb.ListAlertPoliciesRequest{
		Name:   "projects/" + project,
		Filter: fmt.Sprintf("display_name = %q", name),
	})
	p, err := it.Next()
	if err == iterator.Done {
		return driver.Observation{}, driver.Errorf(driver.NotFound, "no alert policy named %q in project %s", name, project)
	}
	if err != nil {
		return driver.Observation{}, err
	}
	if e := p.GetEnabled(); e != nil && !e.Value {
		return driver.Observation{Health: driver.HealthUnknown, Message: fmt.Sprintf("alert policy %q is disabled", name)}, nil
	}
	var verdicts []verdict
	for _, c := range p.Conditions {
		v, err := d.condition(ctx, project, t, c)
		if err != nil {
			return driver.Observation{}, fmt.Errorf("alert policy %q: %w", name, err)
		}
		verdicts = append(verdicts, v)
	}
	return combine(name, p.Combiner, verdicts), nil
}

// combine applies the policy's combiner: with OR (the default) one met
// condition fires the policy, with AND every condition must be met.
func combine(name string, c monitoringpb.AlertPolicy_ConditionCombinerType, vs []verdict) driver.Observation {
	all := c == monitoringpb.AlertPolicy_AND || c == monitoringpb.AlertPolicy_AND_WITH_MATCHING_RESOURCE
	counts := map[driver.Health]int{}
	var msgs []string
	obs := driver.Observation{}
	for _, v := range vs {
		counts[v.health]++
		msgs = append(msgs, v.msg)
		if v.health == driver.Unhealthy && obs.Value == 0 {
			obs.Value = v.value
		}
	}
	switch {
	case len(vs) == 0:
		obs.Health = driver.HealthUnknown
	case all && counts[driver.Unhealthy] == len(vs), !all && counts[driver.Unhealthy] > 0:
		obs.Health = driver.Unhealthy
	case counts[driver.HealthUnknown] > 0 && (all && counts[driver.Healthy] == 0 || !all):
		obs.Health = driver.HealthUnknown
	default:
		obs.Health = driver.Healthy
	}
	if obs.Health == driver.Unhealthy {
		obs.Message = fmt.Sprintf("alert policy %q fires: %s", name, strings.Join(msgs, "; "))
	} else {
		obs.Message = fmt.Sprintf("alert policy %q: %s", name, strings.Join(msgs, "; "))
	}
	return obs
}

func (d *Driver) condition(ctx context.Context, project string, t driver.Target, c *monitoringpb.AlertPolicy_Condition) (verdict, error) {
	switch {
	case c.GetConditionThreshold() != nil:
		return d.threshold(ctx, project, t, c.DisplayName, c.GetConditionThreshold())
	case c.GetConditionAbsent() != nil:
		return d.absent(ctx, project, t, c.DisplayName, c.GetConditionAbsent())
	}
	return verdict{}, driver.Errorf(driver.Invalid, "condition %q: only metric-threshold and metric-absence conditions can gate a rollout", c.DisplayName)
}

func (d *Driver) threshold(ctx context.Context, project string, t driver.Target, name string, c *monitoringpb.AlertPolicy_Condition_MetricThreshold) (verdict, error) {
	if c.DenominatorFilter != "" {
		return verdict{}, driver.Errorf(driver.Invalid, "condition %q: ratio conditions (denominator filter) are not supported", name)
	}
	duration := c.GetDuration().AsDuration()
	var agg *monitoringpb.Aggregation
	if len(c.Aggregations) > 0 {
		agg = c.Aggregations[0]
	}
	series, err := d.series(ctx, project, scoped(c.Filter, t), max(duration, lookback), agg)
	if err != nil {
		return verdict{}, err
	}
	if len(series) == 0 {
		return verdict{health: driver.HealthUnknown, msg: fmt.Sprintf("condition %q has no data", name)}, nil
	}
	violating, last := 0, value(series[0].Points[0])
	for _, ts := range series {
		if v, ok := violates(ts.Points, c.Comparison, c.ThresholdValue, duration); ok {
			if violating == 0 {
				last = v
			}
			violating++
		}
	}
	met := violating >= 1
	switch tr := c.GetTrigger().GetType().(type) {
	case *monitoringpb.AlertPolicy_Condition_Trigger_Count:
		met = violating >= int(max(tr.Count, 1))
	case *monitoringpb.AlertPolicy_Condition_Trigger_Percent:
		met = float64(violating)*100 >= tr.Percent*float64(len(series)) && violating > 0
	}
	v := verdict{health: driver.Healthy, value: last,
		msg: fmt.Sprintf("condition %q: %d of %d series %s %g for %s", name, violating, len(series), comparison(c.Comparison), c.ThresholdValue, duration)}
	if met {
		v.health = driver.Unhealthy
	}
	return v, nil
}

// violates reports whether every point of the last duration (the newest
// point when duration is 0) is on the violating side, and the newest value.
func violates(points []*monitoringpb.Point, cmp monitoringpb.ComparisonType, threshold float64, duration time.Duration) (float64, bool) {
	newest := points[0].GetInterval().GetEndTime().AsTime()
	for _, p := range points {
		if newest.Sub(p.GetInterval().GetEndTime().AsTime()) > duration {
			break
		}
		if !compares(cmp, value(p), threshold) {
			return 0, false
		}
	}
	return value(points[0]), true
}

func compares(cmp monitoringpb.ComparisonType, v, threshold float64) bool {
	switch cmp {
	case monitoringpb.ComparisonType_COMPARISON_GT:
		return v > threshold
	case monitoringpb.ComparisonType_COMPARISON_GE:
		return v >= threshold
	case monitoringpb.ComparisonType_COMPARISON_LT:
		return v < threshold
	case monitoringpb.ComparisonType_COMPARISON_LE:
		return v <= threshold
	case monitoringpb.ComparisonType_COMPARISON_EQ:
		return v == threshold
	case monitoringpb.ComparisonType_COMPARISON_NE:
		return v != threshold
	}
	return false
}

func comparison(cmp monitoringpb.ComparisonType) string {
	return map[monitoringpb.ComparisonType]string{
		monitoringpb.ComparisonType_COMPARISON_GT: ">", monitoringpb.ComparisonType_COMPARISON_GE: ">=",
		monitoringpb.ComparisonType_COMPARISON_LT: "<", monitoringpb.ComparisonType_COMPARISON_LE: "<=",
		monitoringpb.ComparisonType_COMPARISON_EQ: "==", monitoringpb.ComparisonType_COMPARISON_NE: "!=",
	}[cmp]
}

func (d *Driver) absent(ctx context.Context, project string, t driver.Target, name string, c *monitoringpb.AlertPolicy_Condition_MetricAbsence) (verdict, error) {
	duration := c.GetDuration().AsDuration()
	if duration <= 0 {
		duration = lookback
	}
	var agg *monitoringpb.Aggregation
	if len(c.Aggregations) > 0 {
		agg = c.Aggregations[0]
	}
	series, err := d.series(ctx, project, scoped(c.Filter, t), duration, agg)
	if err != nil {
		return verdict{}, err
	}
	if len(series) == 0 {
		return verdict{health: driver.Unhealthy, msg: fmt.Sprintf("condition %q: no data for %s", name, duration)}, nil
	}
	return verdict{health: driver.Healthy, value: value(series[0].Points[0]), msg: fmt.Sprintf("condition %q: data present", name)}, nil
}
