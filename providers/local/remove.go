package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var (
	_ driver.Remover       = (*Driver)(nil)
	_ driver.ConfigRemover = (*Driver)(nil)
)

// Remove stops every instance of the target and forgets them; the target's
// revision history stays, so that Restore can make the removed revision
// live again. Status of "" reports ready with Desired 0 once every
// instance has stopped, and the next Deploy reports Previous "". The
// Removal's Spec records the target's sharding, if any.
func (p *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	if err := ctx.Err(); err != nil {
		return driver.Removal{}, err
	}
	defer p.lockOp()()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.Live == "" {
		return driver.Removal{}, nil // nothing runs (instances may still be stopping)
	}
	rev := ts.revision(ts.Live)
	r := driver.Removal{Revision: rev.ID, Image: rev.Image, Version: rev.Version, Instances: ts.Desired}
	if ts.Sharding != nil {
		spec, err := json.Marshal(ts.Sharding)
		if err != nil {
			return driver.Removal{}, err
		}
		r.Spec = string(spec)
	}
	if err := p.stopAllLocked(ts); err != nil {
		return driver.Removal{}, err
	}
	return r, nil
}

// stopAllLocked makes nothing live on ts and starts stopping its
// instances.
func (p *Driver) stopAllLocked(ts *target) error {
	tid := ts.Target.ID()
	ts.Live, ts.State, ts.Reason = "", driver.StateProgressing, ""
	ts.Stable, ts.Desired, ts.Sharding = "", 0, nil
	if f := p.assigners[tid]; f != nil {
		f.cancel()
		delete(p.assigners, tid)
	}
	if err := p.saveLocked(); err != nil {
		return err
	}
	p.startRolloutLocked(tid)
	return nil
}

// Restore makes the removed revision live again with the instances (and
// sharding) it had, by the same rolling start as a Deploy.
func (p *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if err := ctx.Err(); err != nil {
		return driver.Deployment{}, err
	}
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	var sh *sharding
	if r.Spec != "" {
		if err := json.Unmarshal([]byte(r.Spec), &sh); err != nil {
			return driver.Deployment{}, fmt.Errorf("restore %s: spec %q: %v: %w", t.ID(), r.Spec, err, errInvalid)
		}
	}
	defer p.lockOp()()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.revision(r.Revision) == nil {
		return driver.Deployment{}, fmt.Errorf("restore %s: revision %q is not the target's: %w", t.ID(), r.Revision, errInvalid)
	}
	rev := ts.revision(r.Revision)
	if ts.Live == rev.ID && ts.State != driver.StateFailed {
		return driver.Deployment{Revision: rev.ID}, nil
	}
	ts.Live, ts.State, ts.Reason = rev.ID, driver.StateProgressing, ""
	ts.Desired, ts.Sharding, rev.Failure = max(r.Instances, 1), sh, ""
	if err := p.saveLocked(); err != nil {
		return driver.Deployment{}, err
	}
	if ts.Sharding != nil {
		p.startFleetLocked(t.ID())
	}
	p.startRolloutLocked(t.ID())
	return driver.Deployment{Revision: rev.ID, Changed: true}, nil
}

// RemoveConfig deletes the target's config file and tells the running
// instances to re-read it; ConfigStatus of the removed revision then
// reports it failed (replaced by none), and the next ApplyConfig reports
// Previous "". The ConfigRemoval's document is the one as written, secret
// references and all (configRevision.Source).
func (p *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	if err := ctx.Err(); err != nil {
		return driver.ConfigRemoval{}, err
	}
	defer p.lockOp()()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.config(ts.LiveConfig) == nil {
		return driver.ConfigRemoval{}, nil
	}
	c := ts.config(ts.LiveConfig)
	tid := ts.Target.ID()
	if err := os.Remove(p.configPath(tid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return driver.ConfigRemoval{}, fmt.Errorf("remove config %s: %w", tid, err)
	}
	ts.LiveConfig = ""
	if err := p.saveLocked(); err != nil {
		return driver.ConfigRemoval{}, err
	}
	for _, in := range ts.Instances {
		if in.PID != 0 && p.aliveLocked(in.PID) {
			syscall.Kill(in.PID, syscall.SIGHUP)
		}
	}
	r := driver.ConfigRemoval{Revision: c.ID, Version: c.Version, Data: []byte(c.Data)}
	if c.Source != nil {
		r.Data = []byte(c.Source)
	}
	return r, nil
}
