package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/devserver"
)

// The steering commands run in-process, as `meridian` runs them, against
// one embedded Temporal server shared by the package's tests, with workers
// started by the worker command's own code on the fake provider.

const steerSpec = "testdata/steer"

var (
	steerServer *devserver.Server
	steerFake   *fake.Driver
)

func TestMain(m *testing.M) {
	os.Exit(runSteerMain(m))
}

func runSteerMain(m *testing.M) int {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{NoUI: true, SearchAttributes: searchAttributes()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	steerServer = srv
	// Commands find the server through the environment, as a user's shell would.
	os.Setenv("TEMPORAL_ADDRESS", srv.Address())
	os.Setenv("TEMPORAL_NAMESPACE", srv.Namespace())
	os.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(os.TempDir(), "meridian-test-no-temporal.toml"))
	os.Setenv("MERIDIAN_UI_URL", "http://ui.test")

	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: quietLogger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	rules, err := (&workerOptions{spec: steerSpec, errOut: os.Stderr}).served()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	steerFake = fake.New(nil)
	set := providers.NewSet()
	for _, r := range rules {
		set.Add(r.Cloud, r.Boundary, providers.New(steerFake, nil))
	}
	ws, err := startWorkers(c, rules, set, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopWorkers(ws)
	return m.Run()
}

// quietLogger drops the SDK's logs.
var quietLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// steerResult is one run of the meridian command.
type steerResult struct {
	out  string
	err  error
	code int
}

// meridian runs the command line in-process and returns its output and exit code.
func meridian(t *testing.T, args ...string) steerResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(ctx)
	return steerResult{out.String(), err, exitCode(err)}
}

// steerPlan is the test spec's plan.
func steerPlan(t *testing.T) (*placement.Model, *pipelines.Plan) {
	t.Helper()
	m, p, err := planSpec(steerSpec, "", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

func serviceTargets(m *placement.Model, service string) []placement.Target {
	i := slices.IndexFunc(m.Services, func(s placement.Service) bool { return s.Name == service })
	return m.Services[i].Targets
}

func decodeStatus(t *testing.T, out string) workflows.Status {
	t.Helper()
	var st workflows.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("not a status: %v\n%s", err, out)
	}
	return st
}

func TestRolloutWaitSucceeds(t *testing.T) {
	m, _ := steerPlan(t)
	r := meridian(t, "rollout", steerSpec, "--service", "api", "--version", "1.0.0", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.out)
	}
	id := regexp.MustCompile(`started release (release/api/1\.0\.0-[0-9a-f]{12})`).FindStringSubmatch(r.out)
	if id == nil {
		t.Fatalf("no release id in:\n%s", r.out)
	}
	for _, want := range []string{
		"http://ui.test/namespaces/default/workflows/" + strings.ReplaceAll(id[1], "/", "%2F"),
		"local/public", "local/us-gov",
		"release " + id[1] + " succeeded",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	for _, tg := range serviceTargets(m, "api") {
		if live, _ := steerFake.Live(tg); !strings.Contains(live, "1.0.0") {
			t.Errorf("%s runs %q, want 1.0.0", tg.ID(), live)
		}
	}

	// The same rollout again attaches to the release that ended.
	again := meridian(t, "rollout", steerSpec, "--service", "api", "--version", "1.0.0", "-o", "json")
	var ref struct {
		Release  string `json:"release"`
		Attached bool   `json:"attached"`
		URL      string `json:"url"`
	}
	if err := json.Unmarshal([]byte(again.out), &ref); err != nil || again.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", again.code, err, again.out)
	}
	if ref.Release != id[1] || !ref.Attached || !strings.HasPrefix(ref.URL, "http://ui.test/") {
		t.Errorf("second rollout: %+v, want attached to %s", ref, id[1])
	}

	// History lists it, from visibility.
	var past []workflows.ReleaseSummary
	awaitTrue(t, 30*time.Second, "history to list the second release as succeeded", func() bool {
		h := meridian(t, "history", "--service", "api", "-o", "json")
		past = nil
		return h.code == 0 && json.Unmarshal([]byte(h.out), &past) == nil &&
			slices.ContainsFunc(past, func(s workflows.ReleaseSummary) bool {
				return s.Release == id[1] && s.Phase == workflows.PhaseSucceeded
			})
	})
	text := meridian(t, "history", "--service", "api")
	if !strings.Contains(text.out, id[1]) || !strings.Contains(text.out, "succeeded") {
		t.Errorf("history table lacks the release:\n%s", text.out)
	}
}

