package local

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

// Deploy starts a rolling replacement of the target's instances by
// req.Image:req.Version and returns at once; Status reports its progress.
func (p *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	if err := ctx.Err(); err != nil {
		return driver.Deployment{}, err
	}
	if req.Version == "" {
		return driver.Deployment{}, fmt.Errorf("deploy %s: no version: %w", req.Target.ID(), errInvalid)
	}
	if _, err := p.binary(req.Image); err != nil {
		return driver.Deployment{}, fmt.Errorf("deploy %s: %w", req.Target.ID(), err)
	}
	defer p.lockOp()()
	ts := p.targetLocked(req.Target, true)
	if live := ts.revision(ts.Live); live != nil && live.Image == req.Image && live.Version == req.Version {
		if p.rollouts[ts.Target.ID()] == nil && ts.State != driver.StateFailed && p.runningLocked(ts, live.ID) < ts.Desired {
			// The revision is live but instances are gone (a clean shutdown,
			// a crash): start them again.
			ts.State, ts.Reason = driver.StateProgressing, ""
			if err := p.saveLocked(); err != nil {
				return driver.Deployment{}, err
			}
			p.startRolloutLocked(ts.Target.ID())
		}
		return driver.Deployment{Revision: live.ID, Previous: live.Previous, Changed: false}, nil
	}
	rev := &revision{
		ID:       fmt.Sprintf("r%d-%s", len(ts.Revisions)+1, req.Version),
		Image:    req.Image,
		Version:  req.Version,
		ChangeID: req.ChangeID,
		Previous: ts.Stable, // the last revision that was ready: what a rollback restores
	}
	ts.Revisions = append(ts.Revisions, rev)
	ts.Live, ts.State, ts.Reason = rev.ID, driver.StateProgressing, ""
	ts.Desired = max(req.Instances, 1)
	ts.Sharding = shardingState(req.Sharding)
	if err := p.saveLocked(); err != nil {
		return driver.Deployment{}, err
	}
	if ts.Sharding != nil {
		p.startFleetLocked(req.Target.ID())
	}
	p.startRolloutLocked(req.Target.ID())
	return driver.Deployment{Revision: rev.ID, Previous: rev.Previous, Changed: true}, nil
}

// Rollback makes revision live again by the same rolling replacement.
// Revision "" undoes a first deploy: every instance of the target stops and
// nothing is live any more (Status of "" reports ready with Desired 0 once
// they have), so the next Deploy reports Previous "".
func (p *Driver) Rollback(ctx context.Context, t driver.Target, revision string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer p.lockOp()()
	ts := p.targetLocked(t, false)
	switch {
	case ts == nil && revision == "":
		return nil // nothing was ever started here
	case ts == nil || (revision != "" && ts.revision(revision) == nil):
		return fmt.Errorf("rollback %s: revision %q: %w", t.ID(), revision, errNotFound)
	}
	if ts.Live == revision && ts.State != driver.StateFailed {
		if p.rollouts[t.ID()] == nil {
			p.startRolloutLocked(t.ID()) // repair crashed instances
		}
		return nil
	}
	if revision == "" {
		return p.stopAllLocked(ts)
	}
	ts.Live, ts.State, ts.Reason = revision, driver.StateProgressing, ""
	ts.revision(revision).Failure = ""
	if err := p.saveLocked(); err != nil {
		return err
	}
	p.startRolloutLocked(t.ID())
	return nil
}

// Status reports the rollout of revision; for the live revision, Ready
// counts the instances that answer /healthz with 200 right now.
func (p *Driver) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	if err := ctx.Err(); err != nil {
		return driver.Status{}, err
	}
	p.mu.Lock()
	ts := p.targetLocked(t, false)
	if revision == "" {
		defer p.mu.Unlock()
		return removalStatus(ts), nil
	}
	if ts == nil || ts.revision(revision) == nil {
		p.mu.Unlock()
		return driver.Status{}, fmt.Errorf("status %s: revision %q: %w", t.ID(), revision, errNotFound)
	}
	st := driver.Status{Revision: revision, Desired: ts.Desired, State: ts.State, Reason: ts.Reason}
	rev := ts.revision(revision)
	var on []instance
	for _, in := range ts.Instances {
		if in.Revision == revision {
			on = append(on, *in)
		}
	}
	live := ts.Live
	p.mu.Unlock()
	if revision != live {
		st.State, st.Reason = driver.StateFailed, rev.Failure
		switch {
		case st.Reason != "":
		case live == "":
			st.Reason = "removed: nothing runs"
		default:
			st.Reason = fmt.Sprintf("replaced by %s", live)
		}
		return st, nil
	}
	ready, why := p.probeAll(ctx, on, "/healthz", 200)
	if err := ctx.Err(); err != nil {
		return driver.Status{}, err
	}
	st.Ready = min(ready, st.Desired)
	if st.State == driver.StateReady && ready < st.Desired {
		st.State = driver.StateFailed
		st.Reason = fmt.Sprintf("%d of %d instances ready: %s", ready, st.Desired, why)
	}
	return st, nil
}

