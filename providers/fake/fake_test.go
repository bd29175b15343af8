package fake_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// harness runs the conformance suite against the fake, so that tests
// written against it hold for real drivers too.
type harness struct {
	d *fake.Driver
}

var targets atomic.Int64

func (h *harness) Deployer(context.Context) (driver.Deployer, error) { return h.d, nil }

// Target returns a fresh target already running revision v0, like a
// service Meridian takes over.
func (h *harness) Target(context.Context) (driver.Target, error) {
	t := driver.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: fmt.Sprintf("r%d", targets.Add(1))}
	h.d.SetLive(t, "v0")
	return t, nil
}
func (h *harness) LiveRevision(driver.Target) string           { return "v0" }
func (h *harness) Image() string                               { return "registry.example.com/svc" }
func (h *harness) FailVersion(t driver.Target, version string) { h.d.FailVersion(t, version) }
func (h *harness) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "healthz", HTTP: &driver.HTTPGate{Path: "/healthz"}}
}
func (h *harness) SetHealth(t driver.Target, hl driver.Health) { h.d.SetHealth(t, hl) }
func (h *harness) Throttle(n int)                              { h.d.Throttle(n) }
func (h *harness) Close()                                      {}

// LiveConfigDocument is the document ApplyConfig last made live on t.
func (h *harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	_, data := h.d.LiveConfig(t)
	return data, nil
}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return &harness{d: fake.New(&fake.Options{Progress: 2})}, nil
	})
}

// TestSuiteCatchesALeakedSecret shows that the suite fails a driver that
// hands a resolved secret back: it runs the suite, in a child process of
// this test binary, on the fake wrapped so that it never sees a request's
// Source (and so returns the resolved document from RemoveConfig), and
// expects SecretReferences to fail and Config to pass.
func TestSuiteCatchesALeakedSecret(t *testing.T) {
	if os.Getenv(leakyEnv) != "" {
		drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
			d := fake.New(&fake.Options{Progress: 2})
			return leakyHarness{&harness{d: d}, leaky{d}}, nil
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesALeakedSecret$", "-test.v")
	cmd.Env = append(os.Environ(), leakyEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a driver that returns resolved secrets:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestSuiteCatchesALeakedSecret/SecretReferences", "RemoveConfig returned the secret's value", "--- PASS: TestSuiteCatchesALeakedSecret/Config"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the run on the leaky driver lacks %q:\n%s", want, out)
		}
	}
}

// leakyEnv tells the child process of TestSuiteCatchesALeakedSecret to run
// the suite on the leaky driver.
const leakyEnv = "FAKE_LEAKY_DRIVER"

// leaky is the fake, deaf to ConfigRequest.Source.
type leaky struct{ *fake.Driver }

func (l leaky) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	req.Source = nil
	return l.Driver.ApplyConfig(ctx, req)
}

type leakyHarness struct {
	*harness
	d leaky
}

func (h leakyHarness) Deployer(context.Context) (driver.Deployer, error) { return h.d, nil }

// TestRemoveConfigAfterRollbackReturnsThatVersionsDocument: the removal of
// a config that RollbackConfig made live again carries that version's
// document, not the one applied last, so that restoring it applies the
// version with its own document.
func TestRemoveConfigAfterRollbackReturnsThatVersionsDocument(t *testing.T) {
	ctx := context.Background()
	d := fake.New(nil)
	tgt := driver.Target{Service: "svc", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "r"}
	for _, req := range []driver.ConfigRequest{
		{Target: tgt, Version: "c1", Data: []byte(`{"a":1}`)},
		{Target: tgt, Version: "c2", Data: []byte(`{"a":2}`)},
	} {
		if _, err := d.ApplyConfig(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.RollbackConfig(ctx, tgt, "c1"); err != nil {
		t.Fatal(err)
	}
	if version, data := d.LiveConfig(tgt); version != "c1" || string(data) != `{"a":1}` {
		t.Fatalf("LiveConfig after rolling back to c1 = %s %s, want c1 {\"a\":1}", version, data)
	}
	r, err := d.RemoveConfig(ctx, tgt)
	if err != nil || r.Version != "c1" || string(r.Data) != `{"a":1}` {
		t.Fatalf("RemoveConfig = %+v (data %s), %v; want c1 with its document {\"a\":1}", r, r.Data, err)
	}
}
