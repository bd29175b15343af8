// Package providers holds the portable provider type the rollout engine
// calls. A Provider wraps one driver.Deployer and the optional capabilities
// (config, gates, instance restarts, sharding, decommissioning) the way gocloud.dev's
// blob.Bucket wraps driver.Bucket: drivers return raw SDK errors, the
// Provider wraps each of them once into an *Error carrying the driver's
// Code, and callers branch on Code(err), never on message text.
//
// Config documents name secrets, {"secretRef": "NAME"}, and the Provider
// resolves them in the target's store right before the driver applies the
// document, so that workflows only ever carry the names (secrets.go).
//
// The Provider speaks the spec's types (placement.Target, placement.Gate,
// placement.Sharding) and converts them once per call to the driver
// package's own, so that drivers do not link the spec compiler.
package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Error is a driver error classified by the driver's code.
type Error struct {
	Code driver.Code
	Op   string // the Provider method that failed: "deploy", "status", …
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %v", e.Op, e.Code, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// Code returns the code of the *Error in err's chain, Unknown for nil.
// An error without one is the caller's own, never a driver's (a Provider
// wraps every driver error): Canceled when it is a context error, which
// can only be the caller's context ending (the deadline rule of package
// driver), Unknown otherwise.
func Code(err error) driver.Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return driver.Canceled
	}
	return driver.Unknown
}

// ErrUnsupported is wrapped (with code Invalid) when a Provider is asked for
// a capability its driver does not have.
var ErrUnsupported = errors.New("capability not supported by this provider")

// Options adds optional capabilities to a Provider. A nil field falls back
// to the Deployer itself when it implements the capability.
type Options struct {
	Configurer driver.Configurer
	Gates      driver.GateEvaluator
	Restarter  driver.Restarter
	Sharder    driver.Sharder
	// Secrets resolves the secret references of config documents for
	// ApplyConfig and RestoreConfig (see secrets.go). Without it, a
	// document that references a secret fails with code Invalid.
	Secrets driver.SecretResolver
}

// Provider is the portable type the workflows' activities call.
type Provider struct {
	deployer  driver.Deployer
	remover   driver.Remover
	config    driver.Configurer
	unconfig  driver.ConfigRemover
	gates     driver.GateEvaluator
	restarter driver.Restarter
	sharder   driver.Sharder
	secrets   driver.SecretResolver
	surveyor  driver.Surveyor
	surveyCfg driver.ConfigSurveyor
	lister    driver.Lister
}

// New wraps a Deployer and, from opts or the Deployer itself, the optional
// capabilities. opts may be nil. Remove and Restore are the Deployer's own
// (a driver.Remover), RemoveConfig the Configurer's (a
// driver.ConfigRemover): each removes what that driver deployed. Current
// combines the Deployer's driver.Surveyor with the Configurer's
// driver.ConfigSurveyor, and Managed is the Deployer's driver.Lister.
func New(d driver.Deployer, opts *Options) *Provider {
	if opts == nil {
		opts = &Options{}
	}
	p := &Provider{deployer: d, config: opts.Configurer, gates: opts.Gates, restarter: opts.Restarter, sharder: opts.Sharder, secrets: opts.Secrets}
	if c, ok := d.(driver.Configurer); ok && p.config == nil {
		p.config = c
	}
	if g, ok := d.(driver.GateEvaluator); ok && p.gates == nil {
		p.gates = g
	}
	if r, ok := d.(driver.Restarter); ok && p.restarter == nil {
		p.restarter = r
	}
	if s, ok := d.(driver.Sharder); ok && p.sharder == nil {
		p.sharder = s
	}
	p.remover, _ = d.(driver.Remover)
	p.unconfig, _ = p.config.(driver.ConfigRemover)
	p.surveyor, _ = d.(driver.Surveyor)
	p.surveyCfg, _ = p.config.(driver.ConfigSurveyor)
	p.lister, _ = d.(driver.Lister)
	return p
}

// wrap classifies err once with coder; errors already wrapped pass through.
func wrap(ctx context.Context, coder driver.ErrorCoder, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	code := coder.ErrorCode(err)
	if ctx.Err() != nil {
		code = driver.Canceled // the caller's context is done: see package driver
	}
	return &Error{Code: code, Op: op, Err: err}
}