func TestGateFailureRollsBack(t *testing.T) {
	m, plan := steerPlan(t)
	for _, tg := range serviceTargets(m, "checkout") {
		steerFake.SetLive(tg, "r0")
	}
	// The gate of the second stage's target fails: both stages roll back.
	i := slices.IndexFunc(plan.Pipelines, func(p pipelines.Pipeline) bool { return p.Service == "checkout" })
	bad := plan.Pipelines[i].Stages[1].Targets[0]
	steerFake.SetHealth(bad, driver.Unhealthy)
	defer steerFake.SetHealth(bad, driver.Healthy)

	r := meridian(t, "rollout", steerSpec, "--service", "checkout", "--version", "2.0.0", "--wait", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %v\n%s", r.code, r.err, r.out)
	}
	st := decodeStatus(t, r.out)
	if st.Phase != workflows.PhaseRolledBack || st.Reason == "" {
		t.Errorf("phase %s (%q), want rolled-back with a reason", st.Phase, st.Reason)
	}
	for _, tg := range serviceTargets(m, "checkout") {
		if live, _ := steerFake.Live(tg); live != "r0" {
			t.Errorf("%s runs %q after rollback, want r0", tg.ID(), live)
		}
	}
	// status agrees, and exits 1 too.
	s := meridian(t, "status", st.Release)
	if s.code != 1 || !strings.Contains(s.out, "rolled-back") {
		t.Errorf("status: exit %d:\n%s", s.code, s.out)
	}
}

// A CI trigger twice attaches; a different change mid-release is refused;
// the approval unblocks the release; status -o json has the documented shape.
func TestTriggerApproveStatus(t *testing.T) {
	first := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1")
	if first.code != 0 || !strings.Contains(first.out, "started release release/billing/c1") {
		t.Fatalf("exit %d:\n%s", first.code, first.out)
	}
	second := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1")
	if second.code != 0 || !strings.Contains(second.out, "attached to release release/billing/c1") {
		t.Errorf("second trigger: exit %d:\n%s", second.code, second.out)
	}

	// The release waits for approval of its second stage.
	var raw map[string]any
	awaitTrue(t, 30*time.Second, "the release to await approval", func() bool {
		s := meridian(t, "status", "billing/c1", "-o", "json")
		raw = nil
		return s.code == 0 && json.Unmarshal([]byte(s.out), &raw) == nil && raw["phase"] == string(workflows.PhaseAwaitingApproval)
	})
	for _, key := range []string{"release", "service", "phase", "pipelines"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("status JSON lacks %q: %v", key, raw)
		}
	}
	for _, p := range raw["pipelines"].([]any) {
		for _, key := range []string{"cloud", "boundary", "stage", "phase"} {
			if _, ok := p.(map[string]any)[key]; !ok {
				t.Errorf("pipeline in status JSON lacks %q: %v", key, p)
			}
		}
	}
	if raw["release"] != "release/billing/c1" || raw["service"] != "billing" {
		t.Errorf("status JSON: %v", raw)
	}

	busy := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.1.0", "--change-id", "c2")
	if busy.code != 1 || busy.err == nil || !strings.Contains(busy.err.Error(), "mid-release") {
		t.Errorf("a different change mid-release: exit %d, %v", busy.code, busy.err)
	}

	approve := meridian(t, "approve", "release/billing/c1", "--stage", "rest", "--reason", "dashboards green", "--as", "alice")
	if approve.code != 0 || !strings.Contains(approve.out, "approved release/billing/c1 (stage rest) as alice") {
		t.Fatalf("approve: exit %d, %v:\n%s", approve.code, approve.err, approve.out)
	}
	done := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1", "--wait", "-o", "json")
	st := decodeStatus(t, done.out)
	if done.code != 0 || st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("after approval: exit %d, phase %s", done.code, st.Phase)
	}
	if !slices.ContainsFunc(st.Events, func(e workflows.Event) bool {
		return e.Action == workflows.UpdateApprove && e.Who == "alice" && e.Reason == "dashboards green"
	}) {
		t.Errorf("the approval is not recorded with who and why: %+v", st.Events)
	}

	// Nothing waits any more: approve refuses, exit 1, and says why.
	again := meridian(t, "approve", "billing/c1")
	if want := "approve release/billing/c1: the release has ended (succeeded)"; again.code != 1 || again.err == nil || again.err.Error() != want {
		t.Errorf("approve of an ended release: exit %d, %v; want %q", again.code, again.err, want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"rollout", steerSpec, "--service", "api"},
		{"rollout", steerSpec, "--service", "nope", "--version", "1"},
		{"rollout", steerSpec, "--service", "api", "--version", "1", "-o", "yaml"},
		{"trigger", steerSpec, "--service", "api", "--version", "1"},
		{"status"},
		{"status", "release/api/x", "--service", "api"},
		{"approve"},
		{"history"},
		{"history", "api", "--service", "api"},
		{"approve", ""},
		{"status", "release/"},
		{"history", "--service", ""},
		{"rollout", steerSpec, "--service", "api", "--version", ""},
		{"trigger", steerSpec, "--service", "api", "--version", "1", "--change-id", ""},
		{"worker", "local/public", "--boundary", "local/public"},
		{"dev", "--ephemeral", "extra"},
		{"worker"},
		{"worker", "--boundary", "local"},
		{"worker", "--boundary", "mars/public"},
		{"dev", "--db", "x.db", "--ephemeral"},
		{"dev", "--log-level", "loud"},
		{"dev", "--ephemeral", "--port", "-1"},
		{"dev", "--ephemeral", "--ui-port", "65536"},
	} {
		if r := meridian(t, args...); r.code != 2 {
			t.Errorf("meridian %s: exit %d, want 2 (%v)", strings.Join(args, " "), r.code, r.err)
		}
	}
}

