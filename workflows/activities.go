package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Activities call the providers. Register one instance per worker; it holds
// the worker's providers, built once from the boundaries it serves. Every
// activity is idempotent: a retry after a crash resumes from the last
// heartbeat instead of changing a target twice.
type Activities struct {
	Providers *providers.Set
	// PollInterval is the wait between two readiness or drain polls (default 2s).
	PollInterval time.Duration
	// ReadyTimeout is how long a change or a rollback may take to become
	// ready before it fails for good (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
}

// DefaultReadyTimeout is how long a revision may stay progressing.
const DefaultReadyTimeout = 15 * time.Minute

func (a *Activities) readyTimeout() time.Duration {
	if a.ReadyTimeout > 0 {
		return a.ReadyTimeout
	}
	return DefaultReadyTimeout
}

func (a *Activities) poll() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return 2 * time.Second
}

// sleep waits one poll interval, heartbeating details first.
func (a *Activities) sleep(ctx context.Context, details ...any) error {
	activity.RecordHeartbeat(ctx, details...)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(a.poll()):
		return nil
	}
}

// keepAlive heartbeats every poll interval until the returned stop is
// called, while a provider call runs that may outlast the heartbeat
// timeout (an Azure update waits for its long-running operation): a silent
// activity would be retried while the call still changes the target. Its
// heartbeats carry details, which replace those of earlier heartbeats.
func (a *Activities) keepAlive(ctx context.Context, details ...any) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(a.poll())
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				activity.RecordHeartbeat(ctx, details...)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// activityError marks a provider error that retrying cannot fix as
// non-retryable, typed by its code ("invalid", "permission-denied"…). A
// canceled context stays retryable: it is how a stopping worker ends its
// activities, and another worker must take them over.
func activityError(err error) error {
	if err == nil {
		return nil
	}
	if code := providers.Code(err); !code.Retryable() && code != driver.Canceled {
		return temporal.NewNonRetryableApplicationError(err.Error(), code.String(), err)
	}
	return err
}

// Rollout makes one target's change: deploys a version or applies a config
// and waits until it is ready, or restarts the target's instances; then it
// evaluates the gates once. A change made but never ready is reported in
// RolloutResult.Failure, not as an error, so that it is still compensated.
func (a *Activities) Rollout(ctx context.Context, in RolloutInput) (RolloutResult, error) {
	p, err := a.Providers.For(in.Target)
	if err != nil {
		return RolloutResult{}, activityError(err)
	}
	var res RolloutResult
	switch in.Change.Kind {
	case KindVersion, KindConfig:
		res, err = a.change(ctx, p, in)
	case KindRestart:
		res.Failure, err = a.restart(ctx, p, in)
	default:
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown change kind %q", in.Change.Kind), "invalid", nil)
	}
	if err == nil && res.Failure == "" {
		stop := func() {}
		if in.Change.Kind != KindRestart {
			// A gate may take a while (an HTTP gate waits for its timeout):
			// keep heartbeating the change, so that a retry resumes it.
			stop = a.keepAlive(ctx, res.Deployment)
		}
		res.Observations, err = evaluateGates(ctx, p, in.Target, in.Gates)
		stop()
	}
	return keepChange(res, in.Target, err)
}

// keepChange turns an error that happened after the change was made into a
// Failure, so that the change is still compensated; only a canceled
// activity stays an error (its retry resumes from the heartbeat).
func keepChange(res RolloutResult, t placement.Target, err error) (RolloutResult, error) {
	switch {
	case err == nil:
		return res, nil
	case providers.Code(err) == driver.Canceled || !res.Deployment.Changed:
		return res, activityError(err)
	}
	res.Failure = fmt.Sprintf("%s: %v", t.ID(), err)
	return res, nil
}