// DeployRequest asks a Provider for Image:Version to run on Target.
type DeployRequest struct {
	Target  placement.Target
	Image   string
	Version string
	// ChangeID identifies the release; drivers may record it on the revision.
	ChangeID  string
	Instances int
	Sharding  *placement.Sharding
	// Workload is the target's workload, for drivers that deploy one
	// (driver.DeployRequest.Workload).
	Workload []byte
}

// ConfigRequest asks a Provider for a config version on a target.
type ConfigRequest struct {
	Target  placement.Target
	Version string
	// Data is the JSON document, whose secret references
	// ({"secretRef": "NAME"}) the Provider resolves (see Options.Secrets).
	Data []byte
}

// driverTarget is t as drivers see it. The two types have the same
// fields: a field added to one and not the other stops this compiling.
func driverTarget(t placement.Target) driver.Target { return driver.Target(t) }

// driverGate is g as drivers see it; how often and how many times it is
// evaluated is the caller's business.
func driverGate(g placement.Gate) driver.Gate {
	dg := driver.Gate{Name: g.Name}
	if g.HTTP != nil {
		http := driver.HTTPGate(*g.HTTP)
		dg.HTTP = &http
	}
	if g.Alarm != nil {
		alarm := driver.AlarmGate(*g.Alarm)
		dg.Alarm = &alarm
	}
	if g.Workload != nil {
		dg.Workload = &driver.WorkloadGate{}
	}
	if m := g.Metric; m != nil {
		dg.Metric = &driver.MetricGate{Name: m.Name, Op: m.Op, Threshold: m.Threshold, Window: time.Duration(m.Window)}
	}
	return dg
}

// driverSharding is s as drivers see it, nil for nil.
func driverSharding(s *placement.Sharding) *driver.Sharding {
	if s == nil {
		return nil
	}
	return &driver.Sharding{Sharder: s.Sharder, MaxUnavailable: s.MaxUnavailable, DrainTimeout: time.Duration(s.DrainTimeout)}
}

func unsupported(op string) error { return &Error{Code: driver.Invalid, Op: op, Err: ErrUnsupported} }

// Deploy rolls req.Image:req.Version out to req.Target.
func (p *Provider) Deploy(ctx context.Context, req DeployRequest) (driver.Deployment, error) {
	d, err := p.deployer.Deploy(ctx, driver.DeployRequest{
		Target: driverTarget(req.Target), Image: req.Image, Version: req.Version,
		ChangeID: req.ChangeID, Instances: req.Instances, Sharding: driverSharding(req.Sharding),
		Workload: req.Workload,
	})
	return d, wrap(ctx, p.deployer, "deploy", err)
}

// Status reports the rollout progress of revision on t.
func (p *Provider) Status(ctx context.Context, t placement.Target, revision string) (driver.Status, error) {
	s, err := p.deployer.Status(ctx, driverTarget(t), revision)
	return s, wrap(ctx, p.deployer, "status", err)
}

// Rollback makes revision live again on t.
func (p *Provider) Rollback(ctx context.Context, t placement.Target, revision string) error {
	return wrap(ctx, p.deployer, "rollback", p.deployer.Rollback(ctx, driverTarget(t), revision))
}

// Remove decommissions t: everything that runs there stops and is
// forgotten. The Removal names what was live, for Restore.
func (p *Provider) Remove(ctx context.Context, t placement.Target) (driver.Removal, error) {
	if p.remover == nil {
		return driver.Removal{}, unsupported("remove")
	}
	r, err := p.remover.Remove(ctx, driverTarget(t))
	return r, wrap(ctx, p.remover, "remove", err)
}

// Restore compensates Remove: it redeploys the revision r names on t.
func (p *Provider) Restore(ctx context.Context, t placement.Target, r driver.Removal) (driver.Deployment, error) {
	if p.remover == nil {
		return driver.Deployment{}, unsupported("restore")
	}
	d, err := p.remover.Restore(ctx, driverTarget(t), r)
	return d, wrap(ctx, p.remover, "restore", err)
}

// RemoveConfig removes t's config. The ConfigRemoval names the config
// that was live, for RestoreConfig; its document holds the secret
// references it was applied with, never their values.
func (p *Provider) RemoveConfig(ctx context.Context, t placement.Target) (driver.ConfigRemoval, error) {
	if p.unconfig == nil {
		return driver.ConfigRemoval{}, unsupported("remove-config")
	}
	r, err := p.unconfig.RemoveConfig(ctx, driverTarget(t))
	return r, wrap(ctx, p.unconfig, "remove-config", err)
}

