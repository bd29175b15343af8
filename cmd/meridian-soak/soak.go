package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/cmd/internal/cluster"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/fakecloud"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows"
)

// The soak's fleet: AWS's boundaries, their regions, three cells each.
var (
	boundaries = []string{"public", "us-gov", "china", "eu-sovereign"}
	regionsOf  = map[string][]string{
		"public":       {"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "sa-east-1"},
		"us-gov":       {"us-gov-west-1", "us-gov-east-1"},
		"china":        {"cn-north-1", "cn-northwest-1"},
		"eu-sovereign": {"eusc-de-east-1"},
	}
	cells = []string{"c1", "c2", "c3"}
)

const (
	secondBuild = "soak-b"
	imageRepo   = "registry.example.com/"
)

// soak is one run: the fakes, the credentials, the spec and what runs.
type soak struct {
	opts  options
	fakes map[string]*fakecloud.AWS // by boundary
	creds map[string][2]string      // boundary → access key id, secret
	spec  string
	log   io.Writer

	cluster *cluster.Cluster // nil with --dev
	dev     []*cluster.Proc  // with --dev: meridian dev, and a worker of every boundary
	address string
	c       client.Client

	mu         sync.Mutex
	waves      []*wave
	mixed      []string          // targets not on the version their release's outcome says
	duplicated []string          // targets a change was deployed to twice
	live       map[string]string // service → the version its targets run
	faults     faults
	firstBuild []*cluster.Proc // the first build's workers, once the second is current
	retired    map[string]bool // the first build's workers, once stopped
	turn       int             // the fault loop's turn: which fault comes next
}

// faults counts what the fault loop injected.
type faults struct {
	kills, serverRestarts, pgRestarts, throttles, errors5xx, timeouts, upgrades int
}

func newSoak(o options) (*soak, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.dir, "soak.log"))
	if err != nil {
		return nil, err
	}
	s := &soak{opts: o, fakes: map[string]*fakecloud.AWS{}, creds: map[string][2]string{}, live: map[string]string{},
		retired: map[string]bool{}, log: io.MultiWriter(os.Stderr, logf), spec: filepath.Join(o.dir, "spec")}
	for _, b := range boundaries {
		s.fakes[b] = fakecloud.NewAWS()
		secret := make([]byte, 20)
		_, _ = crand.Read(secret)
		s.creds[b] = [2]string{"AKIASOAK" + strings.ToUpper(strings.ReplaceAll(b, "-", ""))[:4] + strings.ToUpper(hex.EncodeToString(secret[:4])), hex.EncodeToString(secret)}
	}
	if err := s.initSpec(); err != nil {
		s.close()
		return nil, err
	}
	for _, svc := range s.services() {
		s.live[svc] = "v1"
		for _, b := range boundaries {
			s.fakes[b].SetAlarm(svc+"-5xx", fakecloud.AlarmOK)
			for _, r := range regionsOf[b] {
				for _, cell := range cells {
					s.fakes[b].CreateService(r, r+"-"+cell, svc, imageRepo+svc+":v1", 2)
				}
			}
		}
	}
	return s, nil
}

func (s *soak) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (s *soak) services() []string {
	out := make([]string, s.opts.services)
	for i := range out {
		out[i] = fmt.Sprintf("svc-%02d", i)
	}
	return out
}

// initSpec makes the spec a git repository whose first commit runs v1
// everywhere.
func (s *soak) initSpec() error {
	if err := os.MkdirAll(s.spec, 0o755); err != nil {
		return err
	}
	if err := s.writeSpec(func(string) string { return "v1" }); err != nil {
		return err
	}
	if err := s.git("init", "-q"); err != nil {
		return err
	}
	return s.commit("v1 everywhere")
}