// change deploys or applies the change, resuming from a heartbeat.
func (a *Activities) change(ctx context.Context, p *providers.Provider, in RolloutInput) (RolloutResult, error) {
	var dep driver.Deployment
	var err error
	switch {
	case activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &dep) == nil && dep.Revision != "":
		// A previous attempt made the change: only wait for it.
	case in.Change.Kind == KindVersion:
		stop := a.keepAlive(ctx)
		dep, err = p.Deploy(ctx, providers.DeployRequest{Target: in.Target, Image: in.Change.Image, Version: in.Change.Version,
			ChangeID: in.Change.ID, Instances: in.Instances, Sharding: in.Sharding, Workload: in.Workload})
		stop()
	default:
		stop := a.keepAlive(ctx)
		dep, err = p.ApplyConfig(ctx, providers.ConfigRequest{Target: in.Target, Version: in.Change.Version, Data: in.Change.Config})
		stop()
	}
	if err != nil {
		return RolloutResult{}, err
	}
	// The first wait heartbeats dep, so that a retry does not deploy again
	// and still knows the previous revision. A change that is ready at once
	// skips that round trip (a crash in that instant loses only the
	// compensation of a target already at the new version).
	failure, err := a.waitReady(ctx, p, in.Target, in.Change.Kind, dep.Revision, dep)
	return RolloutResult{Deployment: dep, Failure: failure}, err
}

// waitReady polls the status of revision until it is ready; it returns the
// reason when the rollout failed or was not ready within the ready
// timeout. Revision "" is ready once nothing runs.
func (a *Activities) waitReady(ctx context.Context, p *providers.Provider, t placement.Target, kind ChangeKind, revision string, details any) (string, error) {
	deadline := time.Now().Add(a.readyTimeout())
	for last := "no status yet"; ; {
		var st driver.Status
		var err error
		if kind == KindConfig {
			st, err = p.ConfigStatus(ctx, t, revision)
		} else {
			st, err = p.Status(ctx, t, revision)
		}
		switch {
		case revision == "" && providers.Code(err) == driver.NotFound:
			return "", nil // a first deploy removed with its target: nothing runs
		case err != nil && !providers.Code(err).Retryable():
			return "", err
		case err != nil:
			activity.GetLogger(ctx).Warn("status failed; polling again", "target", t.ID(), "error", err)
			last = err.Error()
		case st.State == driver.StateReady:
			return "", nil
		case st.State == driver.StateFailed && revision == "":
			return fmt.Sprintf("%s: removing the first deploy failed: %s", t.ID(), st.Reason), nil
		case st.State == driver.StateFailed:
			return fmt.Sprintf("%s: revision %s failed: %s", t.ID(), revision, st.Reason), nil
		default:
			last = fmt.Sprintf("%d/%d ready", st.Ready, st.Desired)
			if st.Reason != "" {
				last += ": " + st.Reason
			}
		}
		if time.Now().After(deadline) {
			what := "revision " + revision
			if revision == "" {
				what = "the removal of the first deploy"
			}
			return fmt.Sprintf("%s: %s not ready after %s: %s", t.ID(), what, placement.Duration(a.readyTimeout()), last), nil
		}
		if err := a.sleep(ctx, details); err != nil {
			return "", err
		}
	}
}

// restart restarts every instance of the target, at most MaxUnavailable at
// once, draining each through the sharder first when there is one. The
// instances already restarted are heartbeated, so a retry skips them.
func (a *Activities) restart(ctx context.Context, p *providers.Provider, in RolloutInput) (string, error) {
	insts, err := p.Instances(ctx, in.Target)
	if err != nil {
		return "", err
	}
	var done []string
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &done)
	}
	skip := map[string]bool{}
	for _, id := range done {
		skip[id] = true
	}
	maxUnavailable, drainTimeout := 1, drainTimeout(in.Sharding)
	if in.Sharding != nil {
		maxUnavailable = max(in.Sharding.MaxUnavailable, 1)
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		failure  string
		firstErr error
		slots    = make(chan struct{}, maxUnavailable)
	)
	// Every heartbeat replaces the details of the last one: the waits of a
	// restart heartbeat the instances done so far, so a retry still skips them.
	wait := func() error {
		mu.Lock()
		details := slices.Clone(done)
		mu.Unlock()
		return a.sleep(ctx, details)
	}
	for _, inst := range insts {
		if skip[inst.ID] {
			continue
		}
		slots <- struct{}{}
		mu.Lock()
		stop := failure != "" || firstErr != nil
		mu.Unlock()
		if stop {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			why, err := a.restartInstance(ctx, p, in, inst, drainTimeout, wait)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case why != "" && failure == "":
				failure = why
			case err == nil && why == "":
				done = append(done, inst.ID)
				activity.RecordHeartbeat(ctx, done)
			}
		}()
	}
	wg.Wait()
	return failure, firstErr
}