// Every flag's help names its value's type: a backquoted word in a usage
// string would take its place (pflag.UnquoteUsage), as `meridian rollback`
// once did for --rollback-window.
func TestFlagHelpNamesTypes(t *testing.T) {
	for _, cmd := range newRootCmd().Commands() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("meridian %s --%s: backquote in %q", cmd.Name(), f.Name, f.Usage)
			}
		})
	}
	if r := run(t, "rollout", "--help"); !strings.Contains(r.stdout, "--rollback-window duration ") {
		t.Errorf("rollout --help lacks --rollback-window duration:\n%s", r.stdout)
	}
}

// A Temporal server that cannot be reached is one line that says why,
// without gRPC's wrapping, for every command that dials.
func TestUnreachableTemporal(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tests := []struct {
		address, flag, why string
	}{
		{"127.0.0.1:1", "", "connection refused (no server listens there; meridian dev runs one)"},
		{strings.TrimPrefix(web.URL, "http://"), "", "an HTTP server answers there, not a Temporal frontend (a Web UI port?)"},
		{steerServer.Address(), "--tls", "the server does not speak TLS, and the connection asks for it"},
		{silent.Addr().String(), "", "no answer in time (is it a Temporal frontend?)"},
	}
	for _, tt := range tests {
		commands := [][]string{{"status", "x"}, {"approve", "x"}, {"history", "--service", "api"}, {"worker", "--boundary", "local/public"}}
		if tt.address == silent.Addr().String() {
			if testing.Short() {
				continue
			}
			commands = commands[:1] // the SDK waits 5 s for an answer
		}
		for _, args := range commands {
			args = append(args, "--address", tt.address, "--namespace", "default")
			if tt.flag != "" {
				args = append(args, tt.flag)
			}
			r := meridian(t, args...)
			want := "cannot reach Temporal at " + tt.address + " (namespace default): " + tt.why
			if r.code != 1 || r.err == nil || r.err.Error() != want {
				t.Errorf("meridian %s: exit %d, %v; want %q", strings.Join(args, " "), r.code, r.err, want)
			}
		}
	}
}

