// Package local is the provider driver for the `local` cloud: it runs a
// service as real OS processes on this machine, one group of processes and
// ports per target (each local region is its own group), N instances per
// target, all bound to 127.0.0.1.
//
// Deploy is a rolling replacement (start an instance of the new revision,
// wait until its /healthz answers 200, stop an old one); when the request
// carries sharding settings, old instances are drained through the demo
// shard assigner before they stop. Status and the HTTP gate are real HTTP
// probes; Rollback rolls the previous revision's instances back the same
// way; config is a JSON file per target that instances re-read (SIGHUP).
// Instances and RestartInstance serve shard-aware restarts. Current and
// Managed read the state file: every target with a live revision is
// Meridian's. SecretFiles is
// the local cloud's secret store, a file per secret, which resolves the
// secret references of config documents.
//
// State (revisions, instances with their pids and ports, config versions)
// lives in Options.StateDir as state.json; a new Driver on the same
// directory adopts the instances still running (pid alive and GET / naming
// the instance) and resumes unfinished rollouts. Close stops every process.
// See docs/local-provider.md.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

// Options configures a Driver; nil means defaults.
type Options struct {
	// StateDir holds state.json, the per-target config files and the
	// instances' logs (default: $XDG_STATE_HOME/meridian/local, else
	// ~/.local/state/meridian/local).
	StateDir string
	// Binaries maps an artifact image to the binary that runs it. Images not
	// listed resolve by their last path element without tag
	// ("local/meridian-demo" → meridian-demo), looked up in BinDir, then in
	// $PATH.
	Binaries map[string]string
	// BinDir is where image binaries are looked up first (default: the
	// directory of the running executable, so bin/meridian finds
	// bin/meridian-demo).
	BinDir string
	// ReadyTimeout bounds how long a new instance may take to answer
	// /healthz with 200 (default 30s).
	ReadyTimeout time.Duration
	// FailureThreshold is how many consecutive non-200 /healthz answers make
	// a starting instance failed (default 10, probed every 50ms).
	FailureThreshold int
	// Shards is the number of cache shards of a sharded target's fleet
	// (default 64).
	Shards int
	// SecretsDir holds the local cloud's secrets, a file per secret (see
	// SecretFiles; default StateDir/secrets).
	SecretsDir string
}

// Driver runs services as local processes. It implements
// driver.Deployer, driver.Configurer, driver.GateEvaluator,
// driver.Restarter, driver.Surveyor, driver.ConfigSurveyor and
// driver.Lister; Sharder returns the demo fleet's driver.Sharder.
type Driver struct {
	opts Options
	bin  string // resolved BinDir

	ops sync.Mutex // serializes Deploy, Rollback, config and restarts

	mu        sync.Mutex // guards everything below
	state     state
	procs     map[int]*proc // processes this Driver started, by pid
	rollouts  map[string]*run
	assigners map[string]*fleet
}

var (
	_ driver.Deployer      = (*Driver)(nil)
	_ driver.Configurer    = (*Driver)(nil)
	_ driver.GateEvaluator = (*Driver)(nil)
	_ driver.Restarter     = (*Driver)(nil)
)

// run is a target's rollout goroutine.
type run struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// fleet is a sharded target's assigner and its reconcile loop.
type fleet struct {
	assigner *demoshard.Assigner
	cancel   context.CancelFunc
}