// writeSpec writes the fleet's spec with each service's version.
func (s *soak) writeSpec(version func(svc string) string) error {
	var b strings.Builder
	b.WriteString("package soak\n\nimport \"meridian.dev/schema\"\n\nenvironments: schema.#Environments & {prod: aws: {\n\tregions: [")
	var all []string
	for _, bd := range boundaries {
		all = append(all, regionsOf[bd]...)
	}
	for i, r := range all {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", r)
	}
	b.WriteString("]\n\tcells: {\n")
	for _, r := range all {
		fmt.Fprintf(&b, "\t\t%q: [\"c1\", \"c2\", \"c3\"]\n", r)
	}
	b.WriteString("\t}\n}}\n\nboundaries: aws: {\n")
	for _, bd := range boundaries {
		after := ""
		if bd != "public" {
			after = `after: ["public"], `
		}
		fmt.Fprintf(&b, "\t%q: {%sprovider: {endpoint: %q, ecsCluster: \"{region}-{cell}\"}}\n", bd, after, s.fakes[bd].URL())
	}
	b.WriteString(`}

pipelines: soak: schema.#Pipeline & {
	stages: [
		{name: "canary", environment: "prod", select: limit: 1, bake: "2s"},
		{name: "fleet", environment: "prod", maxParallel: 6, bake: "2s"},
	]
	rollback: "automatic"
}

_soak: {
	owner:    "soak"
	pipeline: "soak"
	placement: {clouds: ["aws"], boundaries: ["public", "us-gov", "china", "eu-sovereign"]}
	health: gates: [{alarm: name: "{service}-5xx"}]
}

services: {
`)
	for _, svc := range s.services() {
		fmt.Fprintf(&b, "\t%q: schema.#Service & _soak & {artifact: {image: %q, version: %q}}\n", svc, imageRepo+svc, version(svc))
	}
	b.WriteString("}\n")
	return os.WriteFile(filepath.Join(s.spec, "fleet.cue"), []byte(b.String()), 0o644)
}

