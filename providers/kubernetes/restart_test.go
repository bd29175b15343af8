package kubernetes

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

// A sharded fleet of the demo service on Kubernetes: a StatefulSet whose
// pods hold the shards of a keyed cache behind the HTTP drain protocol,
// assigned by the demo's assigner over the pods the driver lists.
type shardedFleet struct {
	d        *Driver
	tgt      driver.Target
	assigner *demoshard.Assigner
	sharder  *demoshard.Sharder
	load     *demoshard.Load
}

func newShardedFleet(tb testing.TB, pods int) *shardedFleet {
	tb.Helper()
	ctx := context.Background()
	d, err := New(Options{Clusters: fixed{env.Cluster.Config(env.Cluster.AdminToken)}})
	if err != nil {
		tb.Fatal(err)
	}
	ns := env.Namespace(tb)
	f := &shardedFleet{d: d, tgt: driver.Target{Service: fmt.Sprintf("cache-%d", targets.Add(1)), Environment: "prod", Cloud: "aws",
		Boundary: "aws", Region: "us-east-1", Cell: testCell}}
	dep, err := d.Deploy(ctx, driver.DeployRequest{Target: f.tgt, Image: kubetest.DemoImage, Version: "v1", Instances: pods,
		Workload: kubetest.DemoWorkload("StatefulSet", ns, f.tgt.Service)})
	if err != nil {
		tb.Fatal(err)
	}
	awaitReadyTB(tb, d, f.tgt, dep.Revision)
	f.assigner = demoshard.NewAssigner(64, func(ctx context.Context) ([]demoshard.Member, error) {
		list, err := d.Instances(ctx, f.tgt)
		var members []demoshard.Member
		for _, in := range list {
			if in.Ready {
				members = append(members, demoshard.Member{ID: in.ID, Address: in.Address})
			}
		}
		return members, err
	})
	run, stop := context.WithCancel(ctx)
	tb.Cleanup(stop)
	go f.assigner.Run(run, 200*time.Millisecond)
	awaitTB(tb, "every shard assigned", func() bool {
		n := 0
		for _, c := range f.assigner.Owners() {
			n += c
		}
		return n == 64 && len(f.assigner.Owners()) == pods
	})
	f.sharder = demoshard.NewSharder(func(driver.Target) *demoshard.Assigner { return f.assigner })
	f.load = demoshard.NewLoad(f.assigner, &demoshard.LoadOptions{Keys: 500, Workers: 4, Interval: 2 * time.Millisecond})
	return f
}

// restart restarts every pod in turn the way the restart workflow does:
// drained first when aware (until it owns no shard), evicted, and, once
// its replacement is ready, undrained under its new address.
func (f *shardedFleet) restart(tb testing.TB, aware bool) {
	tb.Helper()
	ctx := context.Background()
	list, err := f.d.Instances(ctx, f.tgt)
	if err != nil {
		tb.Fatal(err)
	}
	for _, in := range list {
		if aware {
			if err := f.sharder.Drain(ctx, f.tgt, in); err != nil {
				tb.Fatal(err)
			}
			awaitTB(tb, in.ID+" to own no shard", func() bool {
				n, err := f.sharder.Owned(ctx, f.tgt, in)
				return err == nil && n == 0
			})
		}
		if err := f.d.RestartInstance(ctx, f.tgt, in.ID); err != nil {
			tb.Fatal(err)
		}
		var back driver.Instance
		awaitTB(tb, in.ID+" to come back ready", func() bool {
			now, err := f.d.Instances(ctx, f.tgt)
			for _, i := range now {
				if i.ID == in.ID && i.Ready && i.Address != in.Address {
					back = i
					return err == nil
				}
			}
			return false
		})
		if aware {
			if err := f.sharder.Undrain(ctx, f.tgt, back); err != nil {
				tb.Fatal(err)
			}
		} else if err := f.assigner.Reconcile(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// hitRate is the load's hit rate while during runs.
func (f *shardedFleet) hitRate(during func()) (float64, int64) {
	ctx, stop := context.WithCancel(context.Background())
	f.load.Warm(context.Background())
	from := time.Now()
	f.load.Start(ctx)
	during()
	stop()
	f.load.Wait()
	c := f.load.Count(from, time.Now())
	return c.HitRate(), c.Requests
}

// TestShardAwareStatefulSetRestart: restarting a StatefulSet pod by pod
// through the drain keeps the cache warm; restarting it without does not.
func TestShardAwareStatefulSetRestart(t *testing.T) {
	f := newShardedFleet(t, 4)
	aware, n := f.hitRate(func() { f.restart(t, true) })
	naive, m := f.hitRate(func() { f.restart(t, false) })
	t.Logf("hit rate during the restart of 4 pods: shard-aware %.1f%% of %d requests, naive %.1f%% of %d", 100*aware, n, 100*naive, m)
	if n == 0 || aware < 0.95 {
		t.Errorf("shard-aware restart: hit rate %.3f over %d requests, want >= 0.95", aware, n)
	}
	if naive >= aware {
		t.Errorf("naive restart: hit rate %.3f, not below the shard-aware %.3f", naive, aware)
	}
}

// BenchmarkStatefulSetRestartHitRate measures the cache hit rate of an
// 8-pod StatefulSet of the demo service under keyed load during a
// shard-aware restart of every pod, and during a naive restart of the
// same fleet (providers/local's BenchmarkRestartHitRate on processes).
func BenchmarkStatefulSetRestartHitRate(b *testing.B) {
	f := newShardedFleet(b, 8)
	var aware, naive float64
	var requests int64
	b.ResetTimer()
	for range b.N {
		r, n := f.hitRate(func() { f.restart(b, true) })
		aware += r
		requests += n
		r, n = f.hitRate(func() { f.restart(b, false) })
		naive += r
		requests += n
	}
	b.ReportMetric(100*aware/float64(b.N), "%hit-shard-aware")
	b.ReportMetric(100*naive/float64(b.N), "%hit-naive")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

func awaitReadyTB(tb testing.TB, d *Driver, tgt driver.Target, rev string) {
	tb.Helper()
	awaitTB(tb, "revision "+rev+" to be ready", func() bool {
		st, err := d.Status(context.Background(), tgt, rev)
		if err == nil && st.State == driver.StateFailed {
			tb.Fatalf("rollout failed: %s", st.Reason)
		}
		return err == nil && st.State == driver.StateReady
	})
}

func awaitTB(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
