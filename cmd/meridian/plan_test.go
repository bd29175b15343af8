package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	fleetDir     = "../../testdata/fleet"
	fleetNextDir = "../../testdata/fleet-next"
	goldenDir    = "../../testdata/golden"
)

// result is what one in-process run of the CLI printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the CLI in process, the way main does.
func run(t *testing.T, args ...string) result {
	t.Helper()
	stdout, stderr, err := execute(args...)
	return result{stdout, stderr, exitCode(err)}
}

// execute runs the CLI in process and returns what it printed and its error.
func execute(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatalf("%v (go test ./pipelines -run Golden -update writes it)", err)
	}
	return string(b)
}

func TestPlanOutputs(t *testing.T) {
	for _, tt := range []struct{ format, golden string }{
		{"json", "fleet.plan.json"},
		{"markdown", "fleet.plan.md"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			r := run(t, "plan", fleetDir, "-o", tt.format)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if r.stdout != golden(t, tt.golden) {
				t.Errorf("meridian plan -o %s differs from %s", tt.format, tt.golden)
			}
		})
	}
}

func TestPlanTable(t *testing.T) {
	var plan struct {
		Pipelines []struct {
			Service string
			Stages  []struct {
				Name    string
				Targets []json.RawMessage
			}
		}
	}
	if err := json.Unmarshal([]byte(golden(t, "fleet.plan.json")), &plan); err != nil {
		t.Fatal(err)
	}
	r := run(t, "plan", fleetDir)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "SERVICE") {
		t.Fatalf("no header line: %q", lines[0])
	}
	i := 1
	for _, p := range plan.Pipelines {
		for _, st := range p.Stages {
			f := strings.Fields(lines[i])
			if f[0] != p.Service || f[3] != st.Name || f[5] != strconv.Itoa(len(st.Targets)) {
				t.Fatalf("line %d = %q, want service %s, stage %s, %d targets", i, lines[i], p.Service, st.Name, len(st.Targets))
			}
			i++
		}
	}
	if i != len(lines) {
		t.Errorf("%d lines, want a header and %d stages", len(lines), i-1)
	}
}

func TestPlanSpecErrors(t *testing.T) {
	dir := t.TempDir()
	writeSpec(t, dir, "services.cue", `package fleet

environments: prod: aws: regions: ["us-east-1", "atlantis-1"]
pipelines: p: stages: [{name: "prod", environment: "prod"}]
services: api: {
	owner: "me"
	artifact: image: "registry.example.com/api"
	placement: clouds: ["aws"]
	pipeline: "p"
}
`)
	r := run(t, "plan", dir, "-o", "json")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want exit 1 and nothing on stdout", r.code, r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "services.cue:3:") || !strings.Contains(r.stderr, "atlantis-1") {
		t.Errorf("stderr should position the unknown region, relative to DIR:\n%s", r.stderr)
	}

	r = run(t, "plan", filepath.Join(dir, "missing"))
	if want := "meridian: spec directory " + filepath.Join(dir, "missing") + " does not exist\n"; r.code != 1 || r.stderr != want {
		t.Errorf("missing directory: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestPlanUsage(t *testing.T) {
	for _, args := range [][]string{
		{"plan"},
		{"plan", fleetDir, fleetNextDir},
		{"plan", fleetDir, "-o", "yaml"},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("meridian %s: exit %d, want 2", strings.Join(args, " "), r.code)
		}
	}
}

// writeSpec writes text to the file name in dir, creating dir if need be.
func writeSpec(t testing.TB, dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
