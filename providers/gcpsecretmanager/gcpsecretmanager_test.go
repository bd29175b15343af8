package gcpsecretmanager_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/gcpsecretmanager"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
)

var target = driver.Target{Service: "billing", Environment: "prod", Cloud: "gcp", Boundary: "public", Region: "europe-west3"}

// TestResolve reads secrets with the real Secret Manager client from the
// in-process gRPC fake: the latest version in the target's project (a
// slash of the name read as a dash), a rotated value at the next read, and
// errors by code: a missing secret is NotFound, a disabled version or a
// payload that is not text Invalid, and a quota exceeded past the retries
// Throttled (once is retried inside).
func TestResolve(t *testing.T) {
	fake, err := gcpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ctx := context.Background()
	r, err := gcpfake.NewDriver(ctx, fake, "acme-prod", gcpsecretmanager.New)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fake.AddSecretVersion("acme-prod", "billing-db-password", []byte("s3cr3t-v1"))
	fake.AddSecretVersion("acme-other", "billing-db-password", []byte("s3cr3t-other"))
	fake.AddSecretVersion("acme-prod", "billing-binary", []byte{0xff, 0xfe})
	fake.AddSecretVersion("acme-prod", "billing-disabled", []byte("s3cr3t-disabled"))
	fake.DisableLatestSecretVersion("acme-prod", "billing-disabled")

	if v, err := r.Resolve(ctx, target, "billing/db-password"); v != "s3cr3t-v1" || err != nil {
		t.Fatalf("Resolve = %q, %v", v, err)
	}
	fake.AddSecretVersion("acme-prod", "billing-db-password", []byte("s3cr3t-v2"))
	if v, _ := r.Resolve(ctx, target, "billing/db-password"); v != "s3cr3t-v2" {
		t.Errorf("after a rotation Resolve = %q, want the latest version", v)
	}
	fake.Throttle(1)
	if v, err := r.Resolve(ctx, target, "billing/db-password"); v != "s3cr3t-v2" || err != nil {
		t.Errorf("once throttled: %q, %v; want the value after a retry", v, err)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		code  driver.Code
	}{
		{"billing/missing", func() {}, driver.NotFound},
		{"billing/binary", func() {}, driver.Invalid},
		{"billing/disabled", func() {}, driver.Invalid},
		{"billing/db-password", func() { fake.Throttle(4) }, driver.Throttled},
	} {
		tc.setup()
		_, err := r.Resolve(ctx, target, tc.name)
		if r.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v (code %v), want %v", tc.name, err, r.ErrorCode(err), tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error holds a secret's value: %v", tc.name, err)
		}
	}
	other := target
	other.Boundary = "fr-sovereign"
	if _, err := r.Resolve(ctx, other, "billing/db-password"); r.ErrorCode(err) != driver.Invalid {
		t.Errorf("a target of another boundary: %v, want invalid", err)
	}
}

func TestSecretID(t *testing.T) {
	for name, want := range map[string]string{"billing/db-password": "billing-db-password", "db_pass": "db_pass", "a.b": ""} {
		got, err := gcpsecretmanager.SecretID(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("SecretID(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}
