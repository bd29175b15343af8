package providers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

func TestProviderWrapsErrorsOnce(t *testing.T) {
	ctx := context.Background()
	d := fake.New(nil)
	p := providers.New(d, nil)
	tg := placement.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "r"}
	d.SetFaults(tg, fake.Faults{Deploy: driver.PermissionDenied})
	_, err := p.Deploy(ctx, providers.DeployRequest{Target: tg, Version: "v1"})
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
	_, err := p.ApplyConfig(context.Background(), providers.ConfigRequest{})
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
func (o deployerOnly) Status(ctx context.Context, t driver.Target, rev string) (driver.Status, error) {
	return o.d.Status(ctx, t, rev)
}
func (o deployerOnly) Rollback(ctx context.Context, t driver.Target, rev string) error {
	return o.d.Rollback(ctx, t, rev)
}

// recorder is a driver that records what the Provider hands it and fails
// with err, classified as code.
type recorder struct {
	req  driver.DeployRequest
	gate driver.Gate
	err  error
	code driver.Code
}

func (r *recorder) ErrorCode(error) driver.Code { return r.code }
func (r *recorder) Deploy(_ context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	r.req = req
	return driver.Deployment{Revision: req.Version}, r.err
}
func (r *recorder) Status(context.Context, driver.Target, string) (driver.Status, error) {
	return driver.Status{}, r.err
}
func (r *recorder) Rollback(context.Context, driver.Target, string) error { return r.err }
func (r *recorder) EvaluateGate(_ context.Context, _ driver.Target, g driver.Gate) (driver.Observation, error) {
	r.gate = g
	return driver.Observation{Health: driver.Healthy}, r.err
}

// TestProviderConvertsSpecTypes: the driver receives every field of the
// spec's target, sharding and gate, in its own types.
func TestProviderConvertsSpecTypes(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}
	p := providers.New(r, nil)
	tg := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1", Cell: "c7"}
	sharding := &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 2, DrainTimeout: placement.Duration(90 * time.Second)}
	if _, err := p.Deploy(ctx, providers.DeployRequest{Target: tg, Image: "img", Version: "v1", ChangeID: "c", Instances: 3, Sharding: sharding}); err != nil {
		t.Fatal(err)
	}
	want := driver.DeployRequest{
		Target: driver.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1", Cell: "c7"},
		Image:  "img", Version: "v1", ChangeID: "c", Instances: 3,
	}
	if got := r.req; got.Target != want.Target || got.Image != want.Image || got.Version != want.Version || got.ChangeID != want.ChangeID || got.Instances != want.Instances {
		t.Fatalf("driver got %+v, want %+v", got, want)
	}
	if got := r.req.Sharding; got == nil || *got != (driver.Sharding{Sharder: "http-drain", MaxUnavailable: 2, DrainTimeout: 90 * time.Second}) {
		t.Fatalf("driver got sharding %+v", got)
	}
	if r.req.Target.ID() != tg.ID() {
		t.Fatalf("driver target ID %q, spec target ID %q", r.req.Target.ID(), tg.ID())
	}
	if _, err := p.Deploy(ctx, providers.DeployRequest{Target: tg}); err != nil || r.req.Sharding != nil {
		t.Fatalf("no sharding reached the driver as %+v (%v)", r.req.Sharding, err)
	}
	gate := placement.Gate{Name: "g", Interval: placement.Duration(time.Minute), FailureLimit: 2,
		HTTP:   &placement.HTTPGate{Path: "/healthz", Status: 204},
		Alarm:  &placement.AlarmGate{Name: "{service}-errors"},
		Metric: &placement.MetricGate{Name: "5xx", Op: "<", Threshold: 0.01, Window: placement.Duration(5 * time.Minute)}}
	if _, err := p.EvaluateGate(ctx, tg, gate); err != nil {
		t.Fatal(err)
	}
	if g := r.gate; g.Name != "g" || *g.HTTP != (driver.HTTPGate{Path: "/healthz", Status: 204}) || g.Alarm.Name != "{service}-errors" ||
		*g.Metric != (driver.MetricGate{Name: "5xx", Op: "<", Threshold: 0.01, Window: 5 * time.Minute}) {
		t.Fatalf("driver got gate %+v", g)
	}
}