// removalStatus is the Status of revision "": whether nothing runs on the
// target (ready), its instances are stopping (progressing), or a revision
// is live (failed).
func removalStatus(ts *target) driver.Status {
	switch {
	case ts == nil:
		return driver.Status{State: driver.StateReady}
	case ts.Live != "":
		return driver.Status{State: driver.StateFailed, Reason: fmt.Sprintf("revision %s is live", ts.Live)}
	case ts.State == driver.StateProgressing || len(ts.Instances) > 0:
		return driver.Status{State: driver.StateProgressing, Reason: fmt.Sprintf("stopping %d instance(s)", len(ts.Instances))}
	}
	return driver.Status{State: driver.StateReady}
}

// probeAll probes path on the instances at once and returns how many
// answered want, and why the first other one failed.
func (p *Driver) probeAll(ctx context.Context, ins []instance, path string, want int) (int, string) {
	ok, whys := p.probeEach(ctx, ins, path, want)
	n, why := 0, ""
	for i := range ins {
		if ok[i] {
			n++
		} else if why == "" {
			why = whys[i]
		}
	}
	return n, why
}

// answeredBy is the instance a probe's JSON answer names ("" when it
// names none).
func answeredBy(body string) string {
	var who struct {
		Instance string `json:"instance"`
	}
	_ = json.Unmarshal([]byte(body), &who)
	return who.Instance
}

// probeEach probes path on the instances at once and reports, for each,
// whether it answered want as itself and, if not, why.
func (p *Driver) probeEach(ctx context.Context, ins []instance, path string, want int) (ok []bool, whys []string) {
	ok = make([]bool, len(ins))
	whys = make([]string, len(ins))
	var wg sync.WaitGroup
	for i := range ins {
		wg.Go(func() {
			in := &ins[i]
			if in.PID == 0 || !p.alive(in.PID) {
				whys[i] = fmt.Sprintf("instance %s is not running", in.ID)
				return
			}
			code, body, err := probe(ctx, in, path)
			switch {
			case err != nil:
				whys[i] = fmt.Sprintf("instance %s: %v", in.ID, err)
			case code != want:
				whys[i] = fmt.Sprintf("instance %s: %s answered %d: %s", in.ID, path, code, body)
			case answeredBy(body) != "" && answeredBy(body) != in.ID:
				// The port was freed and taken: another instance answers.
				whys[i] = fmt.Sprintf("instance %s: %s was answered by instance %s, which holds its port", in.ID, path, answeredBy(body))
			default:
				ok[i] = true
			}
		})
	}
	wg.Wait()
	return ok, whys
}

// startRolloutLocked (re)starts the target's rollout goroutine.
func (p *Driver) startRolloutLocked(tid string) {
	if old := p.rollouts[tid]; old != nil {
		old.cancel()
		// The old goroutine takes p.mu to finish; wait for it unlocked.
		p.mu.Unlock()
		<-old.done
		p.mu.Lock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan struct{})}
	p.rollouts[tid] = r
	go func() {
		defer close(r.done)
		err := p.rollout(ctx, tid)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.rollouts[tid] == r {
			delete(p.rollouts, tid)
		}
		if ctx.Err() != nil {
			return // superseded or detached: the state stays progressing
		}
		ts := p.state.Targets[tid]
		if err != nil {
			ts.State, ts.Reason = driver.StateFailed, err.Error()
			ts.revision(ts.Live).Failure = err.Error()
		} else {
			ts.State, ts.Reason, ts.Stable = driver.StateReady, "", ts.Live
		}
		p.saveLocked()
	}()
}

