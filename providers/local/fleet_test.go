package local

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

// await polls cond every 20ms until it holds, failing after 30s.
func await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !pollUntil(ctx, 20*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func deployReady(t testing.TB, p *Driver, req driver.DeployRequest) driver.Deployment {
	t.Helper()
	dep, err := p.Deploy(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var st driver.Status
	await(t, "rollout of "+dep.Revision, func() bool {
		st, err = p.Status(context.Background(), req.Target, dep.Revision)
		return err != nil || st.State != driver.StateProgressing
	})
	if err != nil || st.State != driver.StateReady {
		t.Fatalf("rollout of %s: %+v, %v", dep.Revision, st, err)
	}
	return dep
}

func demoRequest(t driver.Target, version string, n int) driver.DeployRequest {
	return driver.DeployRequest{Target: t, Image: "local/meridian-demo", Version: version, Instances: n}
}

// TestAdoptAfterWorkerRestart leaves a fleet running, starts a new Driver
// on the same state dir, and checks it finds the processes again.
func TestAdoptAfterWorkerRestart(t *testing.T) {
	dir := t.TempDir()
	tgt := newTarget("adopt")
	p1 := newDriver(t, dir)
	dep := deployReady(t, p1, demoRequest(tgt, "v1", 2))
	before, err := p1.Instances(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	p1.Detach()

	p2 := newDriver(t, dir)
	defer p2.Close()
	after, err := p2.Instances(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[0].Address != before[0].Address || !after[0].Ready || !after[1].Ready {
		t.Fatalf("adopted instances %+v, want the ready %+v", after, before)
	}
	if st, err := p2.Status(context.Background(), tgt, dep.Revision); err != nil || st.State != driver.StateReady {
		t.Fatalf("status after adoption: %+v, %v", st, err)
	}
	again, err := p2.Deploy(context.Background(), demoRequest(tgt, "v1", 2))
	if err != nil || again.Changed || again.Revision != dep.Revision {
		t.Fatalf("redeploy after adoption = %+v, %v; want unchanged", again, err)
	}
	// Close stops the adopted processes too.
	pids := pidsOf(p2, tgt)
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if pidAlive(pid) {
			t.Fatalf("pid %d still runs after Close", pid)
		}
	}
}

func pidsOf(p *Driver, t driver.Target) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pids []int
	for _, in := range p.state.Targets[t.ID()].Instances {
		pids = append(pids, in.PID)
	}
	return pids
}

// TestResumeRolloutAfterWorkerRestart detaches in the middle of a rollout;
// the next Driver finishes it on one version.
func TestResumeRolloutAfterWorkerRestart(t *testing.T) {
	dir := t.TempDir()
	tgt := newTarget("resume")
	p1 := newDriver(t, dir)
	deployReady(t, p1, demoRequest(tgt, "v1", 3))
	dep, err := p1.Deploy(context.Background(), demoRequest(tgt, "v2", 3))
	if err != nil {
		t.Fatal(err)
	}
	await(t, "a first v2 instance", func() bool {
		list, _ := p1.Instances(context.Background(), tgt)
		for _, in := range list {
			if in.Revision == dep.Revision && in.Ready {
				return true
			}
		}
		return false
	})
	p1.Detach()
	p2 := newDriver(t, dir)
	defer p2.Close()
	var st driver.Status
	await(t, "the resumed rollout", func() bool {
		st, err = p2.Status(context.Background(), tgt, dep.Revision)
		return err != nil || st.State != driver.StateProgressing
	})
	if err != nil || st.State != driver.StateReady || st.Ready != 3 {
		t.Fatalf("resumed rollout: %+v, %v", st, err)
	}
	list, _ := p2.Instances(context.Background(), tgt)
	for _, in := range list {
		if in.Revision != dep.Revision {
			t.Fatalf("instance %s left on %s after the rollout", in.ID, in.Revision)
		}
	}
}

// TestCrashFailsReadiness kills an instance: Status and the gate fail.
func TestCrashFailsReadiness(t *testing.T) {
	p := newDriver(t, t.TempDir())
	defer p.Close()
	tgt := newTarget("crash")
	dep := deployReady(t, p, demoRequest(tgt, "v1", 2))
	pid := pidsOf(p, tgt)[0]
	syscall.Kill(pid, syscall.SIGKILL)
	await(t, "the crashed process to be reaped", func() bool { return !p.alive(pid) })
	await(t, "status to see the crash", func() bool {
		st, _ := p.Status(context.Background(), tgt, dep.Revision)
		return st.State == driver.StateFailed && st.Ready == 1
	})
	obs, err := p.EvaluateGate(context.Background(), tgt, driver.Gate{Name: "h", HTTP: &driver.HTTPGate{Path: "/healthz"}})
	if err != nil || obs.Health != driver.Unhealthy {
		t.Fatalf("gate after a crash: %+v, %v", obs, err)
	}
	// Rolling back to the live revision repairs it.
	if err := p.Rollback(context.Background(), tgt, dep.Revision); err != nil {
		t.Fatal(err)
	}
	await(t, "the repaired fleet", func() bool {
		st, _ := p.Status(context.Background(), tgt, dep.Revision)
		return st.State == driver.StateReady && st.Ready == 2
	})
}

func TestBadInput(t *testing.T) {
	p := newDriver(t, t.TempDir())
	defer p.Close()
	tgt := newTarget("bad")
	_, err := p.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: "local/no-such-binary", Version: "v1"})
	if p.ErrorCode(err) != driver.Invalid {
		t.Fatalf("deploy of an unknown image: %v (code %v), want invalid", err, p.ErrorCode(err))
	}
	_, err = p.ApplyConfig(context.Background(), driver.ConfigRequest{Target: tgt, Version: "c1", Data: []byte(`[1]`)})
	if p.ErrorCode(err) != driver.Invalid {
		t.Fatalf("config that is not an object: %v, want invalid", err)
	}
	_, err = p.EvaluateGate(context.Background(), tgt, driver.Gate{Name: "a", Alarm: &driver.AlarmGate{Name: "x"}})
	if p.ErrorCode(err) != driver.Invalid {
		t.Fatalf("alarm gate: %v, want invalid", err)
	}
}

