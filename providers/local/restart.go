package local

import (
	"context"
	"fmt"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Instances lists the target's instances; Ready is a /healthz probe.
func (p *Driver) Instances(ctx context.Context, t driver.Target) ([]driver.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	ts := p.targetLocked(t, false)
	if ts == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("instances of %s: %w", t.ID(), errNotFound)
	}
	ins := make([]instance, len(ts.Instances))
	for i, in := range ts.Instances {
		ins[i] = *in
	}
	p.mu.Unlock()
	ready, _ := p.probeEach(ctx, ins, "/healthz", 200)
	list := make([]driver.Instance, len(ins))
	for i, in := range ins {
		list[i] = driver.Instance{ID: in.ID, Address: in.address(), Revision: in.Revision, Ready: ready[i]}
	}
	return list, ctx.Err()
}

// RestartInstance stops the instance's process and starts it again on the
// same revision and port, returning once it is ready. It does not drain:
// a shard-aware restart drains through Sharder first. Restarts of different
// instances may run at once; a restart conflicts with a running rollout.
func (p *Driver) RestartInstance(ctx context.Context, t driver.Target, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	ts := p.targetLocked(t, false)
	var in *instance
	if ts != nil {
		in = ts.instance(id)
	}
	if in == nil {
		p.mu.Unlock()
		return fmt.Errorf("restart %s: instance %q: %w", t.ID(), id, errNotFound)
	}
	if p.rollouts[t.ID()] != nil {
		p.mu.Unlock()
		return fmt.Errorf("restart %s/%s: a rollout is in progress: %w", t.ID(), id, errConflict)
	}
	tid, rev, pid := t.ID(), ts.revision(in.Revision), in.PID
	in.Serving = false
	p.mu.Unlock()

	p.stop(ctx, pid)
	p.mu.Lock()
	in.PID = 0
	p.saveLocked()
	p.mu.Unlock()
	err := p.start(ctx, tid, in, rev)
	p.mu.Lock()
	in.Serving = err == nil
	p.saveLocked()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("restart %s/%s: %w", tid, id, err)
	}
	p.reconcileFleet(ctx, tid)
	return nil
}
