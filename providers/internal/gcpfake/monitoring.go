package gcpfake

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	monitoredrespb "google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type monitoringState struct {
	policies map[string][]*monitoringpb.AlertPolicy // by project
	series   map[string][]*monitoringpb.TimeSeries  // by project
}

func newMonitoringState() monitoringState {
	return monitoringState{policies: map[string][]*monitoringpb.AlertPolicy{}, series: map[string][]*monitoringpb.TimeSeries{}}
}

// AddAlertPolicy stores an alert policy in project and returns its name.
func (s *Server) AddAlertPolicy(project string, p *monitoringpb.AlertPolicy) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = proto.Clone(p).(*monitoringpb.AlertPolicy)
	p.Name = fmt.Sprintf("projects/%s/alertPolicies/%d", project, s.tick())
	for i, c := range p.Conditions {
		c.Name = fmt.Sprintf("%s/conditions/%d", p.Name, i)
	}
	s.monitoring.policies[project] = append(s.monitoring.policies[project], p)
	return p.Name
}

// SetTimeSeries stores ts in project, replacing the series with the same
// metric and resource (type and labels).
func (s *Server) SetTimeSeries(project string, ts *monitoringpb.TimeSeries) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts = proto.Clone(ts).(*monitoringpb.TimeSeries)
	list := s.monitoring.series[project]
	for i, old := range list {
		if proto.Equal(old.Metric, ts.Metric) && proto.Equal(old.Resource, ts.Resource) {
			list[i] = ts
			return
		}
	}
	s.monitoring.series[project] = append(list, ts)
}

// DeleteTimeSeries removes the series of metric and resource from project,
// so that queries for it find no data.
func (s *Server) DeleteTimeSeries(project string, metric *metricpb.Metric, resource *monitoredrespb.MonitoredResource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.monitoring.series[project] = slices.DeleteFunc(s.monitoring.series[project], func(ts *monitoringpb.TimeSeries) bool {
		return proto.Equal(ts.Metric, metric) && proto.Equal(ts.Resource, resource)
	})
}

// Point returns a time series point of value at time at.
func Point(at time.Time, value float64) *monitoringpb.Point {
	return &monitoringpb.Point{
		Interval: &monitoringpb.TimeInterval{EndTime: timestamppb.New(at)},
		Value:    &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_DoubleValue{DoubleValue: value}},
	}
}

func project(name string) (string, error) {
	p, ok := strings.CutPrefix(name, "projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", status.Errorf(codes.InvalidArgument, "name %q must be projects/PROJECT", name)
	}
	return p, nil
}

// term is one `key = "value"` clause of a Monitoring filter.
type term struct{ key, value string }

// parseFilter reads the conjunctive subset of the Monitoring filter
// language: clauses `key = "value"` joined by AND, optionally parenthesized.
func parseFilter(f string) ([]term, error) {
	var terms []term
	for _, part := range strings.Split(f, " AND ") {
		part = strings.TrimSpace(part)
		part = strings.TrimSpace(strings.TrimRight(strings.TrimLeft(part, "("), ")"))
		key, value, ok := strings.Cut(part, "=")
		value = strings.TrimSpace(value)
		if !ok || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' || strings.Contains(value[1:len(value)-1], `"`) {
			return nil, status.Errorf(codes.InvalidArgument, "filter %q: this fake understands only `key = \"value\"` clauses joined by AND", f)
		}
		terms = append(terms, term{strings.TrimSpace(key), value[1 : len(value)-1]})
	}
	return terms, nil
}

func matches(ts *monitoringpb.TimeSeries, terms []term) bool {
	for _, t := range terms {
		var got string
		switch {
		case t.key == "metric.type":
			got = ts.GetMetric().GetType()
		case t.key == "resource.type":
			got = ts.GetResource().GetType()
		case strings.HasPrefix(t.key, "metric.label"):
			got = ts.GetMetric().GetLabels()[t.key[strings.LastIndex(t.key, ".")+1:]]
		case strings.HasPrefix(t.key, "resource.label"):
			got = ts.GetResource().GetLabels()[t.key[strings.LastIndex(t.key, ".")+1:]]
		default:
			return false
		}
		if got != t.value {
			return false
		}
	}
	return true
}

type alertPolicies struct {
	monitoringpb.UnimplementedAlertPolicyServiceServer
	s *Server
}

// ListAlertPolicies supports the filter `display_name = "NAME"`.
func (h *alertPolicies) ListAlertPolicies(_ context.Context, req *monitoringpb.ListAlertPoliciesRequest) (*monitoringpb.ListAlertPoliciesResponse, error) {
	p, err := project(req.Name)
	if err != nil {
		return nil, err
	}
	var want string
	if req.Filter != "" {
		terms, err := parseFilter(req.Filter)
		if err != nil {
			return nil, err
		}
		if len(terms) != 1 || terms[0].key != "display_name" {
			return nil, status.Errorf(codes.InvalidArgument, "filter %q: this fake filters alert policies on display_name only", req.Filter)
		}
		want = terms[0].value
	}
	resp := &monitoringpb.ListAlertPoliciesResponse{}
	for _, ap := range h.s.monitoring.policies[p] {
		if want == "" || ap.DisplayName == want {
			resp.AlertPolicies = append(resp.AlertPolicies, proto.Clone(ap).(*monitoringpb.AlertPolicy))
		}
	}
	resp.TotalSize = int32(len(resp.AlertPolicies))
	return resp, nil
}