// RestoreConfig compensates RemoveConfig: it applies the removed config's
// version and document again, resolving its secret references anew.
// Restoring a zero ConfigRemoval (the target had no config) does nothing
// and returns a zero Deployment.
func (p *Provider) RestoreConfig(ctx context.Context, t placement.Target, r driver.ConfigRemoval) (driver.Deployment, error) {
	if p.unconfig == nil {
		return driver.Deployment{}, unsupported("restore-config")
	}
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	return p.applyConfig(ctx, "restore-config", t, r.Version, r.Data)
}

// ApplyConfig applies a config version to a target, with the secrets its
// document references resolved in the target's store.
func (p *Provider) ApplyConfig(ctx context.Context, req ConfigRequest) (driver.Deployment, error) {
	if p.config == nil {
		return driver.Deployment{}, unsupported("apply-config")
	}
	return p.applyConfig(ctx, "apply-config", req.Target, req.Version, req.Data)
}

func (p *Provider) applyConfig(ctx context.Context, op string, t placement.Target, version string, data []byte) (driver.Deployment, error) {
	resolved, source, err := p.resolve(ctx, op, t, data)
	if err != nil {
		return driver.Deployment{}, err
	}
	d, err := p.config.ApplyConfig(ctx, driver.ConfigRequest{Target: driverTarget(t), Version: version, Data: resolved, Source: source})
	return d, wrap(ctx, p.config, op, err)
}

// ConfigStatus reports the progress of a config version on t.
func (p *Provider) ConfigStatus(ctx context.Context, t placement.Target, version string) (driver.Status, error) {
	if p.config == nil {
		return driver.Status{}, unsupported("config-status")
	}
	s, err := p.config.ConfigStatus(ctx, driverTarget(t), version)
	return s, wrap(ctx, p.config, "config-status", err)
}

// RollbackConfig makes version the live config of t again.
func (p *Provider) RollbackConfig(ctx context.Context, t placement.Target, version string) error {
	if p.config == nil {
		return unsupported("rollback-config")
	}
	return wrap(ctx, p.config, "rollback-config", p.config.RollbackConfig(ctx, driverTarget(t), version))
}

// EvaluateGate observes gate g on t.
func (p *Provider) EvaluateGate(ctx context.Context, t placement.Target, g placement.Gate) (driver.Observation, error) {
	if p.gates == nil {
		return driver.Observation{}, unsupported("evaluate-gate")
	}
	o, err := p.gates.EvaluateGate(ctx, driverTarget(t), driverGate(g))
	return o, wrap(ctx, p.gates, "evaluate-gate", err)
}

// Instances lists the instances running on t.
func (p *Provider) Instances(ctx context.Context, t placement.Target) ([]driver.Instance, error) {
	if p.restarter == nil {
		return nil, unsupported("instances")
	}
	is, err := p.restarter.Instances(ctx, driverTarget(t))
	return is, wrap(ctx, p.restarter, "instances", err)
}

// RestartInstance restarts one instance of t in place.
func (p *Provider) RestartInstance(ctx context.Context, t placement.Target, id string) error {
	if p.restarter == nil {
		return unsupported("restart-instance")
	}
	return wrap(ctx, p.restarter, "restart-instance", p.restarter.RestartInstance(ctx, driverTarget(t), id))
}

// HasSharder reports whether restarts drain instances through a sharder.
func (p *Provider) HasSharder() bool { return p.sharder != nil }

// Drain asks the sharder to move every shard off inst.
func (p *Provider) Drain(ctx context.Context, t placement.Target, inst driver.Instance) error {
	if p.sharder == nil {
		return unsupported("drain")
	}
	return wrap(ctx, p.sharder, "drain", p.sharder.Drain(ctx, driverTarget(t), inst))
}

// Owned reports how many shards inst still owns.
func (p *Provider) Owned(ctx context.Context, t placement.Target, inst driver.Instance) (int, error) {
	if p.sharder == nil {
		return 0, unsupported("owned")
	}
	n, err := p.sharder.Owned(ctx, driverTarget(t), inst)
	return n, wrap(ctx, p.sharder, "owned", err)
}

