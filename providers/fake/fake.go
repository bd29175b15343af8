// Package fake is an in-memory provider driver for tests: it implements
// every driver capability (deploy, status, rollback, config, gates,
// instance restarts, sharding, removal, surveys and listing what it
// manages), keeps revisions per target, lets a test
// inject failures per target, and records every call in order so a test
// can assert what happened (rollback order, no target deployed twice).
// It is safe for concurrent use.
//
// Unlike the over-the-wire fakes under providers/internal, this package is
// public on purpose, like go-cloud's memblob: code that calls a
// providers.Provider may test against providers.New(fake.New(nil), nil).
package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Error is the fake's raw error, a driver.Error; ErrorCode returns its Code.
type Error = driver.Error

// Call is one recorded driver call.
type Call struct {
	Op     string // deploy, status, rollback, remove, restore, apply-config, config-status, rollback-config, remove-config, current, current-config, managed, evaluate-gate, instances, restart-instance, drain, owned, undrain
	Target string // target ID
	// Arg is the version, revision, gate name or instance id the call was about.
	Arg string
	// Changed is set on deploy and apply-config calls that changed the target.
	Changed bool
	Err     bool
	At      time.Time // when the call was made
}

// Options configure a Driver. nil means defaults.
type Options struct {
	// Progress is how many Status calls a new revision reports
	// "progressing" before it is ready (0: ready at once).
	Progress int
	// Instances is how many instances each target runs (default 3).
	Instances int
	// Shards is how many shards each instance owns before a drain (default 4).
	Shards int
}

// Faults are the failures injected on one target. The zero value injects none.
type Faults struct {
	Deploy   driver.Code // Deploy fails with this code (Unknown: no fault)
	Ready    bool        // every new revision (and config) fails to become ready
	Status   driver.Code // Status and ConfigStatus fail with this code
	Rollback driver.Code // Rollback and RollbackConfig fail with this code
	Remove   driver.Code // Remove, Restore and RemoveConfig fail with this code
	// Health is what gates report (default healthy); UnhealthyAfter > 0
	// makes them report unhealthy from that evaluation on.
	Health         driver.Health
	UnhealthyAfter int
	GateError      bool // EvaluateGate returns an Unavailable error
	StuckDrain     bool // drained instances never give up their shards
}

type target struct {
	live, previous string            // revisions
	image          string            // what live runs
	changes        map[string]string // revision → the change ID that deployed it
	managed        bool              // a Deploy or Restore put live there, which Remove has not taken off
	config         string
	configPrevious string
	configDocs     map[string][]byte // config version → the document ApplyConfig applied with it
	configSources  map[string][]byte // config version → its request's Source, when it had one
	polls          int
	evaluations    int
	instances      []driver.Instance
	owned          map[string]int
	faults         Faults
}

// Driver is the in-memory driver.
type Driver struct {
	mu       sync.Mutex
	opts     Options
	targets  map[string]*target
	calls    []Call
	throttle int
	failing  map[string]bool // target ID + "@" + version: that version fails
}

var (
	_ driver.Deployer       = (*Driver)(nil)
	_ driver.Configurer     = (*Driver)(nil)
	_ driver.GateEvaluator  = (*Driver)(nil)
	_ driver.Restarter      = (*Driver)(nil)
	_ driver.Sharder        = (*Driver)(nil)
	_ driver.Remover        = (*Driver)(nil)
	_ driver.ConfigRemover  = (*Driver)(nil)
	_ driver.Surveyor       = (*Driver)(nil)
	_ driver.ConfigSurveyor = (*Driver)(nil)
	_ driver.Lister         = (*Driver)(nil)
)

// New returns an empty Driver.
func New(opts *Options) *Driver {
	o := Options{Instances: 3, Shards: 4}
	if opts != nil {
		o.Progress = opts.Progress
		if opts.Instances > 0 {
			o.Instances = opts.Instances
		}
		if opts.Shards > 0 {
			o.Shards = opts.Shards
		}
	}
	return &Driver{opts: o, targets: map[string]*target{}, failing: map[string]bool{}}
}