// A command that can follow its release says so in its usage line.
func TestUsageLineNamesWait(t *testing.T) {
	for _, cmd := range newRootCmd().Commands() {
		if cmd.Flags().Lookup("wait") != nil && !strings.Contains(cmd.Use, "[--wait]") {
			t.Errorf("meridian %s has --wait but its usage line does not say so: %s", cmd.Name(), cmd.Use)
		}
	}
}

func TestStatusOfUnknownRelease(t *testing.T) {
	for _, args := range [][]string{{"status", "release/api/never"}, {"pause", "api/never"}} {
		r := meridian(t, args...)
		if want := "no release release/api/never in namespace " + steerServer.Namespace(); r.code != 1 || r.err == nil || r.err.Error() != want {
			t.Errorf("meridian %s: exit %d, %v; want %q", strings.Join(args, " "), r.code, r.err, want)
		}
	}
}

// meridian dev runs the server, the Web UI and the workers, and stops on
// cancel; a busy port is one clear error.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	root := newRootCmd()
	root.SetArgs([]string{"dev", "--ephemeral", "--port", "0", "--ui-port", "0", "--spec", steerSpec})
	root.SetOut(out)
	root.SetErr(out)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = root.ExecuteContext(ctx) })

	awaitTrue(t, 30*time.Second, "meridian dev to be ready", func() bool { return strings.Contains(out.String(), "Press Ctrl-C") })
	ui := regexp.MustCompile(`Web UI\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	grpcAddr := regexp.MustCompile(`Temporal\s+(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if ui == nil || grpcAddr == nil || !strings.Contains(out.String(), "meridian-control, meridian-local-public, meridian-local-us-gov") {
		cancel()
		wg.Wait()
		t.Fatalf("dev output:\n%s", out.String())
	}
	resp, err := http.Get(ui[1] + "/api/v1/namespaces/default")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Web UI API: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Its port is taken now: a second dev says so in one line.
	_, port, _ := net.SplitHostPort(grpcAddr[1])
	busy := meridian(t, "dev", "--ephemeral", "--port", port, "--ui-port", "0")
	if busy.code != 1 || !strings.Contains(busy.err.Error(), "port "+port+" on 127.0.0.1 is already in use") {
		t.Errorf("busy port: exit %d, %v", busy.code, busy.err)
	}

	cancel()
	wg.Wait()
	if runErr != nil || !strings.Contains(out.String(), "Stopping") {
		t.Errorf("dev after cancel: %v\n%s", runErr, out.String())
	}
	if r := meridian(t, "dev", "--ephemeral", "--spec", "testdata/none"); r.code != 1 || !strings.Contains(r.err.Error(), "testdata/none") {
		t.Errorf("missing spec: exit %d, %v", r.code, r.err)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// meridian worker polls the task queues of the boundaries it is told, and
// no other, until interrupted.
func TestWorkerServesNamedBoundaries(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the local provider's state
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	root := newRootCmd()
	root.SetArgs([]string{"worker", "--boundary", "local/eu-sovereign", "--control=false"})
	root.SetOut(out)
	root.SetErr(out)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = root.ExecuteContext(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("worker: %v\n%s", runErr, out.String())
		}
	}()

	c, err := client.Dial(client.Options{HostPort: steerServer.Address(), Namespace: steerServer.Namespace(), Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := placement.DefaultTaskQueue("local", "eu-sovereign")
	awaitTrue(t, 30*time.Second, "a poller on "+queue, func() bool {
		d, err := c.DescribeTaskQueue(context.Background(), queue, enums.TASK_QUEUE_TYPE_ACTIVITY)
		return err == nil && len(d.GetPollers()) > 0
	})
	awaitTrue(t, 30*time.Second, "the worker to print its queue", func() bool { return strings.Contains(out.String(), "polling "+queue) })
	if strings.Contains(out.String(), "polling "+workflows.ControlTaskQueue) || strings.Count(out.String(), "polling ") != 1 {
		t.Errorf("worker polls more than it was told:\n%s", out.String())
	}
}
