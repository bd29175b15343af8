package placement_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

var update = flag.Bool("update", false, "rewrite the expected.golden files of testdata/invalid")

// check loads and compiles the spec in dir and returns its error.
func check(dir string) error {
	spec, err := placement.Load(dir)
	if err != nil {
		return err
	}
	_, err = placement.Compile(spec, regions.Default())
	return err
}

// TestInvalid runs every spec of testdata/invalid and compares its errors,
// one per line, with the case's expected.golden (what `meridian validate`
// prints). Run with -update to rewrite the golden files.
func TestInvalid(t *testing.T) {
	cases, err := filepath.Glob("../testdata/invalid/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			err := check(dir)
			var errs placement.Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("got %v, want placement.Errors", err)
			}
			for _, e := range errs {
				if e.File != "" && (e.Line == 0 || filepath.IsAbs(e.File) || strings.HasPrefix(e.File, "..")) {
					t.Errorf("error without a position relative to the spec: %#v", e)
				}
			}
			got := err.Error() + "\n"
			golden := filepath.Join(dir, "expected.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestBadDirectories covers what cannot be committed as a case: a missing
// directory and a file too large to read.
func TestBadDirectories(t *testing.T) {
	large := t.TempDir()
	sparse(t, filepath.Join(large, "huge.cue"), 2*placement.MaxFileSize)
	many := t.TempDir()
	for i := range placement.MaxSpecSize / placement.MaxFileSize {
		sparse(t, filepath.Join(many, fmt.Sprintf("part-%d.cue", i)), placement.MaxFileSize)
	}
	sparse(t, filepath.Join(many, "one-more.cue"), 1<<20)
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "nope does not exist"},
		{"large file", large, "huge.cue: file is too large (8.0 MiB; at most 4.0 MiB)"},
		{"large spec", many, "spec is too large (17.0 MiB of .cue files; at most 16.0 MiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.dir)
			var errs placement.Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one placement.Error", err)
			}
			if !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("got %q, want it to end with %q", err, tc.want)
			}
		})
	}
}

// sparse creates a file of size zero bytes without writing them.
func sparse(t *testing.T, name string, size int64) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}