// restartInstance is one shard-aware restart: drain, wait until the
// instance owns no shards, restart, wait ready, undrain, check the gates.
// Only a sharded service's instance that answers is drained: a dead one
// owns nothing and is only replaced. wait sleeps one poll interval
// between two checks.
func (a *Activities) restartInstance(ctx context.Context, p *providers.Provider, in RolloutInput, inst driver.Instance, drainTimeout time.Duration, wait func() error) (string, error) {
	t := in.Target
	drain := p.HasSharder() && in.Sharding != nil && inst.Ready
	if drain {
		if err := p.Drain(ctx, t, inst); err != nil {
			return "", err
		}
		deadline := time.Now().Add(drainTimeout)
		for {
			owned, err := p.Owned(ctx, t, inst)
			if err != nil && !providers.Code(err).Retryable() {
				return "", err
			}
			if err == nil && owned == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Sprintf("%s: instance %s still owns %d shard(s) after the %s drain timeout", t.ID(), inst.ID, owned, drainTimeout), nil
			}
			if err := wait(); err != nil {
				return "", err
			}
		}
	}
	id := inst.ID
	before, err := p.Instances(ctx, t)
	if err != nil {
		return "", err
	}
	if err := p.RestartInstance(ctx, t, id); err != nil {
		return "", err
	}
	// The instance comes back, or (a Kubernetes Deployment's pod) a
	// replacement with a new id takes its place: either is undrained.
	for back := false; !back; {
		insts, err := p.Instances(ctx, t)
		if err != nil && !providers.Code(err).Retryable() {
			return "", err
		}
		var replaced driver.Instance
		if replaced, back = replacement(insts, before, id); back {
			inst = replaced
		} else if err := wait(); err != nil {
			return "", err
		}
	}
	if drain {
		if err := p.Undrain(ctx, t, inst); err != nil {
			return "", err
		}
	}
	obs, err := evaluateGates(ctx, p, t, in.Gates)
	if err != nil {
		return "", err
	}
	if why := (pipelines.GateTallies{}).Observe(in.Gates, obs); why != "" {
		return fmt.Sprintf("after restarting %s: %s", id, why), nil
	}
	return "", nil
}

// replacement is the restarted instance id once it is back ready in
// now: the same id, or, once id is gone, a ready instance that was not
// there before the restart.
func replacement(now, before []driver.Instance, id string) (driver.Instance, bool) {
	listed := func(list []driver.Instance, id string) bool {
		return slices.ContainsFunc(list, func(i driver.Instance) bool { return i.ID == id })
	}
	for _, i := range now {
		if i.ID == id && i.Ready {
			return i, true
		}
	}
	if listed(now, id) {
		return driver.Instance{}, false
	}
	for _, i := range now {
		if i.Ready && !listed(before, i.ID) {
			return i, true
		}
	}
	return driver.Instance{}, false
}

// Rollback undoes one change: it makes c.Previous live again on c.Target
// and waits until it is ready. A deploy to a target that ran nothing
// (Previous "") is undone by removing it: the driver's Rollback to "", then
// a wait until Status of "" reports that nothing runs (see
// driver.Deployer). A driver that cannot remove it answers Invalid and the
// target is left as it is; so is a first config, which has nothing to go
// back to. Rolling back to what is already live changes nothing, so
// retries are safe.
func (a *Activities) Rollback(ctx context.Context, c Compensation) error {
	p, err := a.Providers.For(c.Target)
	if err != nil {
		return activityError(err)
	}
	if c.Previous == "" && c.Kind == KindConfig {
		// A first config has nothing to go back to: it is removed.
		_, err := p.RemoveConfig(ctx, c.Target)
		if errors.Is(err, providers.ErrUnsupported) {
			return temporal.NewNonRetryableApplicationError(c.Target.ID()+": first config, there is no previous config to go back to, and the driver cannot remove it", "not-found", nil)
		}
		return activityError(err)
	}
	if c.Kind == KindDecommission {
		return a.restore(ctx, p, c)
	}
	stop := a.keepAlive(ctx)
	if c.Kind == KindConfig {
		err = p.RollbackConfig(ctx, c.Target, c.Previous)
	} else {
		err = p.Rollback(ctx, c.Target, c.Previous)
	}
	stop()
	if c.Previous == "" && providers.Code(err) == driver.Invalid {
		err = fmt.Errorf("%s: first deploy, and the driver cannot remove it: %w", c.Target.ID(), err)
	}
	if err != nil {
		return activityError(err)
	}
	failure, err := a.waitReady(ctx, p, c.Target, c.Kind, c.Previous, nil)
	if err == nil && failure != "" {
		err = temporal.NewNonRetryableApplicationError(failure, "failed", nil)
	}
	return activityError(err)
}

