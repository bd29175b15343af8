package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiffOutputs(t *testing.T) {
	for _, tt := range []struct{ format, golden string }{
		{"markdown", "fleet.diff.md"},
		{"json", "fleet.diff.json"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			r := run(t, "diff", fleetDir, fleetNextDir, "-o", tt.format)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			if r.stdout != golden(t, tt.golden) {
				t.Errorf("meridian diff -o %s differs from %s", tt.format, tt.golden)
			}
		})
	}
}

func TestDiffNoChange(t *testing.T) {
	r := run(t, "diff", fleetDir, fleetDir)
	if r.code != 0 || r.stdout != "### Meridian: no change to the plan\n" {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, "diff", fleetDir, fleetDir, "-o", "json")
	var c struct{ Services []any }
	if err := json.Unmarshal([]byte(r.stdout), &c); r.code != 0 || err != nil || len(c.Services) != 0 {
		t.Errorf("exit %d, %v, json:\n%s", r.code, err, r.stdout)
	}
}

func TestDiffSpecErrors(t *testing.T) {
	bad := t.TempDir()
	writeSpec(t, bad, "fleet.cue", "package fleet\n\nservices: api: owner: 42\n")
	r := run(t, "diff", fleetDir, bad)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and no comment", r.code, r.stdout)
	}
	if want := filepath.Join(bad, "fleet.cue") + ":3:"; !strings.HasPrefix(r.stderr, want) {
		t.Errorf("errors should name NEW's files (%s…):\n%s", want, r.stderr)
	}
	missing := filepath.Join(bad, "missing")
	r = run(t, "diff", missing, fleetDir)
	if want := "meridian: " + missing + ": spec directory " + missing + " does not exist\n"; r.code != 1 || r.stderr != want {
		t.Errorf("missing OLD: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestDiffUsage(t *testing.T) {
	for _, args := range [][]string{
		{"diff", fleetDir},
		{"diff", "--base", "HEAD", fleetDir, fleetNextDir},
		{"diff", fleetDir, fleetNextDir, "-o", "table"},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("meridian %s: exit %d, want 2", strings.Join(args, " "), r.code)
		}
	}
}

// TestDiffBase commits the fleet in a new git repository, changes the work
// tree to fleet-next, and checks that diff --base HEAD prints the same
// comment as diff between the two directories.
func TestDiffBase(t *testing.T) {
	repo := t.TempDir()
	specs := filepath.Join(repo, "deploy", "fleet")
	copySpec(t, fleetDir, specs)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "fleet")
	if err := os.RemoveAll(specs); err != nil {
		t.Fatal(err)
	}
	copySpec(t, fleetNextDir, specs)

	r := run(t, "diff", "--base", "main", specs)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != golden(t, "fleet.diff.md") {
		t.Errorf("diff --base main differs from fleet.diff.md:\n%s", r.stdout)
	}

	t.Run("a spec directory new since the ref shows as all added", func(t *testing.T) {
		fresh := filepath.Join(repo, "deploy", "fresh")
		copySpec(t, fleetDir, fresh)
		r := run(t, "diff", "--base", "main", fresh, "-o", "json")
		var c struct {
			Summary struct{ ServicesAdded, ServicesChanged int }
		}
		if err := json.Unmarshal([]byte(r.stdout), &c); r.code != 0 || err != nil || c.Summary.ServicesAdded != 15 || c.Summary.ServicesChanged != 15 {
			t.Errorf("exit %d, %v, summary %+v, stderr:\n%s", r.code, err, c.Summary, r.stderr)
		}
	})
	t.Run("errors in the base name the ref", func(t *testing.T) {
		writeSpec(t, specs, "broken.cue", "package fleet\n\nservices: billing: owner: 1\n")
		git("add", ".")
		git("commit", "-q", "-m", "broken")
		if err := os.Remove(filepath.Join(specs, "broken.cue")); err != nil {
			t.Fatal(err)
		}
		r := run(t, "diff", "--base", "HEAD", specs)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "HEAD:deploy/fleet/broken.cue:3:") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("an unknown ref", func(t *testing.T) {
		r := run(t, "diff", "--base", "no-such-branch", specs)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("exit %d, stdout %q", r.code, r.stdout)
		}
	})
}

// copySpec copies the *.cue files of a spec directory into dir.
func copySpec(t testing.TB, from, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.cue"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no spec files in %s: %v", from, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeSpec(t, dir, filepath.Base(f), string(data))
	}
}