// ErrorCode classifies the fake's errors.
func (d *Driver) ErrorCode(err error) driver.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return driver.Unknown
}

// target returns the state of t, creating it. d.mu is held.
func (d *Driver) target(id string) *target {
	s, ok := d.targets[id]
	if !ok {
		s = &target{owned: map[string]int{}}
		d.resize(id, s, d.opts.Instances)
		d.targets[id] = s
	}
	return s
}

// record appends a call, fails it when ctx is done and applies the global
// throttle. d.mu is held.
func (d *Driver) record(ctx context.Context, c Call) error {
	c.At = time.Now()
	if err := ctx.Err(); err != nil {
		c.Err = true
		d.calls = append(d.calls, c)
		return driver.Errorf(driver.Canceled, "fake: %v", err)
	}
	if d.throttle > 0 {
		d.throttle--
		c.Err = true
		d.calls = append(d.calls, c)
		return driver.Errorf(driver.Throttled, "fake: rate exceeded")
	}
	d.calls = append(d.calls, c)
	return nil
}

func (d *Driver) fail(code driver.Code, msg string) error {
	d.calls[len(d.calls)-1].Err = true
	return driver.Errorf(code, "fake: %s", msg)
}

// resize sets how many instances t runs. d.mu is held.
func (d *Driver) resize(id string, s *target, n int) {
	for i := len(s.instances); i < n; i++ {
		iid := fmt.Sprintf("%s#%d", id, i)
		s.instances = append(s.instances, driver.Instance{ID: iid, Revision: s.live, Ready: true})
		s.owned[iid] = d.opts.Shards
	}
	s.instances = s.instances[:n]
}

// TargetID is a target as the setup methods below take it: a
// placement.Target (what a test of the rollout engine holds) or a
// driver.Target (what a driver's test holds), whose ID keys the fake's
// state. The two name a target with the same ID.
type TargetID interface{ ID() string }

// SetLive makes revision live on the target, as if deployed before the test.
func (d *Driver) SetLive(t TargetID, revision string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.target(t.ID())
	s.live = revision
	for i := range s.instances {
		s.instances[i].Revision = revision
	}
}

// SetConfig makes config version live on the target, as if applied before the test.
func (d *Driver) SetConfig(t TargetID, version string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.target(t.ID()).config = version
}

// SetFaults replaces the faults injected on t.
func (d *Driver) SetFaults(t TargetID, f Faults) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.target(t.ID()).faults = f
}

// FailVersion makes every later rollout of version on t fail to become ready.
func (d *Driver) FailVersion(t TargetID, version string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failing[t.ID()+"@"+version] = true
}

// SetHealth sets what t's gates report from now on.
func (d *Driver) SetHealth(t TargetID, h driver.Health) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.target(t.ID()).faults.Health = h
}

// Throttle makes the next n calls, on any target, fail with Throttled.
func (d *Driver) Throttle(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.throttle = n
}

// Live returns the live revision and config version of t.
func (d *Driver) Live(t TargetID) (revision, config string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.target(t.ID())
	return s.live, s.config
}

// LiveConfig returns the config version live on t and the document an
// ApplyConfig applied with that version (nil for a version only SetConfig
// made live).
func (d *Driver) LiveConfig(t TargetID) (version string, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.target(t.ID())
	return s.config, append([]byte(nil), s.configDocs[s.config]...)
}

// Calls returns every call so far, in order.
func (d *Driver) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Call(nil), d.calls...)
}

// Deploy makes version live; the revision is the version itself.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := req.Target.ID()
	if err := d.record(ctx, Call{Op: "deploy", Target: id, Arg: req.Version}); err != nil {
		return driver.Deployment{}, err
	}
	if req.Version == "" {
		return driver.Deployment{}, d.fail(driver.Invalid, "empty version")
	}
	s := d.target(id)
	if s.faults.Deploy != driver.Unknown {
		return driver.Deployment{}, d.fail(s.faults.Deploy, "deploy of "+req.Version+" refused")
	}
	if s.live == req.Version {
		return driver.Deployment{Revision: s.live, Previous: s.previous}, nil
	}
	s.previous, s.live, s.image, s.polls = s.live, req.Version, req.Image, 0
	if s.changes == nil {
		s.changes = map[string]string{}
	}
	s.changes[req.Version] = req.ChangeID
	s.managed = true
	if req.Instances > 0 {
		d.resize(id, s, req.Instances)
	}
	for i := range s.instances {
		s.instances[i].Revision = req.Version
	}
	d.calls[len(d.calls)-1].Changed = true
	return driver.Deployment{Revision: s.live, Previous: s.previous, Changed: true}, nil
}