func (s *soak) git(args ...string) error {
	cmd := exec.Command("git", append([]string{"-C", s.spec, "-c", "user.name=soak", "-c", "user.email=soak@example.com"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *soak) commit(msg string) error {
	if err := s.git("add", "-A"); err != nil {
		return err
	}
	return s.git("commit", "-q", "-m", msg)
}

// workerEnv is a boundary worker's environment: its credentials only.
func (s *soak) workerEnv(b string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.creds[b][0], "AWS_SECRET_ACCESS_KEY=" + s.creds[b][1], "AWS_EC2_METADATA_DISABLED=true"}
}

// start brings up the cluster (or meridian dev) and dials it.
func (s *soak) start(ctx context.Context) error {
	rules, err := boundaryRules(s.spec)
	if err != nil {
		return err
	}
	if s.opts.dev {
		err = s.startDev(ctx)
	} else {
		env := map[string][]string{}
		for _, b := range boundaries {
			env["aws/"+b] = s.workerEnv(b)
		}
		s.cluster, err = cluster.Up(ctx, cluster.Options{
			Dir: filepath.Join(s.opts.dir, "cluster"), Bin: s.opts.bin, Spec: s.spec, Boundaries: rules,
			Port: s.opts.port, UIPort: s.opts.port + 1000, Namespace: "default",
			Postgres:  cluster.Postgres{Address: "127.0.0.1:55532"},
			WorkerEnv: env, BuildID: "soak-a", Deployment: "meridian",
		})
		if err == nil {
			s.address = s.cluster.Address()
			s.logf("cluster up: temporal %s, web ui %s", s.address, s.cluster.UIURL())
		}
	}
	if err != nil {
		return err
	}
	s.c, err = client.Dial(client.Options{HostPort: s.address, Namespace: "default", Logger: quietLogger{}})
	return err
}

// startDev runs meridian dev (server and control worker) on a database in
// the soak's directory, and one worker process for every boundary, with
// one boundary's credentials (the fakes take any key).
func (s *soak) startDev(ctx context.Context) error {
	s.address = "127.0.0.1:" + strconv.Itoa(s.opts.port)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	bin := filepath.Join(s.opts.bin, "meridian")
	dev := cluster.NewProc("meridian-dev", bin,
		[]string{"dev", "--db", filepath.Join(s.opts.dir, "dev.db"), "--spec", s.spec, "--port", strconv.Itoa(s.opts.port), "--ui-port", strconv.Itoa(s.opts.port + 1000)},
		env, filepath.Join(s.opts.dir, "meridian-dev.log"),
		func(ctx context.Context, p *cluster.Proc) error {
			return cluster.Polling(ctx, s.address, "default", workflows.ControlTaskQueue, p.Pid())
		})
	w := cluster.NewProc("worker-aws", bin,
		[]string{"worker", "--spec", s.spec, "--control=false", "--address", s.address},
		append(env, s.workerEnv("public")...), filepath.Join(s.opts.dir, "worker-aws.log"),
		func(ctx context.Context, p *cluster.Proc) error {
			return cluster.Polling(ctx, s.address, "default", placement.DefaultTaskQueue("aws", "public"), p.Pid())
		})
	w.Boundary = "aws/*"
	s.dev = []*cluster.Proc{dev, w}
	for _, p := range s.dev {
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	s.logf("meridian dev up: temporal %s, and a worker of every boundary", s.address)
	return nil
}

// procs are the processes the fault loop may kill.
func (s *soak) procs() []*cluster.Proc {
	if s.cluster == nil {
		return s.dev
	}
	var ps []*cluster.Proc
	for _, p := range s.cluster.Procs() {
		if !s.retired[p.Name] {
			ps = append(ps, p)
		}
	}
	return ps
}

func boundaryRules(spec string) ([]placement.BoundaryRule, error) {
	l, err := placement.Load(spec)
	if err != nil {
		return nil, err
	}
	m, err := placement.Compile(l, regions.Default())
	if err != nil {
		return nil, err
	}
	return m.Boundaries, nil
}

func (s *soak) stop() {
	if s.c != nil {
		s.c.Close()
	}
	if s.cluster != nil {
		if err := s.cluster.Down(context.Background()); err != nil {
			s.logf("cluster down: %v", err)
		}
	}
	for _, p := range slices.Backward(s.dev) {
		p.Stop(30 * time.Second)
	}
}

func (s *soak) close() {
	for _, f := range s.fakes {
		f.Close()
	}
}

// wave is one spec commit applied: a release per service.
type wave struct {
	change   string
	faulted  bool
	version  map[string]string // service → the version it rolls out
	previous map[string]string // service → the version before
	outcome  map[string]outcome
}

// outcome is how a release ended, as Temporal says.
type outcome struct {
	status   enumspb.WorkflowExecutionStatus
	duration time.Duration
}

// wave commits a new version of every service (one in ten whose tasks
// never start, one in ten whose alarm fires), applies it, and waits until
// every release ended, with the fault loop running if faulted.
func (s *soak) wave(ctx context.Context, faulted bool) error {
	n := len(s.waves) + 1
	w := &wave{change: fmt.Sprintf("wave-%d", n), faulted: faulted, version: map[string]string{}, previous: map[string]string{}, outcome: map[string]outcome{}}
	for i, svc := range s.services() {
		v := fmt.Sprintf("w%d", n)
		switch (i + n) % 10 {
		case 0:
			v += "-broken"
			for _, f := range s.fakes {
				f.FailImage(imageRepo + svc + ":" + v)
			}
		case 5:
			v += "-noisy"
			for _, f := range s.fakes {
				f.SetAlarm(svc+"-5xx", fakecloud.AlarmFiring)
			}
		}
		w.version[svc], w.previous[svc] = v, s.live[svc]
	}
	if err := s.writeSpec(func(svc string) string { return w.version[svc] }); err != nil {
		return err
	}
	if err := s.commit(w.change); err != nil {
		return err
	}
	s.mu.Lock()
	s.waves = append(s.waves, w)
	s.mu.Unlock()
	out, err := exec.CommandContext(ctx, filepath.Join(s.opts.bin, "meridian"), "apply", s.spec, "--base", "HEAD~1", "--change-id", w.change,
		"--address", s.address, "--as", "soak").CombinedOutput()
	if err != nil {
		return fmt.Errorf("meridian apply %s: %s", w.change, strings.TrimSpace(string(out)))
	}
	s.logf("applied %s: %d releases", w.change, len(w.version))
	faultCtx, stopFaults := context.WithCancel(ctx)
	var loop sync.WaitGroup
	if faulted {
		loop.Go(func() { s.faultLoop(faultCtx, n) })
	}
	s.await(ctx, w)
	stopFaults()
	loop.Wait()
	for svc, v := range w.version {
		if w.outcome[svc].status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			s.live[svc] = v
		}
		s.checkTargets(w, svc)
		if strings.HasSuffix(v, "-noisy") {
			for _, f := range s.fakes {
				f.SetAlarm(svc+"-5xx", fakecloud.AlarmOK)
			}
		}
	}
	return nil
}

// await polls every release of the wave until it is closed, or gives up
// after 20 minutes (the rest count as stuck).
func (s *soak) await(ctx context.Context, w *wave) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	open := slices.Sorted(maps.Keys(w.version))
	for len(open) > 0 && ctx.Err() == nil {
		var still []string
		for _, svc := range open {
			d, err := s.c.DescribeWorkflowExecution(ctx, workflows.ReleaseID(svc, w.change), "")
			if err != nil || d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				still = append(still, svc)
				continue
			}
			info := d.GetWorkflowExecutionInfo()
			w.outcome[svc] = outcome{status: info.GetStatus(), duration: info.GetCloseTime().AsTime().Sub(info.GetStartTime().AsTime())}
		}
		if len(still) != len(open) {
			s.logf("%s: %d of %d releases ended", w.change, len(w.version)-len(still), len(w.version))
		}
		open = still
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// faultLoop injects one fault every --fault-every, in turn: a boundary
// worker killed, throttling, a control worker killed, 5xx answers,
// requests that time out, the Temporal server restarted. In the first
// faulted wave it also restarts PostgreSQL once and upgrades the workers'
// build once (cluster only).
func (s *soak) faultLoop(ctx context.Context, wave int) {
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.every):
		}
		first := wave == 2
		switch {
		case first && tick == 1 && s.cluster != nil:
			s.upgrade(ctx)
			continue
		case first && tick == 2 && s.cluster != nil:
			s.restartPostgres(ctx)
			continue
		}
		b := boundaries[rand.IntN(len(boundaries))]
		// The turn goes on across waves, so that every kind comes round.
		s.turn++
		switch s.turn % 6 {
		case 0:
			s.kill(ctx, func(p *cluster.Proc) bool { return p.Boundary != "" })
		case 1:
			s.fakes[b].Throttle(30)
			s.count(func(f *faults) { f.throttles += 30 })
			s.logf("fault: 30 requests to aws/%s throttled", b)
		case 2:
			s.kill(ctx, func(p *cluster.Proc) bool { return strings.HasPrefix(p.Name, "control-") })
		case 3:
			code := []string{"InternalServerException", "ServiceUnavailableException"}[rand.IntN(2)]
			s.fakes[b].FailNext(15, code)
			s.count(func(f *faults) { f.errors5xx += 15 })
			s.logf("fault: 15 requests to aws/%s answered %s", b, code)
		case 4:
			s.fakes[b].Stall(4, 5*time.Second)
			s.count(func(f *faults) { f.timeouts += 4 })
			s.logf("fault: 4 requests to aws/%s time out", b)
		case 5:
			s.restartServer(ctx)
		}
	}
}