// rollout converges the target on its live revision one instance at a
// time: start a new instance and wait until it is ready, then retire an
// instance of another revision (or a stopped one), then trim the surplus.
func (p *Driver) rollout(ctx context.Context, tid string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.Lock()
		ts := p.state.Targets[tid]
		if ts.Live == "" {
			// A first deploy undone: stop everything.
			p.mu.Unlock()
			p.stopTarget(ctx, tid)
			return ctx.Err()
		}
		rev := ts.revision(ts.Live)
		var current, stale []*instance
		for _, in := range ts.Instances {
			if in.Revision == rev.ID && in.PID != 0 && p.aliveLocked(in.PID) {
				current = append(current, in)
			} else {
				stale = append(stale, in)
			}
		}
		desired := ts.Desired
		var fresh *instance
		if len(current) < desired {
			ts.NextInstance++
			fresh = &instance{ID: fmt.Sprintf("i%d", ts.NextInstance), Revision: rev.ID}
			ts.Instances = append(ts.Instances, fresh)
		}
		p.mu.Unlock()

		switch {
		case fresh != nil:
			if err := p.start(ctx, tid, fresh, rev); err != nil {
				p.mu.Lock()
				ts.removeInstance(fresh.ID)
				p.saveLocked()
				p.mu.Unlock()
				return err
			}
			p.mu.Lock()
			fresh.Serving = true
			p.saveLocked()
			p.mu.Unlock()
			p.reconcileFleet(ctx, tid)
			if len(stale) > 0 {
				if err := p.retire(ctx, tid, stale[0]); err != nil {
					return err
				}
			}
		case len(stale) > 0:
			if err := p.retire(ctx, tid, stale[0]); err != nil {
				return err
			}
		case len(current) > desired:
			if err := p.retire(ctx, tid, current[len(current)-1]); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// runningLocked counts the target's running instances of revision.
func (p *Driver) runningLocked(ts *target, revision string) int {
	n := 0
	for _, in := range ts.Instances {
		if in.Revision == revision && in.PID != 0 && p.aliveLocked(in.PID) {
			n++
		}
	}
	return n
}

// retire drains the instance when its target is sharded, stops it and
// forgets it.
func (p *Driver) retire(ctx context.Context, tid string, in *instance) error {
	if err := p.drain(ctx, tid, in); err != nil {
		return err
	}
	p.mu.Lock()
	in.Serving = false
	pid := in.PID
	p.mu.Unlock()
	p.stop(ctx, pid)
	p.mu.Lock()
	p.state.Targets[tid].removeInstance(in.ID)
	err := p.saveLocked()
	p.mu.Unlock()
	p.reconcileFleet(ctx, tid)
	return err
}

// drain moves a running instance's shards away through the demo sharder
// and waits until it owns none, failing after the drain timeout.
func (p *Driver) drain(ctx context.Context, tid string, in *instance) error {
	p.mu.Lock()
	ts := p.state.Targets[tid]
	sharding := ts.Sharding
	inst := driver.Instance{ID: in.ID, Address: in.address(), Revision: in.Revision}
	running := in.PID != 0 && p.aliveLocked(in.PID)
	p.mu.Unlock()
	if sharding == nil || !running {
		return nil
	}
	sharder := p.Sharder()
	if err := sharder.Drain(ctx, ts.Target, inst); err != nil {
		return fmt.Errorf("drain instance %s: %w", in.ID, err)
	}
	timeout := sharding.drainTimeout()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var owned int
	drained := pollUntil(deadline, 20*time.Millisecond, func() bool {
		n, err := sharder.Owned(deadline, ts.Target, inst)
		owned = n
		return err == nil && n == 0
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if !drained {
		return fmt.Errorf("instance %s still owns %d shards after the %v drain timeout: %w", in.ID, owned, timeout, errFailed)
	}
	return nil
}

// stopTarget stops every instance of the target and records them stopped.
func (p *Driver) stopTarget(ctx context.Context, tid string) {
	p.mu.Lock()
	var pids []int
	for _, in := range p.state.Targets[tid].Instances {
		pids = append(pids, in.PID)
		in.Serving = false
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pid := range pids {
		wg.Go(func() { p.stop(ctx, pid) })
	}
	wg.Wait()
	p.mu.Lock()
	ts := p.state.Targets[tid]
	ts.Instances = slices.DeleteFunc(ts.Instances, func(in *instance) bool { return slices.Contains(pids, in.PID) })
	p.saveLocked()
	p.mu.Unlock()
}

// startFleetLocked gives a sharded target its assigner, reconciling in the
// background.
func (p *Driver) startFleetLocked(tid string) {
	if p.assigners[tid] != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := demoshard.NewAssigner(p.opts.Shards, func(context.Context) ([]demoshard.Member, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		var members []demoshard.Member
		for _, in := range p.state.Targets[tid].Instances {
			if in.Serving && in.PID != 0 {
				members = append(members, demoshard.Member{ID: in.ID, Address: in.address()})
			}
		}
		return members, nil
	})
	p.assigners[tid] = &fleet{assigner: a, cancel: cancel}
	go a.Run(ctx, 100*time.Millisecond)
}

// reconcileFleet has a sharded target's assigner take a membership change
// into account at once.
func (p *Driver) reconcileFleet(ctx context.Context, tid string) {
	p.mu.Lock()
	f := p.assigners[tid]
	p.mu.Unlock()
	if f != nil {
		f.assigner.Reconcile(ctx)
	}
}