// status is the rollout state of what is live on s, which one poll
// (advance) moves on. d.mu is held.
func (d *Driver) status(id string, s *target, revision string, advance bool) driver.Status {
	st := driver.Status{Revision: revision, Desired: len(s.instances)}
	switch {
	case s.faults.Ready || d.failing[id+"@"+revision]:
		st.State, st.Reason = driver.StateFailed, "revision "+revision+" is unhealthy"
	case s.polls < d.opts.Progress:
		if advance {
			s.polls++
		}
		st.State, st.Ready = driver.StateProgressing, len(s.instances)*s.polls/(d.opts.Progress+1)
	default:
		st.State, st.Ready = driver.StateReady, len(s.instances)
	}
	return st
}

// Status reports the rollout of revision on t.
func (d *Driver) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "status", Target: id, Arg: revision}); err != nil {
		return driver.Status{}, err
	}
	s := d.target(id)
	if s.faults.Status != driver.Unknown {
		return driver.Status{}, d.fail(s.faults.Status, "status of "+revision+" refused")
	}
	if s.live != revision {
		return driver.Status{}, d.fail(driver.NotFound, fmt.Sprintf("revision %q is not live on %s (live: %q)", revision, id, s.live))
	}
	if revision == "" {
		return driver.Status{State: driver.StateReady}, nil // nothing runs
	}
	return d.status(id, s, revision, true), nil
}

// Rollback makes revision live again; revision "" undoes a first deploy:
// nothing is live afterwards (Live reports "", Status of "" is ready with
// Desired 0) and the next Deploy reports Previous "". The call is recorded
// as a rollback with Arg "".
func (d *Driver) Rollback(ctx context.Context, t driver.Target, revision string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "rollback", Target: id, Arg: revision}); err != nil {
		return err
	}
	s := d.target(id)
	if s.faults.Rollback != driver.Unknown {
		return d.fail(s.faults.Rollback, "rollback to "+revision+" refused")
	}
	if s.live != revision {
		s.previous, s.live, s.polls = s.live, revision, d.opts.Progress
	}
	s.managed = s.managed && revision != ""
	for i := range s.instances {
		s.instances[i].Revision = revision
	}
	return nil
}

// Remove stops what runs on t: nothing is live afterwards (Live reports "",
// Status of "" is ready with Desired 0) and the next Deploy reports
// Previous "". The Removal's Version is the removed revision (the fake's
// revisions are versions).
func (d *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "remove", Target: id}); err != nil {
		return driver.Removal{}, err
	}
	s := d.target(id)
	if s.faults.Remove != driver.Unknown {
		return driver.Removal{}, d.fail(s.faults.Remove, "remove refused")
	}
	if s.live == "" {
		return driver.Removal{}, nil
	}
	r := driver.Removal{Revision: s.live, Image: s.image, Version: s.live, Instances: len(s.instances)}
	s.previous, s.live, s.image, s.managed = "", "", "", false
	for i := range s.instances {
		s.instances[i].Revision = ""
	}
	d.calls[len(d.calls)-1].Changed = true
	return r, nil
}

// Restore makes the removed revision live again, with as many instances
// as it had.
func (d *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "restore", Target: id, Arg: r.Revision}); err != nil {
		return driver.Deployment{}, err
	}
	s := d.target(id)
	if s.faults.Remove != driver.Unknown {
		return driver.Deployment{}, d.fail(s.faults.Remove, "restore of "+r.Revision+" refused")
	}
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	if s.live == r.Revision {
		return driver.Deployment{Revision: s.live, Previous: s.previous}, nil
	}
	s.previous, s.live, s.image, s.polls, s.managed = s.live, r.Revision, r.Image, 0, true
	if r.Instances > 0 {
		d.resize(id, s, r.Instances)
	}
	for i := range s.instances {
		s.instances[i].Revision = r.Revision
	}
	d.calls[len(d.calls)-1].Changed = true
	return driver.Deployment{Revision: s.live, Previous: s.previous, Changed: true}, nil
}