// Decommission removes one target of a decommission: it drains the
// target's instances through the sharder (for a sharded service; a drain
// that does not finish within the drain timeout is logged and the removal
// goes on, since the whole target goes away), removes its config (where
// the driver delivers config) and then what runs there, and waits until
// nothing runs. Undo names what was taken off, for Rollback to put back.
// Each step is heartbeated with what it took off, so that a retry resumes
// instead of removing again: a second Remove would find nothing and forget
// what ran.
func (a *Activities) Decommission(ctx context.Context, in DecommissionInput) (DecommissionResult, error) {
	p, err := a.Providers.For(in.Target)
	if err != nil {
		return DecommissionResult{}, activityError(err)
	}
	t := in.Target
	s := decommissionState{Undo: Compensation{Target: t, Kind: KindDecommission}}
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &s)
	}
	// An error once something was taken off is a Failure, so that it is
	// still put back; only a canceled activity stays an error (its retry
	// resumes from the heartbeat).
	fail := func(err error) (DecommissionResult, error) {
		u := s.Undo
		if providers.Code(err) == driver.Canceled || (u.Removal == nil && u.ConfigRemoval == nil && len(u.Drained) == 0) {
			return DecommissionResult{Undo: u}, activityError(err)
		}
		return DecommissionResult{Undo: u, Failure: fmt.Sprintf("%s: decommission: %v", t.ID(), err)}, nil
	}
	if !s.Drained && in.Sharding != nil && p.HasSharder() {
		if s.Undo.Drained, err = a.drainAll(ctx, p, in, s); err != nil {
			return fail(err)
		}
	}
	s.Drained = true
	if !s.ConfigRemoved {
		r, err := p.RemoveConfig(ctx, t)
		switch {
		case errors.Is(err, providers.ErrUnsupported):
		case err != nil:
			return fail(err)
		case r.Revision != "":
			s.Undo.ConfigRemoval = &r
		}
		s.ConfigRemoved = true
		activity.RecordHeartbeat(ctx, s)
	}
	if !s.Removed {
		stop := a.keepAlive(ctx, s)
		r, err := p.Remove(ctx, t)
		stop()
		if errors.Is(err, providers.ErrUnsupported) {
			err = fmt.Errorf("the driver cannot remove a target: %w", err)
		}
		if err != nil {
			return fail(err)
		}
		if r.Revision != "" {
			s.Undo.Removal = &r
		}
		s.Removed = true
	}
	failure, err := a.waitReady(ctx, p, t, KindVersion, "", s)
	if err != nil {
		return fail(err)
	}
	return DecommissionResult{Undo: s.Undo, Failure: failure}, nil
}

// decommissionState is the Decommission activity's heartbeat: the steps
// done and what they took off.
type decommissionState struct {
	Undo          Compensation `json:"undo"`
	Drained       bool         `json:"drained,omitempty"`
	ConfigRemoved bool         `json:"configRemoved,omitempty"`
	Removed       bool         `json:"removed,omitempty"`
}

// drainAll drains every instance of the target and waits, up to the drain
// timeout, until none owns a shard; it returns the instances drained.
func (a *Activities) drainAll(ctx context.Context, p *providers.Provider, in DecommissionInput, s decommissionState) ([]string, error) {
	t := in.Target
	insts, err := p.Instances(ctx, t)
	if err != nil {
		return nil, err
	}
	drained := []string{}
	for _, inst := range insts {
		if err := p.Drain(ctx, t, inst); err != nil {
			return drained, err
		}
		drained = append(drained, inst.ID)
	}
	s.Undo.Drained = drained
	deadline := time.Now().Add(drainTimeout(in.Sharding))
	for _, inst := range insts {
		for {
			owned, err := p.Owned(ctx, t, inst)
			if err == nil && owned == 0 {
				break
			}
			if time.Now().After(deadline) {
				activity.GetLogger(ctx).Warn("drain timed out; removing anyway", "target", t.ID(), "instance", inst.ID, "owned", owned, "error", err)
				return drained, nil
			}
			if err := a.sleep(ctx, s); err != nil {
				return drained, err
			}
		}
	}
	return drained, nil
}