type metrics struct {
	monitoringpb.UnimplementedMetricServiceServer
	s *Server
}

// ListTimeSeries returns the matching series with their points inside the
// interval, newest first, aligned and reduced when an aggregation asks.
func (h *metrics) ListTimeSeries(_ context.Context, req *monitoringpb.ListTimeSeriesRequest) (*monitoringpb.ListTimeSeriesResponse, error) {
	p, err := project(req.Name)
	if err != nil {
		return nil, err
	}
	terms, err := parseFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	if req.GetInterval().GetEndTime() == nil {
		return nil, status.Error(codes.InvalidArgument, "interval.end_time is required")
	}
	end := req.Interval.EndTime.AsTime()
	start := end.Add(-time.Nanosecond) // an interval without a start is the instant end
	if req.Interval.StartTime != nil {
		start = req.Interval.StartTime.AsTime()
	}
	var found []*monitoringpb.TimeSeries
	for _, ts := range h.s.monitoring.series[p] {
		if !matches(ts, terms) {
			continue
		}
		out := proto.Clone(ts).(*monitoringpb.TimeSeries)
		out.Points = nil
		for _, pt := range ts.Points {
			at := pt.GetInterval().GetEndTime().AsTime()
			if at.After(start) && !at.After(end) {
				out.Points = append(out.Points, pt)
			}
		}
		if len(out.Points) > 0 {
			found = append(found, out)
		}
	}
	found, err = aggregate(found, req.Aggregation, end)
	if err != nil {
		return nil, err
	}
	return &monitoringpb.ListTimeSeriesResponse{TimeSeries: found}, nil
}

func value(pt *monitoringpb.Point) float64 {
	switch v := pt.GetValue().GetValue().(type) {
	case *monitoringpb.TypedValue_DoubleValue:
		return v.DoubleValue
	case *monitoringpb.TypedValue_Int64Value:
		return float64(v.Int64Value)
	}
	return math.NaN()
}

// combine folds values with an aligner's or reducer's function.
func combine(fn string, vs []float64) float64 {
	out := vs[0]
	for _, v := range vs[1:] {
		switch fn {
		case "MAX":
			out = max(out, v)
		case "MIN":
			out = min(out, v)
		default: // SUM and MEAN
			out += v
		}
	}
	switch fn {
	case "MEAN":
		return out / float64(len(vs))
	case "COUNT":
		return float64(len(vs))
	}
	return out
}

// aggregate applies a per-series aligner (MEAN, MAX, MIN, SUM, COUNT) over
// alignment periods ending at end, then a cross-series reducer (MEAN, MAX,
// MIN, SUM) into one series.
func aggregate(series []*monitoringpb.TimeSeries, agg *monitoringpb.Aggregation, end time.Time) ([]*monitoringpb.TimeSeries, error) {
	aligner := strings.TrimPrefix(agg.GetPerSeriesAligner().String(), "ALIGN_")
	reducer := strings.TrimPrefix(agg.GetCrossSeriesReducer().String(), "REDUCE_")
	if aligner == "NONE" {
		if reducer != "NONE" {
			return nil, status.Error(codes.InvalidArgument, "aggregation.cross_series_reducer needs a per_series_aligner")
		}
		return series, nil
	}
	if !strings.Contains(" MEAN MAX MIN SUM COUNT ", " "+aligner+" ") || !strings.Contains(" NONE MEAN MAX MIN SUM ", " "+reducer+" ") {
		return nil, status.Errorf(codes.InvalidArgument, "aggregation %s/%s is not supported by this fake", aligner, reducer)
	}
	period := agg.GetAlignmentPeriod().AsDuration()
	if period <= 0 {
		return nil, status.Error(codes.InvalidArgument, "aggregation.alignment_period is required with a per_series_aligner")
	}
	buckets := func(ts *monitoringpb.TimeSeries) map[int][]float64 {
		b := map[int][]float64{}
		for _, pt := range ts.Points {
			k := int(end.Sub(pt.GetInterval().GetEndTime().AsTime()) / period)
			b[k] = append(b[k], value(pt))
		}
		return b
	}
	aligned := map[int][]float64{} // bucket → one value per series, for the reducer
	for _, ts := range series {
		b := buckets(ts)
		ts.Points = nil
		for k := 0; len(b) > 0; k++ {
			vs, ok := b[k]
			if !ok {
				continue
			}
			delete(b, k)
			v := combine(aligner, vs)
			aligned[k] = append(aligned[k], v)
			ts.Points = append(ts.Points, Point(end.Add(-time.Duration(k)*period), v))
		}
	}
	if reducer == "NONE" || len(series) == 0 {
		return series, nil
	}
	out := &monitoringpb.TimeSeries{Metric: series[0].Metric, Resource: series[0].Resource, MetricKind: series[0].MetricKind, ValueType: series[0].ValueType}
	for _, k := range sortedKeys(aligned) {
		out.Points = append(out.Points, Point(end.Add(-time.Duration(k)*period), combine(reducer, aligned[k])))
	}
	return []*monitoringpb.TimeSeries{out}, nil
}

func sortedKeys(m map[int][]float64) []int { return slices.Sorted(maps.Keys(m)) }
