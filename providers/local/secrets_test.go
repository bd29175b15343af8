package local

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// writeSecret writes a secret file, as an operator would, readable by the
// worker's user alone.
func writeSecret(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecretFiles reads secrets from real files: values without one
// trailing newline, and names or files that cannot be secrets with the
// codes the contract gives them. Nothing outside the directory is read,
// whether named with .. or reached through a symbolic link.
func TestSecretFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	writeSecret(t, dir, "billing/db-password", "s3cr3t\n")
	writeSecret(t, dir, "crlf", "v4lue\r\n")
	writeSecret(t, dir, "two-lines", "line1\nline2\n\n")
	writeSecret(t, dir, "binary", "\xff\xfe")
	outside := filepath.Join(filepath.Dir(dir), "outside")
	if err := os.WriteFile(outside, []byte("not a secret of this store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	s := NewSecretFiles(dir)
	for _, tc := range []struct {
		name, want string
		code       driver.Code
	}{
		{"billing/db-password", "s3cr3t", driver.Unknown},
		{"crlf", "v4lue", driver.Unknown},
		{"two-lines", "line1\nline2\n", driver.Unknown},
		{"billing/missing", "", driver.NotFound},
		{"billing", "", driver.Invalid}, // a directory
		{"binary", "", driver.Invalid},
		{"escape", "", driver.Invalid},
		{"../outside", "", driver.Invalid},
		{"/etc/passwd", "", driver.Invalid},
		{"billing//db-password", "", driver.Invalid},
		{"", "", driver.Invalid},
	} {
		got, err := s.Resolve(context.Background(), driver.Target{}, tc.name)
		if got != tc.want || s.ErrorCode(err) != tc.code || (err == nil) != (tc.code == driver.Unknown) {
			t.Errorf("Resolve(%q) = %q, %v (code %v); want %q, code %v", tc.name, got, err, s.ErrorCode(err), tc.want, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "not a secret of this store") {
			t.Errorf("Resolve(%q) read outside the directory: %v", tc.name, err)
		}
	}
	if _, err := NewSecretFiles(filepath.Join(dir, "nope")).Resolve(context.Background(), driver.Target{}, "x"); s.ErrorCode(err) != driver.NotFound {
		t.Errorf("a missing secrets directory: %v, want not-found", err)
	}
}

// TestConfigSecretRefEndToEnd is the proof of the design on the local
// cloud: a config that references a secret, applied through the Provider
// as a worker applies it, is served by the running instances with the
// secret's value (read from the config file the driver wrote), while the
// document the Provider was given, which is what a workflow's history
// holds, and the document RemoveConfig returns, which would go into
// history too, hold only the reference.
func TestConfigSecretRefEndToEnd(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	defer d.Close()
	const value = "s3cr3t-local-value"
	writeSecret(t, d.opts.SecretsDir, "billing/db-password", value+"\n")
	p := providers.New(d, &providers.Options{Secrets: d.Secrets()})

	tgt := newTarget("billing")
	deployReady(t, d, demoRequest(tgt, "v1", 2))
	history := []byte(`{"db":{"password":{"secretRef":"billing/db-password"},"user":"billing"},"errorRate":0}`)
	dep, err := p.ApplyConfig(ctx, providers.ConfigRequest{Target: placement.Target(tgt), Version: "cfg-1", Data: history})
	if err != nil {
		t.Fatal(err)
	}
	await(t, "config "+dep.Revision, func() bool {
		st, err := p.ConfigStatus(ctx, placement.Target(tgt), dep.Revision)
		return err == nil && st.State == driver.StateReady
	})

	const served = `{"db":{"password":"` + value + `","user":"billing"},"errorRate":0}`
	file, err := os.ReadFile(d.configPath(tgt.ID()))
	if err != nil || string(file) != served {
		t.Fatalf("config file = %s (%v), want %s", file, err, served)
	}
	instances, err := d.Instances(ctx, tgt)
	if err != nil || len(instances) != 2 {
		t.Fatalf("instances: %v, %v", instances, err)
	}
	for _, in := range instances {
		var info struct{ Config json.RawMessage }
		if err := getJSON(ctx, "http://"+in.Address+"/", &info); err != nil || string(info.Config) != served {
			t.Errorf("instance %s serves config %s (%v), want %s", in.ID, info.Config, err, served)
		}
	}
	if strings.Contains(string(history), value) || !strings.Contains(string(history), `"secretRef":"billing/db-password"`) {
		t.Fatalf("the workflow's document %s should hold the reference only", history)
	}

	r, err := p.RemoveConfig(ctx, placement.Target(tgt))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != string(history) {
		t.Errorf("RemoveConfig's document = %s, want the reference form %s", r.Data, history)
	}
}