// drainTimeout is how long a drain may take (default 2 minutes).
func drainTimeout(s *placement.Sharding) time.Duration {
	if s != nil && s.DrainTimeout > 0 {
		return time.Duration(s.DrainTimeout)
	}
	return 2 * time.Minute
}

// restore puts back what a decommission took off t: its config, then the
// revision that ran there (awaited ready), then undrains its instances.
func (a *Activities) restore(ctx context.Context, p *providers.Provider, c Compensation) error {
	t := c.Target
	stop := a.keepAlive(ctx)
	var err error
	if c.ConfigRemoval != nil {
		_, err = p.RestoreConfig(ctx, t, *c.ConfigRemoval)
	}
	if err == nil && c.Removal != nil {
		_, err = p.Restore(ctx, t, *c.Removal)
	}
	stop()
	if err != nil {
		return activityError(err)
	}
	if c.Removal != nil {
		failure, err := a.waitReady(ctx, p, t, KindVersion, c.Removal.Revision, nil)
		if err == nil && failure != "" {
			err = temporal.NewNonRetryableApplicationError(failure, "failed", nil)
		}
		if err != nil {
			return activityError(err)
		}
	}
	if len(c.Drained) == 0 || !p.HasSharder() {
		return nil
	}
	insts, err := p.Instances(ctx, t)
	if err != nil {
		return activityError(err)
	}
	for _, inst := range insts {
		if slices.Contains(c.Drained, inst.ID) {
			if err := p.Undrain(ctx, t, inst); err != nil {
				return activityError(err)
			}
		}
	}
	return nil
}

// EvaluateGates evaluates every gate on every target once (a bake round),
// heartbeating while the gates run: an HTTP gate may wait for its timeout.
func (a *Activities) EvaluateGates(ctx context.Context, in GateCheck) ([]pipelines.GateObservation, error) {
	const workers = 8
	stop := a.keepAlive(ctx)
	defer stop()
	results := make([][]pipelines.GateObservation, len(in.Targets))
	errs := make([]error, len(in.Targets))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(in.Targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, err := a.Providers.For(in.Targets[i])
				if err == nil {
					results[i], err = evaluateGates(ctx, p, in.Targets[i], in.Gates)
				}
				errs[i] = err
			}
		}()
	}
	for i := range in.Targets {
		next <- i
	}
	close(next)
	wg.Wait()
	var obs []pipelines.GateObservation
	for i := range in.Targets {
		if errs[i] != nil {
			return nil, activityError(errs[i])
		}
		obs = append(obs, results[i]...)
	}
	return obs, nil
}

// evaluateGates observes each gate once on t. An evaluation error becomes an
// observation (counted against the gate's ErrorLimit), unless the gate can
// never be evaluated here.
func evaluateGates(ctx context.Context, p *providers.Provider, t placement.Target, gates []placement.Gate) ([]pipelines.GateObservation, error) {
	obs := make([]pipelines.GateObservation, 0, len(gates))
	for _, g := range gates {
		o, err := p.EvaluateGate(ctx, t, g)
		switch {
		case errors.Is(err, providers.ErrUnsupported), providers.Code(err) == driver.Canceled:
			return nil, err
		case err != nil:
			obs = append(obs, pipelines.GateObservation{Target: t.ID(), Gate: pipelines.GateName(g), Error: err.Error()})
		default:
			obs = append(obs, pipelines.GateObservation{Target: t.ID(), Gate: pipelines.GateName(g), Health: observedHealth(o.Health), Message: o.Message})
		}
	}
	return obs, nil
}

// observedHealth is a driver's gate verdict in the words of package
// pipelines, which assesses the gates and knows no driver.
func observedHealth(h driver.Health) pipelines.Health {
	switch h {
	case driver.Healthy:
		return pipelines.Healthy
	case driver.Unhealthy:
		return pipelines.Unhealthy
	}
	return pipelines.HealthUnknown
}

// QueueServed says why a pipeline cannot run when no worker has polled its
// task queue lately, with the command that serves it, and "" when workers
// poll it (see queueCheck). It runs on the control task queue with the
// worker's own client.
func (a *Activities) QueueServed(ctx context.Context, ps PipelineStatus) (string, error) {
	q := &queueCheck{c: activity.GetClient(ctx)}
	return q.ask(ctx, ps), nil
}