// ApplyConfig makes config version live on the target.
func (d *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := req.Target.ID()
	if err := d.record(ctx, Call{Op: "apply-config", Target: id, Arg: req.Version}); err != nil {
		return driver.Deployment{}, err
	}
	s := d.target(id)
	if s.faults.Deploy != driver.Unknown {
		return driver.Deployment{}, d.fail(s.faults.Deploy, "config "+req.Version+" refused")
	}
	if s.config == req.Version {
		return driver.Deployment{Revision: s.config, Previous: s.configPrevious}, nil
	}
	s.configPrevious, s.config, s.polls = s.config, req.Version, 0
	if s.configDocs == nil {
		s.configDocs = map[string][]byte{}
	}
	s.configDocs[req.Version] = req.Data
	if req.Source != nil {
		if s.configSources == nil {
			s.configSources = map[string][]byte{}
		}
		s.configSources[req.Version] = req.Source
	}
	d.calls[len(d.calls)-1].Changed = true
	return driver.Deployment{Revision: s.config, Previous: s.configPrevious, Changed: true}, nil
}

// ConfigStatus reports the rollout of config version on t.
func (d *Driver) ConfigStatus(ctx context.Context, t driver.Target, version string) (driver.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "config-status", Target: id, Arg: version}); err != nil {
		return driver.Status{}, err
	}
	s := d.target(id)
	if s.config != version {
		return driver.Status{}, d.fail(driver.NotFound, fmt.Sprintf("config %q is not live on %s", version, id))
	}
	return d.status(id, s, version, true), nil
}

// RollbackConfig makes config version live again.
func (d *Driver) RollbackConfig(ctx context.Context, t driver.Target, version string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "rollback-config", Target: id, Arg: version}); err != nil {
		return err
	}
	s := d.target(id)
	if s.faults.Rollback != driver.Unknown {
		return d.fail(s.faults.Rollback, "config rollback to "+version+" refused")
	}
	if s.config != version {
		s.configPrevious, s.config, s.polls = s.config, version, d.opts.Progress
	}
	return nil
}

// RemoveConfig removes t's config: ConfigStatus of the removed version
// fails with NotFound and the next ApplyConfig reports Previous "". The
// ConfigRemoval's Data is the document as its request's Source wrote it,
// when it had one.
func (d *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "remove-config", Target: id}); err != nil {
		return driver.ConfigRemoval{}, err
	}
	s := d.target(id)
	if s.faults.Remove != driver.Unknown {
		return driver.ConfigRemoval{}, d.fail(s.faults.Remove, "config removal refused")
	}
	if s.config == "" {
		return driver.ConfigRemoval{}, nil
	}
	r := driver.ConfigRemoval{Revision: s.config, Version: s.config, Data: s.configDocs[s.config]}
	if src, ok := s.configSources[s.config]; ok {
		r.Data = src
	}
	s.config, s.configPrevious = "", ""
	d.calls[len(d.calls)-1].Changed = true
	return r, nil
}

// Current reports the revision live on t and its rollout state (without
// moving a rollout on, as Status does); the image and change ID are those
// of the Deploy or Restore that made it live ("" for a revision SetLive
// made live).
func (d *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "current", Target: id}); err != nil {
		return driver.Current{}, err
	}
	s := d.target(id)
	if s.faults.Status != driver.Unknown {
		return driver.Current{}, d.fail(s.faults.Status, "current refused")
	}
	if s.live == "" {
		return driver.Current{}, nil
	}
	st := d.status(id, s, s.live, false)
	return driver.Current{
		Revision: s.live, Image: s.image, Version: s.live, ChangeID: s.changes[s.live],
		State: st.State, Ready: st.Ready, Desired: st.Desired, Reason: st.Reason,
	}, nil
}

