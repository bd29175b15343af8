package awssecretsmanager

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

func target(boundary, region string) driver.Target {
	return driver.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: boundary, Region: region}
}

// TestResolve reads secrets with the real SDK client from the fake over
// HTTP: each in its target's region (the request is signed for it), a
// rotated value at the next read, and errors by code: a missing secret is
// NotFound, a binary one Invalid, a store that stays throttled Throttled
// (one briefly throttled is retried by the SDK: 5 attempts in all), and a target of another
// boundary is refused before any call.
func TestResolve(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.PutSecret("eu-west-1", "billing/db-password", "s3cr3t-eu")
	fake.PutSecret("us-east-1", "billing/db-password", "s3cr3t-us")
	fake.PutBinarySecret("eu-west-1", "billing/tls-key", []byte{0xde, 0xad})
	r := New(fake.Config("eu-west-1"), &Options{Boundary: "public"})
	ctx := context.Background()
	resolve := func(tg driver.Target, name string) (string, driver.Code) {
		v, err := r.Resolve(ctx, tg, name)
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("an error holds a secret's value: %v", err)
		}
		if err != nil {
			return v, r.ErrorCode(err)
		}
		return v, driver.Unknown
	}

	if v, code := resolve(target("public", "eu-west-1"), "billing/db-password"); v != "s3cr3t-eu" || code != driver.Unknown {
		t.Errorf("eu-west-1: %q (code %v)", v, code)
	}
	if v, _ := resolve(target("public", "us-east-1"), "billing/db-password"); v != "s3cr3t-us" {
		t.Errorf("us-east-1 read %q: not the region's own secret", v)
	}
	if got := fake.Regions(); !slices.Equal(got, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("requests signed for %v, want each target's region", got)
	}
	fake.PutSecret("eu-west-1", "billing/db-password", "s3cr3t-rotated")
	if v, _ := resolve(target("public", "eu-west-1"), "billing/db-password"); v != "s3cr3t-rotated" {
		t.Errorf("after a rotation: %q", v)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		tg    driver.Target
		code  driver.Code
	}{
		{"billing/missing", func() {}, target("public", "eu-west-1"), driver.NotFound},
		{"billing/tls-key", func() {}, target("public", "eu-west-1"), driver.Invalid},
		{"billing/db-password", func() { fake.Throttle(2) }, target("public", "eu-west-1"), driver.Unknown},
		{"billing/db-password", func() { fake.Throttle(5) }, target("public", "eu-west-1"), driver.Throttled},
		{"billing/db-password", func() { fake.FailNext(1, "AccessDeniedException") }, target("public", "eu-west-1"), driver.PermissionDenied},
		{"billing/db-password", func() {}, target("us-gov", "us-gov-west-1"), driver.Invalid},
	} {
		tc.setup()
		if _, code := resolve(tc.tg, tc.name); code != tc.code {
			t.Errorf("%s on %s: code %v, want %v", tc.name, tc.tg.ID(), code, tc.code)
		}
	}
	if fake.Saw("s3cr3t") {
		t.Error("a request to Secrets Manager held a secret's value")
	}
}

// TestEndpointsPerBoundary resolves (without network) the real endpoint
// each boundary's regions reach: secrets stay in their partition.
func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range []struct{ boundary, region, host string }{
		{"public", "eu-west-1", "secretsmanager.eu-west-1.amazonaws.com"},
		{"us-gov", "us-gov-west-1", "secretsmanager.us-gov-west-1.amazonaws.com"},
		{"china", "cn-north-1", "secretsmanager.cn-north-1.amazonaws.com.cn"},
		{"eu-sovereign", "eusc-de-east-1", "secretsmanager.eusc-de-east-1.amazonaws.eu"},
	} {
		b, err := awsx.Boundary(tc.boundary)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := endpointResolver{boundary: b}.ResolveEndpoint(context.Background(), secretsmanager.EndpointParameters{Region: aws.String(tc.region), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false)})
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.boundary, tc.region, err)
		}
		if ep.URI.Host != tc.host {
			t.Errorf("%s/%s resolves to %s, want %s", tc.boundary, tc.region, ep.URI.String(), tc.host)
		}
	}
}
