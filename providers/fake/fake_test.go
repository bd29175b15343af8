package fake_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// harness runs the conformance suite against the fake, so that tests
// written against it hold for real drivers too.
type harness struct {
	d *fake.Driver
}

var targets atomic.Int64

func (h *harness) Deployer(context.Context) (driver.Deployer, error) { return h.d, nil }

// Target returns a fresh target already running revision v0, like a
// service Meridian takes over.
func (h *harness) Target(context.Context) (placement.Target, error) {
	t := placement.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: fmt.Sprintf("r%d", targets.Add(1))}
	h.d.SetLive(t, "v0")
	return t, nil
}
func (h *harness) LiveRevision(placement.Target) string           { return "v0" }
func (h *harness) Image() string                                  { return "registry.example.com/svc" }
func (h *harness) FailVersion(t placement.Target, version string) { h.d.FailVersion(t, version) }
func (h *harness) Gate(placement.Target) placement.Gate {
	return placement.Gate{Name: "healthz", HTTP: &placement.HTTPGate{Path: "/healthz"}}
}
func (h *harness) SetHealth(t placement.Target, hl driver.Health) { h.d.SetHealth(t, hl) }
func (h *harness) Throttle(n int)                                 { h.d.Throttle(n) }
func (h *harness) Close()                                         {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{d: fake.New(&fake.Options{Progress: 2})}, nil
	})
}

func TestProviderWrapsErrorsOnce(t *testing.T) {
	ctx := context.Background()
	d := fake.New(nil)
	p := providers.New(d, nil)
	tg := placement.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "r"}
	d.SetFaults(tg, fake.Faults{Deploy: driver.PermissionDenied})
	_, err := p.Deploy(ctx, driver.DeployRequest{Target: tg, Version: "v1"})
	if providers.Code(err) != driver.PermissionDenied {
		t.Fatalf("Code(%v) = %v, want permission-denied", err, providers.Code(err))
	}
	var perr *providers.Error
	if !errors.As(err, &perr) || perr.Op != "deploy" {
		t.Fatalf("error %#v is not a *providers.Error for deploy", err)
	}
	d.Throttle(1)
	if _, err := p.Status(ctx, tg, "v1"); providers.Code(err) != driver.Throttled || !providers.Code(err).Retryable() {
		t.Fatalf("throttled status: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Rollback(cctx, tg, "v0"); providers.Code(err) != driver.Canceled {
		t.Fatalf("canceled rollback: %v (%v)", err, providers.Code(err))
	}
}

func TestSetFallsBackToTheCloudAndNamesWhatIsMissing(t *testing.T) {
	gov, public := providers.New(fake.New(nil), nil), providers.New(fake.New(nil), nil)
	set := providers.NewSet().Add("aws", "aws-us-gov", gov).Add("aws", "", public)
	if p, _ := set.For(placement.Target{Cloud: "aws", Boundary: "aws-us-gov"}); p != gov {
		t.Error("gov target did not get the gov provider")
	}
	if p, _ := set.For(placement.Target{Cloud: "aws", Boundary: "aws"}); p != public {
		t.Error("public target did not get the cloud's fallback provider")
	}
	_, err := set.For(placement.Target{Cloud: "gcp", Boundary: "gcp"})
	if providers.Code(err) != driver.Invalid || err == nil {
		t.Fatalf("missing provider: %v", err)
	}
}

func TestMissingCapabilityIsInvalid(t *testing.T) {
	p := providers.New(deployerOnly{fake.New(nil)}, nil)
	_, err := p.ApplyConfig(context.Background(), driver.ConfigRequest{})
	if providers.Code(err) != driver.Invalid {
		t.Fatalf("ApplyConfig on a deployer without config: %v", err)
	}
	if p.HasSharder() {
		t.Error("a deployer without a sharder reports one")
	}
}

// deployerOnly hides the fake's optional capabilities.
type deployerOnly struct{ d *fake.Driver }

func (o deployerOnly) ErrorCode(err error) driver.Code { return o.d.ErrorCode(err) }
func (o deployerOnly) Deploy(ctx context.Context, r driver.DeployRequest) (driver.Deployment, error) {
	return o.d.Deploy(ctx, r)
}
func (o deployerOnly) Status(ctx context.Context, t placement.Target, rev string) (driver.Status, error) {
	return o.d.Status(ctx, t, rev)
}
func (o deployerOnly) Rollback(ctx context.Context, t placement.Target, rev string) error {
	return o.d.Rollback(ctx, t, rev)
}
