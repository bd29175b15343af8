package gcprun_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
	"github.com/meridian-deploy/meridian/regions"
)

// TestCredentialsStayOutOfErrors authenticates with an access token, the
// way Application Default Credentials do, and checks that the token
// reaches the API in the authorization header only: no error of the driver
// carries it, and a public-universe token is refused, before any request
// leaves, by a driver of the sovereign boundary.
func TestCredentialsStayOutOfErrors(t *testing.T) {
	const token = "ya29.meridian-fake-access-token"
	fake, err := gcpfake.StartTLS()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	newDriver := func(boundary string) *gcprun.Driver {
		b, _ := regions.Default().Boundary("gcp", boundary)
		opts := fake.DriverOptions(project)
		opts.ClientOptions = fake.TokenClientOptions(token)
		d, err := gcprun.New(context.Background(), b, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	ctx := context.Background()
	d := newDriver("public")
	var errs []error
	dep, err := d.Deploy(ctx, driver.DeployRequest{Target: target, Image: image, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if !fake.SawToken(token) {
		t.Fatal("the fake never saw the access token")
	}
	_, err = d.Status(ctx, target, "billing-00042-nope")
	errs = append(errs, err)
	fake.Throttle(100)
	errs = append(errs, d.Rollback(ctx, target, dep.Revision))
	fake.Throttle(0)
	_, err = d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c1", Data: []byte("{")})
	errs = append(errs, err)

	calls := fake.Calls("/google.cloud.run.v2.Services/GetService")
	sovereign := target
	sovereign.Boundary, sovereign.Region = "fr-sovereign", "u-france-east1"
	_, err = newDriver("fr-sovereign").Deploy(ctx, driver.DeployRequest{Target: sovereign, Image: image, Version: "v1"})
	if d.ErrorCode(err) != driver.PermissionDenied {
		t.Errorf("sovereign driver with a public token: %v (code %v), want permission-denied", err, d.ErrorCode(err))
	}
	if fake.Calls("/google.cloud.run.v2.Services/GetService") != calls {
		t.Error("a request with a public-universe token reached the API through the sovereign driver")
	}
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("a call expected to fail succeeded")
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "meridian-fake") {
			t.Errorf("error carries the access token: %v", err)
		}
	}
}
