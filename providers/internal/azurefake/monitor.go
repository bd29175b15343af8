package azurefake

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Metric alert statuses the fake reports (MetricAlertStatusProperties.status).
const (
	AlertHealthy   = "Healthy"
	AlertUnhealthy = "Unhealthy"
	// AlertNoData makes the status list empty: the rule has not evaluated.
	AlertNoData = ""
)

// alert is a metric alert rule and its current status.
type alert struct {
	id, name string
	enabled  bool
	status   string
}

// SetAlert creates or updates the metric alert rule sub/rg/name with
// status (AlertHealthy, AlertUnhealthy or AlertNoData).
func (s *Server) SetAlert(sub, rg, name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := appKey(sub, rg, name)
	a := s.alerts[key]
	if a == nil {
		a = &alert{id: "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Insights/metricAlerts/" + name, name: name, enabled: true}
		s.alerts[key] = a
	}
	a.status = status
}

// SetMetric sets the value the metric name of the resource with id reports
// from now on; nil means no data.
func (s *Server) SetMetric(resourceID, name string, value *float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics[strings.ToLower(resourceID+"|"+name)] = value
}

// serveAlert serves GET metricAlerts/{rule} and metricAlerts/{rule}/status.
// path is lowercased.
func (s *Server) serveAlert(method, path string) (any, *apiError) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if method != http.MethodGet || len(parts) < 8 || parts[2] != "resourcegroups" {
		return nil, errorf(http.StatusMethodNotAllowed, "UnsupportedOperation", "%s %s is not supported", method, path)
	}
	a := s.alerts[appKey(parts[1], parts[3], parts[7])]
	if a == nil {
		return nil, errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Insights/metricAlerts/%s' under resource group '%s' was not found.", parts[7], parts[3])
	}
	if len(parts) == 9 && parts[8] == "status" {
		value := []any{}
		if a.status != AlertNoData {
			value = append(value, map[string]any{
				"name": "cmVzb3VyY2VJZD0" + a.name,
				"id":   a.id,
				"type": "Microsoft.Insights/metricAlerts/status",
				"properties": map[string]any{
					"dimensions": map[string]string{},
					"status":     a.status,
					"timestamp":  time.Now().UTC().Format(time.RFC3339),
				},
			})
		}
		return map[string]any{"value": value}, nil
	}
	return map[string]any{
		"id":       a.id,
		"name":     a.name,
		"type":     "Microsoft.Insights/metricAlerts",
		"location": "global",
		"properties": map[string]any{
			"description":         "",
			"severity":            2,
			"enabled":             a.enabled,
			"scopes":              []string{},
			"evaluationFrequency": "PT1M",
			"windowSize":          "PT5M",
			"autoMitigate":        true,
			"criteria": map[string]any{
				"odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
				"allOf":      []any{},
			},
		},
	}, nil
}

// listMetrics serves GET {resource}/providers/Microsoft.Insights/metrics.
// resource is lowercased.
func (s *Server) listMetrics(resource string, q url.Values) (any, *apiError) {
	names := q.Get("metricnames")
	if names == "" {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "metricnames is required")
	}
	aggregation := q.Get("aggregation")
	if aggregation == "" {
		aggregation = "Average"
	}
	var value []any
	for _, name := range strings.Split(names, ",") {
		v, ok := s.metrics[strings.ToLower(resource+"|"+name)]
		if !ok {
			return nil, errorf(http.StatusBadRequest, "BadRequest", "Failed to find metric configuration for provider: Microsoft.App, resource Type: containerApps, metric: %s", name)
		}
		point := map[string]any{"timeStamp": time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339)}
		if v != nil {
			for _, agg := range strings.Split(aggregation, ",") {
				point[strings.ToLower(agg[:1])+agg[1:]] = *v
			}
		}
		value = append(value, map[string]any{
			"id":         resource + "/providers/Microsoft.Insights/metrics/" + name,
			"type":       "Microsoft.Insights/metrics",
			"name":       map[string]string{"value": name, "localizedValue": name},
			"unit":       "Count",
			"timeseries": []any{map[string]any{"metadatavalues": []any{}, "data": []any{point}}},
		})
	}
	return map[string]any{
		"timespan":       q.Get("timespan"),
		"interval":       q.Get("interval"),
		"namespace":      "Microsoft.App/containerApps",
		"resourceregion": "",
		"value":          value,
	}, nil
}