// New returns a Driver on opts.StateDir, adopting the instances a previous
// Driver left running and resuming its unfinished rollouts.
func New(opts *Options) (*Driver, error) {
	p := &Driver{procs: map[int]*proc{}, rollouts: map[string]*run{}, assigners: map[string]*fleet{}}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.StateDir == "" {
		dir, err := defaultStateDir()
		if err != nil {
			return nil, err
		}
		p.opts.StateDir = dir
	}
	if p.opts.ReadyTimeout <= 0 {
		p.opts.ReadyTimeout = 30 * time.Second
	}
	if p.opts.FailureThreshold <= 0 {
		p.opts.FailureThreshold = 10
	}
	if p.opts.Shards <= 0 {
		p.opts.Shards = 64
	}
	if p.opts.SecretsDir == "" {
		p.opts.SecretsDir = filepath.Join(p.opts.StateDir, "secrets")
	}
	p.bin = p.opts.BinDir
	if p.bin == "" {
		if exe, err := os.Executable(); err == nil {
			p.bin = filepath.Dir(exe)
		}
	}
	if err := os.MkdirAll(p.opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("local provider: state dir: %w", err)
	}
	if err := p.load(); err != nil {
		return nil, err
	}
	p.adopt()
	return p, nil
}

func defaultStateDir() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" {
		return filepath.Join(dir, "meridian", "local"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("local provider: no state dir: %w", err)
	}
	return filepath.Join(home, ".local", "state", "meridian", "local"), nil
}

// Sharder returns the driver.Sharder of this provider's sharded fleets: the
// HTTP drain protocol, with the target's assigner moving the shards.
func (p *Driver) Sharder() driver.Sharder {
	return demoshard.NewSharder(p.assigner)
}

// assigner returns the shard assigner of a sharded target, or nil.
func (p *Driver) assigner(t driver.Target) *demoshard.Assigner {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.assigners[t.ID()]; f != nil {
		return f.assigner
	}
	return nil
}

// Detach stops the provider's background work and leaves the instances
// running, as a worker that exits without shutting its fleet down does; a
// later New on the same StateDir adopts them.
func (p *Driver) Detach() {
	p.mu.Lock()
	runs := make([]*run, 0, len(p.rollouts))
	for id, r := range p.rollouts {
		runs = append(runs, r)
		delete(p.rollouts, id)
	}
	for id, f := range p.assigners {
		f.cancel()
		delete(p.assigners, id)
	}
	p.mu.Unlock()
	for _, r := range runs {
		r.cancel()
		<-r.done
	}
}

// Shutdown stops the background work and every instance (SIGTERM, then
// SIGKILL once ctx ends), and records them as stopped.
func (p *Driver) Shutdown(ctx context.Context) error {
	p.Detach()
	p.mu.Lock()
	var ids []string
	for id := range p.state.Targets {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { p.stopTarget(ctx, id) })
	}
	wg.Wait()
	return p.save()
}

// Close stops every instance, allowing each 5 seconds to exit.
func (p *Driver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

// Secrets is the store of the secret files in Options.SecretsDir.
func (p *Driver) Secrets() *SecretFiles { return NewSecretFiles(p.opts.SecretsDir) }

// Errors the provider classifies.
var (
	errNotFound = errors.New("not found")
	errInvalid  = errors.New("invalid")
	errConflict = errors.New("conflict")
	errFailed   = errors.New("failed")
)

// ErrorCode classifies the provider's errors.
func (p *Driver) ErrorCode(err error) driver.Code {
	switch {
	case err == nil:
		return driver.Unknown
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable // a deadline of the driver's own: see package driver
	case errors.Is(err, errNotFound):
		return driver.NotFound
	case errors.Is(err, errInvalid), errors.Is(err, exec.ErrNotFound):
		return driver.Invalid
	case errors.Is(err, errConflict):
		return driver.Conflict
	case errors.Is(err, errFailed):
		return driver.Failed
	}
	return driver.Unknown
}

// binary resolves an image to the binary that runs it.
func (p *Driver) binary(image string) (string, error) {
	if b, ok := p.opts.Binaries[image]; ok {
		return b, nil
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	if name == "" {
		return "", fmt.Errorf("image %q names no binary: %w", image, errInvalid)
	}
	if p.bin != "" {
		candidate := filepath.Join(p.bin, name)
		if fi, err := os.Stat(candidate); err == nil && !fi.IsDir() {
			return candidate, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("image %q: no binary %s in %s or $PATH: %w", image, name, p.bin, errInvalid)
	}
	return path, nil
}
