package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
)

// binDir holds the meridian-demo binary TestMain builds once.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meridian-local-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "meridian-demo"), "github.com/meridian-deploy/meridian/cmd/meridian-demo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build meridian-demo:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newDriver(t testing.TB, stateDir string) *Driver {
	t.Helper()
	p, err := New(&Options{StateDir: stateDir, BinDir: binDir, ReadyTimeout: 10 * time.Second, Shards: 32})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var targets atomic.Int64

func newTarget(service string) driver.Target {
	return driver.Target{Service: service, Environment: "test", Cloud: "local", Boundary: "public",
		Region: fmt.Sprintf("us-east-%d", targets.Add(1))}
}

// harness runs the conformance suite against a Driver with its own state
// dir. The local cloud has no API that throttles, so Throttle is a no-op and
// the suite sees calls succeed; FailVersion needs no setup because
// meridian-demo fails /healthz for any version containing "bad".
type harness struct {
	t *testing.T
	p *Driver
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error) { return h.p, nil }
func (h *harness) Target(context.Context) (driver.Target, error) {
	return newTarget("svc"), nil
}
func (h *harness) Image() string { return "local/meridian-demo" }
func (h *harness) FailVersion(_ driver.Target, version string) {
	if !strings.Contains(version, "bad") {
		h.t.Fatalf("meridian-demo fails only versions containing bad, not %q", version)
	}
}
func (h *harness) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "healthz", HTTP: &driver.HTTPGate{Path: "/healthz"}}
}

// SetHealth sets the demo's errorRate through a config (healthy, unhealthy)
// or stops the target's instances, leaving nothing to probe (unknown).
func (h *harness) SetHealth(t driver.Target, health driver.Health) {
	rate := map[driver.Health]string{driver.Healthy: "0", driver.Unhealthy: "1"}[health]
	if health == driver.HealthUnknown {
		h.p.stopTarget(context.Background(), t.ID())
		return
	}
	doc := fmt.Sprintf(`{"errorRate": %s}`, rate)
	if _, err := h.p.ApplyConfig(context.Background(), driver.ConfigRequest{Target: t, Version: "health-" + string(health), Data: []byte(doc)}); err != nil {
		h.t.Fatal(err)
	}
}
func (h *harness) Throttle(int) {}

// LiveConfigDocument is the target's config file.
func (h *harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	return os.ReadFile(h.p.configPath(t.ID()))
}
func (h *harness) Close() {
	if err := h.p.Close(); err != nil {
		h.t.Error(err)
	}
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		return &harness{t: t, p: newDriver(t, t.TempDir())}, nil
	})
}
