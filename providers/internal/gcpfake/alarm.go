package gcpfake

import (
	"fmt"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	monitoredrespb "google.golang.org/genproto/googleapis/api/monitoredres"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// alarmMetric is the metric behind the alert policies AddAlarm creates.
const alarmMetric = "custom.googleapis.com/meridian/alarm"

// AddAlarm makes sure project has an alert policy named name that fires
// while the alarm's value (set per region with SetAlarm) is above 0. It is
// a convenience over AddAlertPolicy and SetTimeSeries for tests that gate
// on alarm names.
func (s *Server) AddAlarm(project, name string) {
	s.mu.Lock()
	for _, p := range s.monitoring.policies[project] {
		if p.DisplayName == name {
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	s.AddAlertPolicy(project, &monitoringpb.AlertPolicy{
		DisplayName: name,
		Combiner:    monitoringpb.AlertPolicy_OR,
		Conditions: []*monitoringpb.AlertPolicy_Condition{{
			DisplayName: name + " above 0",
			Condition: &monitoringpb.AlertPolicy_Condition_ConditionThreshold{ConditionThreshold: &monitoringpb.AlertPolicy_Condition_MetricThreshold{
				Filter:         fmt.Sprintf("metric.type = %q AND metric.labels.alarm = %q", alarmMetric, name),
				Comparison:     monitoringpb.ComparisonType_COMPARISON_GT,
				ThresholdValue: 0,
			}},
		}},
	})
}

// SetAlarm sets what the alarm reports in region from now on: a value of 0
// (healthy), 1 (unhealthy, the policy fires), or no data (unknown).
func (s *Server) SetAlarm(project, name, region string, h driver.Health) {
	metric := &metricpb.Metric{Type: alarmMetric, Labels: map[string]string{"alarm": name}}
	resource := &monitoredrespb.MonitoredResource{Type: "generic_task", Labels: map[string]string{"project_id": project, "location": region, "namespace": "meridian", "job": name, "task_id": "0"}}
	if h == driver.HealthUnknown {
		s.DeleteTimeSeries(project, metric, resource)
		return
	}
	value := 0.0
	if h == driver.Unhealthy {
		value = 1
	}
	s.SetTimeSeries(project, &monitoringpb.TimeSeries{Metric: metric, Resource: resource, Points: []*monitoringpb.Point{Point(time.Now(), value)}})
}
