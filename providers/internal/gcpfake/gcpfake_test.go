package gcpfake

import (
	"context"
	"fmt"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"
	metricpb "google.golang.org/genproto/googleapis/api/metric"
	monitoredrespb "google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func startFake(t *testing.T) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func code(err error) codes.Code { return status.Code(err) }

// TestServiceLifecycle drives the Cloud Run fake with the real client: the
// operation completes only once the revision is ready, and writers that
// raced (stale etag) or name an existing revision are refused.
func TestServiceLifecycle(t *testing.T) {
	s := startFake(t)
	s.SetReadyAfter(4)
	ctx := context.Background()
	client, err := run.NewServicesClient(ctx, s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	op, err := client.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/p/locations/europe-west3", ServiceId: "api",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Revision: "api-00001-v1", Containers: []*runpb.Container{{Image: "img:v1"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	polls := 0
	for !op.Done() {
		if _, err := op.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		polls++
	}
	svc, err := op.Poll(ctx)
	if err != nil || svc.LatestReadyRevision != "projects/p/locations/europe-west3/services/api/revisions/api-00001-v1" ||
		len(svc.TrafficStatuses) != 1 || svc.TrafficStatuses[0].Revision != "api-00001-v1" {
		t.Fatalf("completed operation = %v, %v; want the ready revision serving all traffic", svc, err)
	}
	if polls < 2 {
		t.Errorf("operation completed after %d polls, want it to take a few", polls)
	}

	stale := svc.Etag
	svc.Template.Containers[0].Image = "img:v2"
	svc.Template.Revision = "api-00002-v2"
	if _, err := client.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc}); err != nil {
		t.Fatal(err)
	}
	svc.Etag = stale
	if _, err := client.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc}); code(err) != codes.Aborted {
		t.Fatalf("update with a stale etag: %v, want ABORTED", err)
	}
	svc.Etag = ""
	svc.Template.Containers[0].Image = "img:v3"
	if _, err := client.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc}); code(err) != codes.AlreadyExists {
		t.Fatalf("update reusing a revision name: %v, want ALREADY_EXISTS", err)
	}
}

func TestListTimeSeries(t *testing.T) {
	s := startFake(t)
	ctx := context.Background()
	client, err := monitoring.NewMetricClient(ctx, s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	now := time.Now()
	for _, v := range []float64{1, 5} {
		s.SetTimeSeries("p", &monitoringpb.TimeSeries{
			Metric: metric("m"), Resource: resource(map[string]string{"location": "r", "v": fmt.Sprint(v)}),
			Points: []*monitoringpb.Point{Point(now.Add(-time.Minute), v), Point(now.Add(-2*time.Minute), v+2)},
		})
	}
	list := func(filter string, agg *monitoringpb.Aggregation) ([]*monitoringpb.TimeSeries, error) {
		it := client.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
			Name: "projects/p", Filter: filter, Aggregation: agg,
			Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(now.Add(-5 * time.Minute)), EndTime: timestamppb.New(now)},
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
			out = append(out, ts)
		}
	}
	got, err := list(`metric.type = "m" AND resource.labels.location = "r"`, &monitoringpb.Aggregation{
		AlignmentPeriod: durationpb.New(5 * time.Minute), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_MEAN,
		CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_MAX,
	})
	if err != nil || len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].Value.GetDoubleValue() != 6 {
		t.Fatalf("mean per series then max across = %v, %v; want one point of 6", got, err)
	}
	if got, err := list(`metric.type = "m" AND resource.labels.location = "elsewhere"`, nil); err != nil || len(got) != 0 {
		t.Fatalf("another location = %v, %v; want nothing", got, err)
	}
	if _, err := list(`metric.type = "m" OR metric.type = "n"`, nil); code(err) != codes.InvalidArgument {
		t.Fatalf("a filter with OR: %v, want INVALID_ARGUMENT", err)
	}
}

func metric(typ string) *metricpb.Metric { return &metricpb.Metric{Type: typ} }

func resource(labels map[string]string) *monitoredrespb.MonitoredResource {
	return &monitoredrespb.MonitoredResource{Type: "generic_task", Labels: labels}
}
