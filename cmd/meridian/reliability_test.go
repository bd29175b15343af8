package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local"
	"github.com/meridian-deploy/meridian/workflows"
)

// The reliability of `meridian dev` as a user runs it: the meridian and
// meridian-demo binaries built once, each test its own dev process on a
// SQLite database in a temp dir, the local provider's real processes, and
// free ports of 127.0.0.1.

// reliabilitySpec is a small fleet that rolls out in seconds: web, two
// instances per target, a staging stage that bakes long enough to crash an
// instance in it, and a prod stage of two targets one at a time.
const reliabilitySpec = `package reliability

import "meridian.dev/schema"

environments: schema.#Environments & {
	staging: local: regions: ["us-west-2"]
	prod: local: regions: ["us-east-1", "eu-west-1"]
}

pipelines: quick: schema.#Pipeline & {
	stages: [
		{name: "staging", environment: "staging", bake: "8s"},
		{name: "prod", environment: "prod", maxParallel: 1, bake: "1s"},
	]
	rollback: "automatic"
}

services: web: schema.#Service & {
	owner: "test"
	artifact: image: "localhost/meridian-demo"
	pipeline: "quick"
	placement: {clouds: ["local"], boundaries: ["public"]}
	instances: 2
	health: gates: [{http: path: "/healthz", interval: "1s"}]
}
`

// binaries builds bin/meridian and bin/meridian-demo once per test run,
// into a directory kept between runs so that later builds are incremental,
// one per checkout so that two checkouts' test runs never share binaries.
var binaries = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(wd))
	dir := filepath.Join(os.TempDir(), "meridian-test-bin-"+hex.EncodeToString(sum[:6]))
	out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".", "../meridian-demo").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

func binDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs meridian dev with real processes")
	}
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// devProcess is a running `meridian dev`.
type devProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer // stdout and stderr
	done   chan struct{}
	addr   string // the Temporal frontend's host:port
	client client.Client
}

