package gcp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	run "cloud.google.com/go/run/apiv2"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

func TestUniverseDomain(t *testing.T) {
	for boundary, want := range map[string]string{"public": "googleapis.com", "fr-sovereign": "s3nsapis.fr"} {
		b, ok := regions.Default().Boundary("gcp", boundary)
		if !ok {
			t.Fatalf("no gcp/%s in the catalog", boundary)
		}
		if got, err := UniverseDomain(b); got != want || err != nil {
			t.Errorf("UniverseDomain(gcp/%s) = %q, %v; want %q", boundary, got, err, want)
		}
	}
	aws, _ := regions.Default().Boundary("aws", "public")
	if _, err := ClientOptions(aws); ErrorCode(err) != driver.Invalid {
		t.Errorf("ClientOptions(aws/public): err %v, want an invalid error", err)
	}
}

func TestProjectConvention(t *testing.T) {
	b, _ := regions.Default().Boundary("gcp", "public")
	scope := Scope{Boundary: b, Settings: map[string]string{"project": "acme-prod", "project.staging": "acme-staging"}}
	target := func(env, cell, boundary string) driver.Target {
		return driver.Target{Service: "billing", Environment: env, Cloud: "gcp", Boundary: boundary, Region: "europe-west3", Cell: cell}
	}
	for _, tc := range []struct {
		t    driver.Target
		want string
		code driver.Code
	}{
		{t: target("prod", "", "public"), want: "acme-prod"},
		{t: target("staging", "", "public"), want: "acme-staging"},
		{t: target("staging", "acme-cell-7", "public"), want: "acme-cell-7"},
		{t: target("prod", "", "fr-sovereign"), code: driver.Invalid},
	} {
		got, err := scope.Project(tc.t)
		if got != tc.want || (err == nil) != (tc.code == driver.Unknown) || (err != nil && ErrorCode(err) != tc.code) {
			t.Errorf("Project(%s) = %q, %v; want %q (code %v)", tc.t.ID(), got, err, tc.want, tc.code)
		}
	}
	bare := Scope{Boundary: b}
	if _, err := bare.Project(target("prod", "", "public")); ErrorCode(err) != driver.Invalid {
		t.Errorf("Project without settings: err %v, want invalid", err)
	}
}

func TestErrorCode(t *testing.T) {
	grpcErr := func(c codes.Code) error { return status.Error(c, "boom") }
	apiErr, _ := apierror.FromError(grpcErr(codes.ResourceExhausted))
	for _, tc := range []struct {
		err  error
		want driver.Code
	}{
		{grpcErr(codes.NotFound), driver.NotFound},
		{grpcErr(codes.AlreadyExists), driver.Conflict},
		{grpcErr(codes.Aborted), driver.Conflict},
		{grpcErr(codes.FailedPrecondition), driver.Conflict},
		{grpcErr(codes.ResourceExhausted), driver.Throttled},
		{apiErr, driver.Throttled},
		{fmt.Errorf("update: %w", grpcErr(codes.Unavailable)), driver.Unavailable},
		{grpcErr(codes.PermissionDenied), driver.PermissionDenied},
		{grpcErr(codes.Unauthenticated), driver.PermissionDenied},
		{grpcErr(codes.InvalidArgument), driver.Invalid},
		{grpcErr(codes.Canceled), driver.Canceled},
		{context.Canceled, driver.Canceled},
		{context.DeadlineExceeded, driver.Unavailable},
		{grpcErr(codes.DeadlineExceeded), driver.Unavailable},
		{driver.Errorf(driver.Failed, "revision failed"), driver.Failed},
		{errors.New("unrelated"), driver.Unknown},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryerStopsAfterAttempts(t *testing.T) {
	r := (&Options{Retry: Retry{Attempts: 3, Initial: 1, Max: 1}}).CallOption()
	var settings gax.CallSettings
	r.Resolve(&settings)
	retryer := settings.Retry()
	throttled := status.Error(codes.ResourceExhausted, "quota")
	for i := range 2 {
		if _, ok := retryer.Retry(throttled); !ok {
			t.Fatalf("retry %d refused, want 2 retries", i+1)
		}
	}
	if _, ok := retryer.Retry(throttled); ok {
		t.Fatal("a third retry was allowed, want 3 attempts in all")
	}
	if _, ok := settings.Retry().Retry(status.Error(codes.InvalidArgument, "bad")); ok {
		t.Fatal("an invalid argument was retried")
	}
}

// connection is a Google Cloud client whose dialed target the test reads
// (Connection is deprecated, but the only way to read it).
type connection interface{ Connection() *grpc.ClientConn }

// TestNewClientsUniverseEndpoints checks, without any network, the endpoint
// each GCP boundary's clients dial, for the clients of gcprun (Cloud Run
// services and revisions) and gcpmonitoring (alert policies and metrics).
func TestNewClientsUniverseEndpoints(t *testing.T) {
	opts := &Options{ClientOptions: []option.ClientOption{option.WithoutAuthentication()}}
	for boundary, universe := range map[string]string{"public": "googleapis.com", "fr-sovereign": "s3nsapis.fr"} {
		t.Run(boundary, func(t *testing.T) {
			b, ok := regions.Default().Boundary("gcp", boundary)
			if !ok {
				t.Fatalf("no gcp/%s boundary in the catalog", boundary)
			}
			ctx := context.Background()
			services, revisions, err := NewClients(ctx, b, opts, run.NewServicesClient, run.NewRevisionsClient)
			if err != nil {
				t.Fatal(err)
			}
			defer services.Close()
			defer revisions.Close()
			alerts, metrics, err := NewClients(ctx, b, opts, monitoring.NewAlertPolicyClient, monitoring.NewMetricClient)
			if err != nil {
				t.Fatal(err)
			}
			defer alerts.Close()
			defer metrics.Close()
			for _, c := range []struct {
				name   string
				client connection
				want   string
			}{
				{"services", services, "run." + universe + ":443"},
				{"revisions", revisions, "run." + universe + ":443"},
				{"alert policies", alerts, "monitoring." + universe + ":443"},
				{"metrics", metrics, "monitoring." + universe + ":443"},
			} {
				if got := c.client.Connection().Target(); got != c.want {
					t.Errorf("%s client dials %q, want %q", c.name, got, c.want)
				}
			}
		})
	}
}