func (s *soak) count(f func(*faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.faults)
}

// kill SIGKILLs one process that pick accepts and starts it again; with
// --dev, a control worker is meridian dev itself.
func (s *soak) kill(ctx context.Context, pick func(*cluster.Proc) bool) {
	var ps []*cluster.Proc
	for _, p := range s.procs() {
		if pick(p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		ps = s.dev[:1]
	}
	p := ps[rand.IntN(len(ps))]
	s.logf("fault: SIGKILL %s (pid %d)", p.Name, p.Pid())
	if err := p.Restart(ctx); err != nil {
		s.logf("restart %s: %v", p.Name, err)
	}
	s.count(func(f *faults) { f.kills++ })
}

func (s *soak) restartServer(ctx context.Context) {
	for _, p := range s.procs() {
		if p.Name == "temporal-server" || p.Name == "meridian-dev" {
			s.logf("fault: SIGKILL %s (pid %d), the Temporal server", p.Name, p.Pid())
			if err := p.Restart(ctx); err != nil {
				s.logf("restart %s: %v", p.Name, err)
			}
		}
	}
	s.count(func(f *faults) { f.serverRestarts++ })
}

func (s *soak) restartPostgres(ctx context.Context) {
	s.logf("fault: PostgreSQL restarted")
	if err := s.cluster.RestartPostgres(ctx); err != nil {
		s.logf("restart postgresql: %v", err)
	}
	s.count(func(f *faults) { f.pgRestarts++ })
}

// upgrade starts the workers of a second build of the same code and makes
// it current, as an operator upgrading Meridian does: running releases
// stay on the first build, new ones start on the second.
func (s *soak) upgrade(ctx context.Context) {
	first := map[string]bool{}
	for _, p := range s.cluster.Procs() {
		first[p.Name] = true
	}
	if err := s.cluster.StartWorkers(ctx, secondBuild); err != nil {
		s.logf("upgrade: %v", err)
		return
	}
	out, err := exec.CommandContext(ctx, filepath.Join(s.opts.bin, "meridian"), "workers", "use", secondBuild, "--address", s.address).CombinedOutput()
	s.logf("upgrade: %s", strings.TrimSpace(string(out)))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.upgrades++
	for _, p := range s.cluster.Procs() {
		if first[p.Name] && (p.Boundary != "" || strings.HasPrefix(p.Name, "control-")) {
			s.firstBuild = append(s.firstBuild, p)
		}
	}
}

// retireOldBuild stops the first build's workers, whose pinned releases
// have all ended.
func (s *soak) retireOldBuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.firstBuild {
		p.Stop(10 * time.Second)
		s.retired[p.Name] = true
	}
	s.logf("retired the first build's %d workers", len(s.firstBuild))
}

// quietLogger drops the SDK's log lines: the server restarts on purpose.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