// startDev starts `meridian dev --db db --port 0 --ui-port 0 args…` and
// returns once it prints that it runs, with a client of its server.
func startDev(t *testing.T, bin, db string, args ...string) *devProcess {
	t.Helper()
	d := &devProcess{out: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(filepath.Join(bin, "meridian"), append([]string{"dev", "--db", db, "--port", "0", "--ui-port", "0"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.kill() })
	awaitTrue(t, time.Minute, "meridian dev to start", func() bool {
		select {
		case <-d.done:
			t.Fatalf("meridian dev exited:\n%s", d.out.String())
		default:
		}
		return strings.Contains(d.out.String(), "Press Ctrl-C")
	})
	addr := regexp.MustCompile(`Temporal\s+(127\.0\.0\.1:\d+)`).FindStringSubmatch(d.out.String())
	if addr == nil {
		t.Fatalf("no address in:\n%s", d.out.String())
	}
	c, err := client.Dial(client.Options{HostPort: addr[1], Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	d.addr, d.client = addr[1], c
	return d
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would.
func (d *devProcess) kill() {
	if d.client != nil {
		d.client.Close()
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// stop interrupts the process as Ctrl-C does and returns its exit code.
func (d *devProcess) stop(t *testing.T) int {
	t.Helper()
	d.client.Close()
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(time.Minute):
		t.Fatalf("meridian dev did not stop on SIGINT:\n%s", d.out.String())
	}
	return d.cmd.ProcessState.ExitCode()
}

// reliabilityFleet writes the spec and returns its directory, the database
// path, and the web service's targets. When the test ends, whatever
// instances are still running are stopped.
func reliabilityFleet(t *testing.T) (spec, db string, targets []placement.Target) {
	t.Helper()
	dir := t.TempDir()
	spec = filepath.Join(dir, "spec")
	if err := os.MkdirAll(spec, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec, "fleet.cue"), []byte(reliabilitySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	model, _, err := planSpec(context.Background(), spec, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(dir, "state", "dev.db")
	stopFleetAtEnd(t, db)
	return spec, db, serviceTargets(model, "web")
}

// stopFleetAtEnd stops, when the test ends, the instances still running
// for `meridian dev --db db`. Called before any dev process starts, its
// cleanup runs after theirs have killed them.
func stopFleetAtEnd(t *testing.T, db string) {
	t.Cleanup(func() {
		if p, err := local.New(&local.Options{StateDir: localStateDir(db), BinDir: t.TempDir()}); err == nil {
			_ = p.Close()
		}
	})
}

// rollout starts a release of web with the meridian command and returns its id.
func rollout(t *testing.T, bin string, d *devProcess, spec, version, change string, wait bool) string {
	t.Helper()
	args := []string{"rollout", spec, "--service", "web", "--version", version, "--change-id", change, "--address", d.addr}
	if wait {
		args = append(args, "--wait")
	}
	out, err := exec.Command(filepath.Join(bin, "meridian"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("meridian %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return workflows.ReleaseID("web", change)
}

// awaitStatus polls the release's status until cond holds and returns it.
func awaitStatus(t *testing.T, c client.Client, release string, timeout time.Duration, what string, cond func(workflows.Status) bool) workflows.Status {
	t.Helper()
	var st workflows.Status
	awaitTrue(t, timeout, what, func() bool {
		var err error
		st, err = workflows.ReleaseStatus(context.Background(), c, release)
		return err == nil && cond(st)
	})
	return st
}

// instanceVersions returns, per target, the version every running
// instance reports at GET /, read through a local provider on the state
// directory once `meridian dev` has stopped (it adopts the instances).
func instanceVersions(t *testing.T, db string, targets []placement.Target) map[string][]string {
	t.Helper()
	p, err := local.New(&local.Options{StateDir: localStateDir(db), BinDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Detach()
	out := map[string][]string{}
	for _, tgt := range targets {
		list, err := p.Instances(context.Background(), driver.Target(tgt))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range list {
			var info struct{ Version string }
			resp, err := http.Get("http://" + in.Address + "/")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&info)
				resp.Body.Close()
			}
			if err != nil {
				info.Version = "down: " + err.Error()
			}
			out[tgt.ID()] = append(out[tgt.ID()], info.Version)
		}
	}
	return out
}

// wantAllOn fails unless every target runs n instances, all on version.
func wantAllOn(t *testing.T, versions map[string][]string, targets []placement.Target, n int, version string) {
	t.Helper()
	for _, tgt := range targets {
		vs := versions[tgt.ID()]
		if len(vs) != n || slices.ContainsFunc(vs, func(v string) bool { return v != version }) {
			t.Errorf("%s: instances report %v, want %d on %s", tgt.ID(), vs, n, version)
		}
	}
}

// Killing meridian dev mid-release and starting it again on the same
// database finishes the release, with every target on the new version.
func TestDevKilledMidReleaseFinishesIt(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, ports and fleet; mostly waiting on bakes
	spec, db, targets := reliabilityFleet(t)
	d := startDev(t, bin, db, "--spec", spec)
	rollout(t, bin, d, spec, "v1", "first", true)
	id := rollout(t, bin, d, spec, "v2", "second", false)
	// Mid-release: staging is done, prod is rolling to its first target.
	awaitStatus(t, d.client, id, time.Minute, "the prod stage", func(st workflows.Status) bool {
		return len(st.Pipelines) == 1 && st.Pipelines[0].Stage == "prod"
	})
	d.kill()

	d = startDev(t, bin, db, "--spec", spec)
	st := awaitStatus(t, d.client, id, 2*time.Minute, "the release to end", func(st workflows.Status) bool { return st.Phase.Terminal() })
	if st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("release after the restart: %s: %s", st.Phase, st.Reason)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("meridian dev exited %d on SIGINT:\n%s", code, d.out.String())
	}
	wantAllOn(t, instanceVersions(t, db, targets), targets, 2, "v2")
	// Every process the killed dev started is known to the provider: once
	// it stops the fleet, none is left.
	p, err := local.New(&local.Options{StateDir: localStateDir(db), BinDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if pids := processesWith(t, localStateDir(db)); len(pids) > 0 {
		t.Errorf("instances left running after the fleet stopped, unknown to the provider: pids %v", pids)
	}
}

// processesWith returns the pids of the processes whose command line
// contains s, read from /proc (skipping the check where there is none).
func processesWith(t *testing.T, s string) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(dirs) == 0 {
		t.Skip("no /proc to list processes")
	}
	var pids []int
	for _, f := range dirs {
		cmdline, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(cmdline), s) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f, "/proc/%d/cmdline", &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// An instance that crashes while its stage bakes fails the health gate,
// and the release rolls every target back to the version before.
func TestCrashedInstanceRollsBack(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, ports and fleet; mostly waiting on bakes
	spec, db, targets := reliabilityFleet(t)
	d := startDev(t, bin, db, "--spec", spec)
	rollout(t, bin, d, spec, "v1", "first", true)
	id := rollout(t, bin, d, spec, "v2", "second", false)
	awaitStatus(t, d.client, id, time.Minute, "staging to bake", func(st workflows.Status) bool {
		return len(st.Pipelines) == 1 && st.Pipelines[0].Stage == "staging" && st.Pipelines[0].Phase == workflows.PhaseBaking
	})
	pid := instancePID(t, db, targets[slices.IndexFunc(targets, func(t placement.Target) bool { return t.Environment == "staging" })])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := awaitStatus(t, d.client, id, time.Minute, "the release to end", func(st workflows.Status) bool { return st.Phase.Terminal() })
	if st.Phase != workflows.PhaseRolledBack || !strings.Contains(st.Reason, "/healthz") {
		t.Fatalf("release after a crash: %s: %s", st.Phase, st.Reason)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("meridian dev exited %d on SIGINT:\n%s", code, d.out.String())
	}
	wantAllOn(t, instanceVersions(t, db, targets), targets, 2, "v1")
}

// instancePID is the pid of a running instance of the target, read from
// the local provider's state.json (docs/local-provider.md) while meridian
// dev owns the fleet.
func instancePID(t *testing.T, db string, tgt placement.Target) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(localStateDir(db), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Targets map[string]struct {
			Instances []struct{ PID int }
		}
	}
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatal(err)
	}
	for _, in := range state.Targets[tgt.ID()].Instances {
		if in.PID != 0 {
			return in.PID
		}
	}
	t.Fatalf("no running instance of %s in state.json", tgt.ID())
	return 0
}

// What keeps meridian dev from starting is one line on stderr and exit 1.
func TestDevStartFailures(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "dev.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"gRPC port in use", []string{"--db", db, "--port", port, "--ui-port", "0"}, "gRPC port " + port + " on 127.0.0.1 is already in use"},
		{"UI port in use", []string{"--db", db, "--port", "0", "--ui-port", port}, "Web UI port " + port + " on 127.0.0.1 is already in use"},
		{"database under a file", []string{"--db", filepath.Join(file, "dev.db"), "--port", "0", "--ui-port", "0"}, "not a directory"},
		{"database is a directory", []string{"--db", dir, "--port", "0", "--ui-port", "0"}, "is a directory"},
		{"missing spec", []string{"--db", db, "--port", "0", "--ui-port", "0", "--spec", filepath.Join(dir, "none")}, "none: not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, "meridian"), append([]string{"dev"}, tc.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			lines := nonEmptyLines(stderr.String())
			if code := cmd.ProcessState.ExitCode(); code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d (%v), stderr %q: want exit 1 and one line with %q", code, err, stderr.String(), tc.want)
			}
		})
	}
}

func nonEmptyLines(s string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// The links rollout and status print point at the Web UI of the dev they
// talk to (here on a free port, not 8233), unless --ui-url or
// MERIDIAN_UI_URL say otherwise. Stopped, dev says which instances keep
// running; --down stops them and removes their state, and is refused, as
// a second dev is, while a dev runs on that state.
func TestDevLinksLeftRunningAndDown(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, ports and fleet
	spec, db, _ := reliabilityFleet(t)
	d := startDev(t, bin, db, "--spec", spec)
	ui := regexp.MustCompile(`Web UI\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(d.out.String())
	if ui == nil || ui[1] == defaultUIURL {
		t.Fatalf("no Web UI on a free port in:\n%s", d.out.String())
	}
	run := func(env []string, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "meridian"), args...)
		// TestMain sets MERIDIAN_UI_URL for the in-process commands.
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MERIDIAN_UI_URL=") }), env...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run()
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}
	link := ui[1] + "/namespaces/default/workflows/release%2Fweb%2Ffirst"
	if code, out, errOut := run(nil, "rollout", spec, "--service", "web", "--version", "v1", "--change-id", "first", "--address", d.addr); code != 0 || !strings.Contains(out, "\n  "+link+"\n") {
		t.Fatalf("rollout: exit %d, stdout:\n%s\nstderr:\n%s\nwant the link %s", code, out, errOut, link)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, ui[1]},
		{[]string{"MERIDIAN_UI_URL=https://ui.example/"}, nil, "https://ui.example"},
		{[]string{"MERIDIAN_UI_URL=https://ui.example"}, []string{"--ui-url", "https://flag.example"}, "https://flag.example"},
	} {
		args := append([]string{"status", "web/first", "--address", d.addr}, tc.args...)
		code, out, _ := run(tc.env, args...)
		want := regexp.MustCompile(`(?m)^web ui +` + regexp.QuoteMeta(tc.want+"/namespaces/default/workflows/release%2Fweb%2Ffirst") + `$`)
		if code != 0 || !want.MatchString(out) {
			t.Errorf("status with %v %v: exit %d, want %q in:\n%s", tc.env, tc.args, code, want, out)
		}
	}
	awaitStatus(t, d.client, workflows.ReleaseID("web", "first"), 2*time.Minute, "the release to succeed", func(st workflows.Status) bool { return st.Phase == workflows.PhaseSucceeded })

	pid := fmt.Sprint(d.cmd.Process.Pid)
	for _, args := range [][]string{{"dev", "--db", db, "--port", "0", "--ui-port", "0"}, {"dev", "--down", "--db", db}} {
		code, out, errOut := run(nil, args...)
		if lines := nonEmptyLines(errOut); code != 1 || out != "" || len(lines) != 1 || !strings.Contains(lines[0], "a meridian dev (pid "+pid+")") {
			t.Errorf("meridian %s while dev runs: exit %d, stdout %q, stderr %q: want exit 1 and one line naming pid %s", strings.Join(args, " "), code, out, errOut, pid)
		}
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("meridian dev exited %d on SIGINT:\n%s", code, d.out.String())
	}
	want := "6 local instances (web ×6) keep running: the next `meridian dev --db " + db + "` adopts them; `meridian dev --down --db " + db + "` stops them\n"
	if !strings.Contains(d.out.String(), want) {
		t.Errorf("dev on SIGINT does not say %q:\n%s", want, d.out.String())
	}
	state := localStateDir(db)
	code, out, errOut := run(nil, "dev", "--down", "--db", db)
	if want := "stopped 6 local instances (web ×6) and removed their state in " + state + "\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("dev --down: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out, errOut, want)
	}
	if pids := processesWith(t, state); len(pids) > 0 {
		t.Errorf("instances left running after dev --down: pids %v", pids)
	}
	if _, err := os.Stat(filepath.Join(state, "state.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state.json after dev --down: %v", err)
	}
	code, out, _ = run(nil, "dev", "--down", "--db", db)
	if want := "nothing to stop: no local state in " + state + "\n"; code != 0 || out != want {
		t.Errorf("dev --down again: exit %d, stdout %q; want exit 0 and %q", code, out, want)
	}
}