// CurrentConfig reports the config version live on t; the fake's config
// revisions are versions.
func (d *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "current-config", Target: id}); err != nil {
		return driver.LiveConfig{}, err
	}
	s := d.target(id)
	if s.faults.Status != driver.Unknown {
		return driver.LiveConfig{}, d.fail(s.faults.Status, "current config refused")
	}
	return driver.LiveConfig{Revision: s.config, Version: s.config}, nil
}

// Managed lists the targets in scope on which a Deploy or Restore made a
// revision live, until a Remove or the Rollback to "" that undoes a first
// deploy; a revision only SetLive made live is not Meridian's.
func (d *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.record(ctx, Call{Op: "managed", Target: scope.Cloud + "/" + scope.Boundary + "/" + scope.Region}); err != nil {
		return nil, err
	}
	var ts []driver.Target
	for id, s := range d.targets {
		if t, ok := driver.ParseID(id); ok && s.managed && s.live != "" && scope.Contains(t) {
			ts = append(ts, t)
		}
	}
	driver.SortByID(ts)
	return ts, nil
}

// EvaluateGate reports the target's injected health.
func (d *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "evaluate-gate", Target: id, Arg: g.Name}); err != nil {
		return driver.Observation{}, err
	}
	s := d.target(id)
	s.evaluations++
	switch {
	case s.faults.GateError:
		return driver.Observation{}, d.fail(driver.Unavailable, "gate backend unavailable")
	case s.faults.UnhealthyAfter > 0 && s.evaluations >= s.faults.UnhealthyAfter:
		return driver.Observation{Health: driver.Unhealthy, Message: fmt.Sprintf("%s unhealthy since evaluation %d", g.Name, s.faults.UnhealthyAfter)}, nil
	case s.faults.Health != "":
		return driver.Observation{Health: s.faults.Health, Message: g.Name + " reports " + string(s.faults.Health)}, nil
	}
	return driver.Observation{Health: driver.Healthy}, nil
}

// Instances lists t's instances.
func (d *Driver) Instances(ctx context.Context, t driver.Target) ([]driver.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "instances", Target: id}); err != nil {
		return nil, err
	}
	return append([]driver.Instance(nil), d.target(id).instances...), nil
}

// RestartInstance restarts one instance; it is ready again at once.
func (d *Driver) RestartInstance(ctx context.Context, t driver.Target, iid string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "restart-instance", Target: id, Arg: iid}); err != nil {
		return err
	}
	for i, inst := range d.target(id).instances {
		if inst.ID == iid {
			d.target(id).instances[i].Ready = true
			return nil
		}
	}
	return d.fail(driver.NotFound, "no instance "+iid)
}

// Crash makes an instance of t stop answering (not Ready) until it is
// restarted.
func (d *Driver) Crash(t TargetID, iid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, inst := range d.target(t.ID()).instances {
		if inst.ID == iid {
			d.target(t.ID()).instances[i].Ready = false
		}
	}
}

// Drain moves the instance's shards away (at once, unless StuckDrain).
func (d *Driver) Drain(ctx context.Context, t driver.Target, inst driver.Instance) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "drain", Target: id, Arg: inst.ID}); err != nil {
		return err
	}
	if s := d.target(id); !s.faults.StuckDrain {
		s.owned[inst.ID] = 0
	}
	return nil
}

// Owned reports how many shards the instance owns.
func (d *Driver) Owned(ctx context.Context, t driver.Target, inst driver.Instance) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "owned", Target: id, Arg: inst.ID}); err != nil {
		return 0, err
	}
	return d.target(id).owned[inst.ID], nil
}

// Undrain gives the instance its shards back.
func (d *Driver) Undrain(ctx context.Context, t driver.Target, inst driver.Instance) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := t.ID()
	if err := d.record(ctx, Call{Op: "undrain", Target: id, Arg: inst.ID}); err != nil {
		return err
	}
	d.target(id).owned[inst.ID] = d.opts.Shards
	return nil
}