// TestDeadlines follows package driver's rule: a deadline the driver set
// itself keeps the driver's code (Unavailable), and any error once the
// caller's context is done is Canceled.
func TestDeadlines(t *testing.T) {
	tg := placement.Target{Service: "svc", Cloud: "aws"}
	r := &recorder{err: fmt.Errorf("request timed out: %w", context.DeadlineExceeded), code: driver.Unavailable}
	p := providers.New(r, nil)
	if _, err := p.Status(context.Background(), tg, "v1"); providers.Code(err) != driver.Unavailable {
		t.Fatalf("driver's own deadline with the caller's context live: %v (%v), want unavailable", err, providers.Code(err))
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	<-ctx.Done()
	if _, err := p.Status(ctx, tg, "v1"); providers.Code(err) != driver.Canceled {
		t.Fatalf("caller's deadline passed: %v (%v), want canceled", err, providers.Code(err))
	}
	if providers.Code(ctx.Err()) != driver.Canceled || providers.Code(context.Canceled) != driver.Canceled {
		t.Fatal("the caller's own context errors are not canceled")
	}
	if providers.Code(nil) != driver.Unknown || providers.Code(errors.New("other")) != driver.Unknown {
		t.Fatal("nil or an error of the caller's own is not unknown")
	}
}

// TestRemoveAndRestore: the Provider hands Remove and Restore to the
// driver with the target converted, wraps their errors once, restores
// config through ApplyConfig, and reports unsupported (Invalid) for a
// driver without them.
func TestRemoveAndRestore(t *testing.T) {
	ctx := context.Background()
	d := fake.New(nil)
	p := providers.New(d, nil)
	tg := placement.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "r", Cell: "c1"}
	if _, err := p.Deploy(ctx, providers.DeployRequest{Target: tg, Image: "img", Version: "v1", Instances: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyConfig(ctx, providers.ConfigRequest{Target: tg, Version: "c1", Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	r, err := p.Remove(ctx, tg)
	if err != nil || r != (driver.Removal{Revision: "v1", Image: "img", Version: "v1", Instances: 2}) {
		t.Fatalf("Remove = %+v, %v", r, err)
	}
	if live, _ := d.Live(tg); live != "" {
		t.Fatalf("after Remove %s runs %q", tg.ID(), live)
	}
	cr, err := p.RemoveConfig(ctx, tg)
	if err != nil || cr.Revision != "c1" || cr.Version != "c1" || string(cr.Data) != `{"a":1}` {
		t.Fatalf("RemoveConfig = %+v, %v", cr, err)
	}
	if dep, err := p.Restore(ctx, tg, r); err != nil || dep != (driver.Deployment{Revision: "v1", Changed: true}) {
		t.Fatalf("Restore = %+v, %v", dep, err)
	}
	if dep, err := p.RestoreConfig(ctx, tg, cr); err != nil || dep != (driver.Deployment{Revision: "c1", Changed: true}) {
		t.Fatalf("RestoreConfig = %+v, %v", dep, err)
	}
	if dep, err := p.RestoreConfig(ctx, tg, driver.ConfigRemoval{}); err != nil || dep != (driver.Deployment{}) {
		t.Fatalf("RestoreConfig of nothing = %+v, %v; want nothing done", dep, err)
	}
	if live, config := d.Live(tg); live != "v1" || config != "c1" {
		t.Fatalf("after restoring, %s runs %q with config %q", tg.ID(), live, config)
	}
	var ops []string
	for _, c := range d.Calls() {
		if c.Target != tg.ID() {
			t.Fatalf("call %+v on another target than %s", c, tg.ID())
		}
		ops = append(ops, c.Op)
	}
	if want := fmt.Sprint([]string{"deploy", "apply-config", "remove", "remove-config", "restore", "apply-config"}); fmt.Sprint(ops) != want {
		t.Fatalf("driver calls %v, want %s", ops, want)
	}

	d.SetFaults(tg, fake.Faults{Remove: driver.PermissionDenied})
	for op, call := range map[string]func() error{
		"remove":        func() error { _, err := p.Remove(ctx, tg); return err },
		"restore":       func() error { _, err := p.Restore(ctx, tg, r); return err },
		"remove-config": func() error { _, err := p.RemoveConfig(ctx, tg); return err },
	} {
		err := call()
		var perr *providers.Error
		if !errors.As(err, &perr) || perr.Op != op || perr.Code != driver.PermissionDenied || errors.As(perr.Err, new(*providers.Error)) {
			t.Errorf("%s: error %#v, want one *providers.Error for %s with code permission-denied", op, err, op)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Remove(cctx, tg); providers.Code(err) != driver.Canceled {
		t.Fatalf("canceled Remove: %v (%v)", err, providers.Code(err))
	}

	bare := providers.New(deployerOnly{fake.New(nil)}, nil)
	for op, call := range map[string]func() error{
		"remove":         func() error { _, err := bare.Remove(ctx, tg); return err },
		"restore":        func() error { _, err := bare.Restore(ctx, tg, r); return err },
		"remove-config":  func() error { _, err := bare.RemoveConfig(ctx, tg); return err },
		"restore-config": func() error { _, err := bare.RestoreConfig(ctx, tg, cr); return err },
	} {
		if err := call(); providers.Code(err) != driver.Invalid || !errors.Is(err, providers.ErrUnsupported) {
			t.Errorf("%s on a driver without it: %v, want unsupported", op, err)
		}
	}
}

// TestCurrentCombinesDeployerAndConfigurer: Current takes the deploy side
// from the Deployer and the config side from a separate Configurer, and a
// Deployer that cannot survey or list says so with ErrUnsupported.
func TestCurrentCombinesDeployerAndConfigurer(t *testing.T) {
	ctx := context.Background()
	deployer, configurer := fake.New(nil), fake.New(nil)
	tg := placement.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "r"}
	p := providers.New(deployer, &providers.Options{Configurer: configurer})
	if _, err := p.Deploy(ctx, providers.DeployRequest{Target: tg, Image: "img", Version: "v1", ChangeID: "ch1", Instances: 2}); err != nil {
		t.Fatal(err)
	}
	deployer.SetConfig(tg, "ignored") // the Deployer's own config is not the Provider's
	configurer.SetConfig(tg, "c1")
	c, err := p.Current(ctx, tg)
	want := driver.Current{Revision: "v1", Image: "img", Version: "v1", ChangeID: "ch1", State: driver.StateReady, Ready: 2, Desired: 2, ConfigRevision: "c1", ConfigVersion: "c1"}
	if err != nil || c != want {
		t.Fatalf("Current = %+v, %v; want %+v", c, err, want)
	}
	ts, err := p.Managed(ctx, driver.Scope{Cloud: "aws", Boundary: "aws", Region: "r"})
	if err != nil || len(ts) != 1 || ts[0] != tg {
		t.Fatalf("Managed = %v, %v; want [%s]", ts, err, tg.ID())
	}
	only := providers.New(deployerOnly{fake.New(nil)}, nil)
	if _, err := only.Current(ctx, tg); providers.Code(err) != driver.Invalid || !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Current on a deployer that cannot survey: %v", err)
	}
	if _, err := only.Managed(ctx, driver.Scope{}); providers.Code(err) != driver.Invalid || !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Managed on a deployer that cannot list: %v", err)
	}
}

func TestSetOnlyServesOneBoundary(t *testing.T) {
	pub, cloud := providers.New(fake.New(nil), nil), providers.New(fake.New(nil), nil)
	s := providers.NewSet().Add("aws", "public", pub).Add("azure", "", cloud)
	gov := placement.Target{Service: "s", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1"}
	if _, err := s.Only("aws", "public").For(gov); err == nil {
		t.Error("the public boundary's set serves a us-gov target")
	}
	if p, err := s.Only("aws", "public").For(placement.Target{Cloud: "aws", Boundary: "public"}); err != nil || p != pub {
		t.Errorf("the public boundary's set: %v, %v", p, err)
	}
	if p, err := s.Only("azure", "us-gov").For(placement.Target{Cloud: "azure", Boundary: "us-gov"}); err != nil || p != cloud {
		t.Errorf("a boundary served by the cloud's fallback: %v, %v", p, err)
	}
}