// measure runs load's workers while during runs, and returns the hit
// rate and the number of requests in that time.
func measure(load *demoshard.Load, during func()) (float64, int64) {
	ctx, stop := context.WithCancel(context.Background())
	from := time.Now()
	load.Start(ctx)
	during()
	stop()
	load.Wait()
	c := load.Count(from, time.Now())
	return c.HitRate(), c.Requests
}

// awaitAssigned waits until the target's assigner has given every shard an
// owner.
func awaitAssigned(t testing.TB, p *Driver, tgt driver.Target) {
	t.Helper()
	await(t, "every shard assigned", func() bool {
		n := 0
		for _, c := range p.assigner(tgt).Owners() {
			n += c
		}
		return n == p.opts.Shards
	})
}

// shardAwareRestart restarts every instance through the drain.
func shardAwareRestart(t testing.TB, p *Driver, tgt driver.Target) {
	ctx := context.Background()
	s := p.Sharder()
	list, err := p.Instances(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if err := s.Drain(ctx, tgt, in); err != nil {
			t.Fatal(err)
		}
		await(t, in.ID+" to own no shards", func() bool {
			n, err := s.Owned(ctx, tgt, in)
			return err == nil && n == 0
		})
		if err := p.RestartInstance(ctx, tgt, in.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Undrain(ctx, tgt, in); err != nil {
			t.Fatal(err)
		}
	}
}

// naiveRestart restarts every instance in turn, without draining.
func naiveRestart(t testing.TB, p *Driver, tgt driver.Target) {
	ctx := context.Background()
	list, err := p.Instances(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if err := p.RestartInstance(ctx, tgt, in.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func shardedRequest(t driver.Target, version string, n int) driver.DeployRequest {
	req := demoRequest(t, version, n)
	req.Sharding = &driver.Sharding{Sharder: "demo", MaxUnavailable: 1, DrainTimeout: 10 * time.Second}
	return req
}

// TestShardedRolloutKeepsCacheWarm deploys a new version of a sharded fleet
// under load: instances are replaced through the drain, so keys keep
// hitting warm caches.
func TestShardedRolloutKeepsCacheWarm(t *testing.T) {
	p := newDriver(t, t.TempDir())
	defer p.Close()
	tgt := newTarget("sharded")
	deployReady(t, p, shardedRequest(tgt, "v1", 4))
	awaitAssigned(t, p, tgt)
	load := demoshard.NewLoad(p.assigner(tgt), &demoshard.LoadOptions{Keys: 200, Workers: 2, Interval: 2 * time.Millisecond})
	load.Warm(context.Background())
	rate, n := measure(load, func() { deployReady(t, p, shardedRequest(tgt, "v2", 4)) })
	t.Logf("hit rate during the sharded rollout: %.1f%% of %d requests", 100*rate, n)
	if n == 0 || rate < 0.9 {
		t.Fatalf("hit rate %.3f over %d requests during a sharded rollout, want >= 0.9", rate, n)
	}
	owners := p.assigner(tgt).Owners()
	list, _ := p.Instances(context.Background(), tgt)
	for _, in := range list {
		if owners[in.ID] == 0 {
			t.Fatalf("new instance %s owns no shards after the rollout: %v", in.ID, owners)
		}
	}
}

// TestShardedAdoptResumesAssignment restarts the provider over a running
// sharded fleet: the new assigner continues the previous one's owner map
// and generation, so it moves no shard needlessly, an idle reconcile keeps
// the generation, and a drain right after the restart completes promptly
// with the moved shards still warm.
func TestShardedAdoptResumesAssignment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tgt := newTarget("adopt-sharded")
	p1 := newDriver(t, dir)
	deployReady(t, p1, shardedRequest(tgt, "v1", 3))
	awaitAssigned(t, p1, tgt)
	list, err := p1.Instances(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	// Move the assignment on once: drain and undrain an instance.
	s1 := p1.Sharder()
	if err := s1.Drain(ctx, tgt, list[1]); err != nil {
		t.Fatal(err)
	}
	await(t, list[1].ID+" to own no shards", func() bool {
		n, err := s1.Owned(ctx, tgt, list[1])
		return err == nil && n == 0
	})
	if err := s1.Undrain(ctx, tgt, list[1]); err != nil {
		t.Fatal(err)
	}
	await(t, "every instance to own shards", func() bool { return len(p1.assigner(tgt).Owners()) == 3 })
	load := demoshard.NewLoad(p1.assigner(tgt), &demoshard.LoadOptions{Keys: 300})
	load.Warm(ctx)
	before := load.Routes()
	generation := reportedShards(t, list[0].Address).Generation
	p1.Detach()

	p2 := newDriver(t, dir)
	defer p2.Close()
	awaitAssigned(t, p2, tgt)
	load2 := demoshard.NewLoad(p2.assigner(tgt), &demoshard.LoadOptions{Keys: 300})
	rerouted := 0
	for key, addr := range load2.Routes() {
		if before[key] != addr {
			rerouted++
		}
	}
	if rerouted > 0 {
		t.Fatalf("the adopting assigner routes %d of %d keys elsewhere", rerouted, len(before))
	}
	for range 3 {
		if err := p2.assigner(tgt).Reconcile(ctx); err != nil {
			t.Fatalf("idle reconcile after the restart: %v", err)
		}
	}
	if g := reportedShards(t, list[0].Address).Generation; g != generation {
		t.Fatalf("generation %d after idle reconciles, was %d", g, generation)
	}

	s2 := p2.Sharder()
	start := time.Now()
	if err := s2.Drain(ctx, tgt, list[0]); err != nil {
		t.Fatalf("drain after the restart: %v", err)
	}
	within, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !pollUntil(within, 20*time.Millisecond, func() bool {
		n, err := s2.Owned(ctx, tgt, list[0])
		return err == nil && n == 0
	}) {
		t.Fatalf("%s still owns shards %v after the drain", list[0].ID, time.Since(start))
	}
	t.Logf("drain after the restart took %v", time.Since(start))
	moved, hits := 0, 0
	for key, addr := range before {
		if addr == list[0].Address {
			moved++
			if load2.Read(ctx, key) {
				hits++
			}
		}
	}
	if moved == 0 || hits < moved*95/100 {
		t.Fatalf("%d of %d keys of the drained shards hit at their new owners, want >= 95%%", hits, moved)
	}
	if g := reportedShards(t, list[2].Address).Generation; g <= generation {
		t.Fatalf("generation %d after the drain, want above %d", g, generation)
	}
}

// reportedShards returns an instance's GET /shards.
func reportedShards(t testing.TB, addr string) demoshard.Shards {
	t.Helper()
	var st demoshard.Shards
	if err := getJSON(context.Background(), "http://"+addr+"/shards", &st); err != nil {
		t.Fatalf("GET %s/shards: %v", addr, err)
	}
	return st
}

// BenchmarkRestartHitRate measures the cache hit rate of an 8-instance
// sharded demo fleet under steady keyed load during a shard-aware restart
// of every instance, and during a naive rolling restart of the same fleet.
func BenchmarkRestartHitRate(b *testing.B) {
	p := newDriver(b, b.TempDir())
	defer p.Close()
	tgt := newTarget("bench")
	deployReady(b, p, shardedRequest(tgt, "v1", 8))
	awaitAssigned(b, p, tgt)
	load := demoshard.NewLoad(p.assigner(tgt), &demoshard.LoadOptions{Keys: 1000, Workers: 4, Interval: 2 * time.Millisecond})
	var aware, naive float64
	var requests int64
	b.ResetTimer()
	for range b.N {
		load.Warm(context.Background())
		r, n := measure(load, func() { shardAwareRestart(b, p, tgt) })
		aware += r
		requests += n

		load.Warm(context.Background())
		r, n = measure(load, func() { naiveRestart(b, p, tgt) })
		naive += r
		requests += n
	}
	b.ReportMetric(100*aware/float64(b.N), "%hit-shard-aware")
	b.ReportMetric(100*naive/float64(b.N), "%hit-naive")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// TestRedeployAfterShutdown: after a clean shutdown stopped the fleet, the
// next Driver's Deploy of the same version reports no change, with the
// same previous revision, and starts the instances again.
func TestRedeployAfterShutdown(t *testing.T) {
	dir := t.TempDir()
	tgt := newTarget("redeploy")
	p1 := newDriver(t, dir)
	v1 := deployReady(t, p1, demoRequest(tgt, "v1", 2))
	v2 := deployReady(t, p1, demoRequest(tgt, "v2", 2))
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM let the instances exit cleanly.
	for _, id := range []string{"i3", "i4"} {
		if tail := p1.logTail(tgt.ID(), id); !strings.Contains(tail, "instance "+id+" stopped") {
			t.Fatalf("log of %s ends %q, want a clean stop", id, tail)
		}
	}
	p2 := newDriver(t, dir)
	defer p2.Close()
	again := deployReady(t, p2, demoRequest(tgt, "v2", 2))
	if again.Changed || again.Revision != v2.Revision || again.Previous != v1.Revision {
		t.Fatalf("redeploy after shutdown = %+v, want unchanged %s with previous %s", again, v2.Revision, v1.Revision)
	}
	if list, _ := p2.Instances(context.Background(), tgt); len(list) != 2 || !list[0].Ready || !list[1].Ready {
		t.Fatalf("instances after redeploy: %+v", list)
	}
}

// TestSharderOnUnshardedTarget: the engine drains every restart through
// the provider's Sharder; an unsharded instance owns nothing, so the drain
// is done at once.
func TestSharderOnUnshardedTarget(t *testing.T) {
	p := newDriver(t, t.TempDir())
	defer p.Close()
	tgt := newTarget("plain")
	deployReady(t, p, demoRequest(tgt, "v1", 1))
	list, err := p.Instances(context.Background(), tgt)
	if err != nil {
		t.Fatal(err)
	}
	s, ctx := p.Sharder(), context.Background()
	if err := s.Drain(ctx, tgt, list[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Owned(ctx, tgt, list[0]); err != nil || n != 0 {
		t.Fatalf("owned after drain = %d, %v", n, err)
	}
	if err := p.RestartInstance(ctx, tgt, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Undrain(ctx, tgt, list[0]); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveFirstDeploy undoes a first deploy (its gates failed): Rollback
// to "" stops its instances, and a new Driver on the same state dir
// still knows that nothing runs.
func TestRemoveFirstDeploy(t *testing.T) {
	dir := t.TempDir()
	tgt := newTarget("first")
	p1 := newDriver(t, dir)
	first := deployReady(t, p1, demoRequest(tgt, "v1", 2))
	if first.Previous != "" {
		t.Fatalf("first deploy = %+v, want previous \"\"", first)
	}
	pids := pidsOf(p1, tgt)
	if len(pids) != 2 {
		t.Fatalf("pids %v, want 2 instances", pids)
	}
	if err := p1.Rollback(context.Background(), tgt, ""); err != nil {
		t.Fatal(err)
	}
	await(t, "nothing to run", func() bool {
		st, err := p1.Status(context.Background(), tgt, "")
		return err == nil && st.State == driver.StateReady && st.Desired == 0
	})
	for _, pid := range pids {
		if p1.alive(pid) {
			t.Errorf("instance pid %d of v1 still runs", pid)
		}
	}
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	p2 := newDriver(t, dir)
	defer p2.Close()
	if st, err := p2.Status(context.Background(), tgt, ""); err != nil || st.State != driver.StateReady {
		t.Fatalf(`Status("") after a restart = %+v, %v; want ready`, st, err)
	}
	if st, _ := p2.Status(context.Background(), tgt, first.Revision); st.State != driver.StateFailed {
		t.Errorf("removed revision %s reports %+v, want failed", first.Revision, st)
	}
	good := deployReady(t, p2, demoRequest(tgt, "v2", 2))
	if good.Previous != "" {
		t.Fatalf("deploy after the removal = %+v, want previous \"\"", good)
	}
}

// An instance counts as ready only when it answers as itself: a recorded
// instance whose pid is alive (reused after a reboot, say) but whose port
// another instance holds is not ready, so nothing drains or counts it.
func TestInstanceAnswersAsItself(t *testing.T) {
	p := newDriver(t, t.TempDir())
	defer p.Close()
	other := newTarget("identity")
	deployReady(t, p, demoRequest(other, "v1", 1))
	p.mu.Lock()
	held := *p.state.Targets[other.ID()].Instances[0]
	p.mu.Unlock()
	impostor := instance{ID: "someone-else", PID: os.Getpid(), Port: held.Port}
	ok, whys := p.probeEach(context.Background(), []instance{held, impostor}, "/healthz", 200)
	if !ok[0] {
		t.Errorf("the instance itself is not ready: %s", whys[0])
	}
	if ok[1] || !strings.Contains(whys[1], "was answered by instance "+held.ID) {
		t.Errorf("an instance whose port another holds: ready %v (%s)", ok[1], whys[1])
	}
}