// Undrain lets the sharder assign shards to inst again.
func (p *Provider) Undrain(ctx context.Context, t placement.Target, inst driver.Instance) error {
	if p.sharder == nil {
		return unsupported("undrain")
	}
	return wrap(ctx, p.sharder, "undrain", p.sharder.Undrain(ctx, driverTarget(t), inst))
}

// Current reports what runs on t now: the Deployer's answer (a
// driver.Surveyor) with the config fields from the Configurer's (a
// driver.ConfigSurveyor), left "" when the Provider delivers no config
// or its Configurer cannot tell. Nothing running is a zero Current with
// Desired 0, not an error.
func (p *Provider) Current(ctx context.Context, t placement.Target) (driver.Current, error) {
	if p.surveyor == nil {
		return driver.Current{}, unsupported("current")
	}
	c, err := p.surveyor.Current(ctx, driverTarget(t))
	if err != nil {
		return driver.Current{}, wrap(ctx, p.surveyor, "current", err)
	}
	if p.surveyCfg != nil {
		live, err := p.surveyCfg.CurrentConfig(ctx, driverTarget(t))
		if err != nil {
			return driver.Current{}, wrap(ctx, p.surveyCfg, "current-config", err)
		}
		c.ConfigRevision, c.ConfigVersion = live.Revision, live.Version
	}
	return c, nil
}

// Managed lists the targets in scope on which something Meridian deployed
// runs, for finding those the spec no longer has. A driver that cannot
// tell what Meridian deployed (not a driver.Lister) fails with code
// Invalid wrapping ErrUnsupported.
func (p *Provider) Managed(ctx context.Context, scope driver.Scope) ([]placement.Target, error) {
	if p.lister == nil {
		return nil, unsupported("managed")
	}
	ts, err := p.lister.Managed(ctx, scope)
	if err != nil {
		return nil, wrap(ctx, p.lister, "managed", err)
	}
	out := make([]placement.Target, len(ts))
	for i, t := range ts {
		out[i] = placement.Target(t)
	}
	return out, nil
}

// Set maps (cloud, boundary) to the Provider serving it, and to the one
// serving its Kubernetes targets (placement.Target.Runtime). A worker
// builds one Set at start; it is read-only afterwards and safe for
// concurrent use.
type Set struct {
	byKey map[string]*Provider
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{byKey: map[string]*Provider{}} }

func setKey(runtime, cloud, boundary string) string {
	if runtime != "" {
		return runtime + ":" + cloud + "/" + boundary
	}
	return cloud + "/" + boundary
}

// Add registers p for the cloud and boundary. An empty boundary makes p
// the cloud's fallback for boundaries without a Provider of their own.
func (s *Set) Add(cloud, boundary string, p *Provider) *Set {
	return s.AddRuntime("", cloud, boundary, p)
}

// AddRuntime registers p for the targets of the cloud and boundary that
// runtime runs ("kubernetes"; "" is Add).
func (s *Set) AddRuntime(runtime, cloud, boundary string, p *Provider) *Set {
	s.byKey[setKey(runtime, cloud, boundary)] = p
	return s
}

// Only returns the Set that serves the one boundary: its Providers (or the
// cloud's fallbacks), and nothing else.
func (s *Set) Only(cloud, boundary string) *Set {
	only := NewSet()
	for _, rt := range []string{"", placement.RuntimeKubernetes} {
		if p, ok := s.byKey[setKey(rt, cloud, boundary)]; ok {
			only.AddRuntime(rt, cloud, boundary, p)
		} else if p, ok := s.byKey[setKey(rt, cloud, "")]; ok {
			only.AddRuntime(rt, cloud, boundary, p)
		}
	}
	return only
}

// For returns the Provider for t's cloud, boundary and runtime.
func (s *Set) For(t placement.Target) (*Provider, error) {
	if p, ok := s.byKey[setKey(t.Runtime, t.Cloud, t.Boundary)]; ok {
		return p, nil
	}
	if p, ok := s.byKey[setKey(t.Runtime, t.Cloud, "")]; ok {
		return p, nil
	}
	what := "provider"
	if t.Runtime != "" {
		what = t.Runtime + " provider"
	}
	return nil, &Error{Code: driver.Invalid, Op: "provider", Err: fmt.Errorf("no %s for cloud %q boundary %q (have %v)", what, t.Cloud, t.Boundary, slices.Sorted(maps.Keys(s.byKey)))}
}
