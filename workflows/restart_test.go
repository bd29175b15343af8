package workflows

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// flakyInstance is the fake driver where one instance gives up its shards
// only on the second poll after each drain (so the restart waits and
// heartbeats) and fails its first restarts with a transient error (so the
// activity is retried).
type flakyInstance struct {
	*fake.Driver
	id       string
	failures int

	mu    sync.Mutex
	polls int
}

func (d *flakyInstance) Owned(ctx context.Context, t driver.Target, inst driver.Instance) (int, error) {
	n, err := d.Driver.Owned(ctx, t, inst)
	if inst.ID != d.id || err != nil {
		return n, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.polls++
	if d.polls%2 == 1 {
		return 1, nil
	}
	return n, nil
}

func (d *flakyInstance) RestartInstance(ctx context.Context, t driver.Target, id string) error {
	d.mu.Lock()
	fail := id == d.id && d.failures > 0
	if fail {
		d.failures--
	}
	d.mu.Unlock()
	if fail {
		return &fake.Error{Code: driver.Unavailable, Msg: "restart " + id + ": 503"}
	}
	return d.Driver.RestartInstance(ctx, t, id)
}

// A retried restart must skip the instances an earlier attempt restarted,
// even when that attempt heartbeated again while draining the next one.
func TestRetriedRestartSkipsInstancesAlreadyRestarted(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-3"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(time.Minute)}
	f := newFixture(t, req)
	second := fmt.Sprintf("%s#1", prodA.ID())
	d := &flakyInstance{Driver: f.fake, id: second, failures: 2}
	f.env = quietEnv()
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	restarts := map[string]int{}
	for _, c := range f.fake.Calls() {
		if c.Op == "restart-instance" && !c.Err {
			restarts[c.Arg]++
		}
	}
	for i := range 3 {
		id := fmt.Sprintf("%s#%d", prodA.ID(), i)
		if restarts[id] != 1 {
			t.Errorf("%s restarted %d times, want once (all: %v)", id, restarts[id], restarts)
		}
	}
}

// A crashed instance has nothing to drain: the restart replaces it
// without the drain protocol, and drains the others as ever.
func TestRestartReplacesACrashedInstanceWithoutDraining(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-crashed"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(time.Second)}
	f := newFixture(t, req)
	dead := prodA.ID() + "#1"
	f.fake.Crash(prodA, dead)
	st := f.run()
	if st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	var seq []string
	for _, c := range f.fake.Calls() {
		if (c.Op == "drain" || c.Op == "restart-instance" || c.Op == "undrain") && c.Arg == dead {
			seq = append(seq, c.Op)
		}
	}
	if !slices.Equal(seq, []string{"restart-instance"}) {
		t.Errorf("calls on the crashed instance %v, want only its restart", seq)
	}
}

// A service without sharding settings is not drained, even where the
// worker has a sharder.
func TestRestartOfAnUnshardedServiceDoesNotDrain(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-unsharded"}
	f := newFixture(t, req)
	if st := f.run(); st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	if drains := f.calls("drain", "undrain"); len(drains) > 0 {
		t.Errorf("an unsharded service was drained: %v", drains)
	}
}

// replacingInstances is the fake driver where a restarted instance comes
// back under a new id, as a Kubernetes Deployment's evicted pod does.
type replacingInstances struct {
	*fake.Driver
	mu      sync.Mutex
	renamed map[string]string // old id → its replacement's
}

func (d *replacingInstances) RestartInstance(ctx context.Context, t driver.Target, id string) error {
	if err := d.Driver.RestartInstance(ctx, t, id); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.renamed[id] = id + "-replacement"
	return nil
}

func (d *replacingInstances) Instances(ctx context.Context, t driver.Target) ([]driver.Instance, error) {
	list, err := d.Driver.Instances(ctx, t)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, in := range list {
		if r, ok := d.renamed[in.ID]; ok {
			list[i].ID = r
		}
	}
	return list, err
}

// A restarted instance that comes back under a new id is waited for and
// undrained under that id; it is not restarted again.
func TestRestartAcceptsAReplacementInstance(t *testing.T) {
	req := request(pipe("aws", "automatic", stg("one", prodA)))
	req.Change = Change{Kind: KindRestart, ID: "restart-replaced"}
	req.Sharding = &placement.Sharding{Sharder: "http-drain", MaxUnavailable: 1, DrainTimeout: placement.Duration(time.Minute)}
	f := newFixture(t, req)
	d := &replacingInstances{Driver: f.fake, renamed: map[string]string{}}
	f.env = quietEnv()
	Register(f.env, &Activities{Providers: providers.NewSet().Add("aws", "", providers.New(d, nil)), PollInterval: time.Millisecond})
	if st := f.run(); st.Phase != PhaseSucceeded {
		t.Fatalf("phase %s (%s)", st.Phase, st.Reason)
	}
	var undrained, restarted []string
	for _, c := range f.fake.Calls() {
		switch {
		case c.Op == "undrain":
			undrained = append(undrained, c.Arg)
		case c.Op == "restart-instance" && !c.Err:
			restarted = append(restarted, c.Arg)
		}
	}
	for i := range 3 {
		id := fmt.Sprintf("%s#%d", prodA.ID(), i)
		if !slices.Contains(undrained, id+"-replacement") || slices.Contains(undrained, id) {
			t.Errorf("undrained %v, want %s's replacement and not %s", undrained, id, id)
		}
	}
	if len(restarted) != 3 {
		t.Errorf("restarted %v, want each of the 3 instances once", restarted)
	}
}
