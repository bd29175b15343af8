package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/fake"
	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/devserver"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// The scripts of testdata/script run `meridian` as a command: the test
// binary, started under that name, runs main. The steering commands' tests
// run the commands in-process, as `meridian` runs them, against one embedded
// Temporal server shared by the package's tests, with workers started by the
// worker command's own code on the fake provider.

const steerSpec = "testdata/steer"

var (
	steerServer *devserver.Server
	steerFake   *fake.Driver
)

func TestMain(m *testing.M) {
	testscript.Main(withSteerServer{m}, map[string]func(){"meridian": main})
}

// withSteerServer runs the tests with the steering server started.
type withSteerServer struct{ m *testing.M }

func (s withSteerServer) Run() int {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{NoUI: true, SearchAttributes: searchattr.Types()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	defer stopKubeClusters()
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
	rules, err := (&workerOptions{spec: steerSpec, errOut: os.Stderr}).served(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	steerFake = fake.New(nil)
	set := providers.NewSet()
	for _, r := range rules {
		set.Add(r.Cloud, r.Boundary, providers.New(steerFake, nil))
	}
	ws, err := startWorkers(c, rules, set, true, worker.WorkerDeploymentVersion{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopWorkers(ws)
	return s.m.Run()
}

// quietLogger drops the SDK's logs.
var quietLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// steerClient is a client of the package's server, closed when the test ends.
func steerClient(tb testing.TB) client.Client {
	tb.Helper()
	c, err := client.Dial(client.Options{HostPort: steerServer.Address(), Namespace: steerServer.Namespace(), Logger: quietLogger})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

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
	m, p, err := planSpec(context.Background(), steerSpec, "", os.Stderr)
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

// awaitTrue polls cond every 100ms until it holds, failing after timeout.
func awaitTrue(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
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
	if r := meridian(t, "rollout", "--help"); !strings.Contains(r.out, "--rollback-window duration ") {
		t.Errorf("rollout --help lacks --rollback-window duration:\n%s", r.out)
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
