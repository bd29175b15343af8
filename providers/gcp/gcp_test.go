package gcp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-deploy/meridian/placement"
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
	target := func(env, cell, boundary string) placement.Target {
		return placement.Target{Service: "billing", Environment: env, Cloud: "gcp", Boundary: boundary, Region: "europe-west3", Cell: cell}
	}
	for _, tc := range []struct {
		t    placement.Target
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
		{Errorf(driver.Failed, "revision failed"), driver.Failed},
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
