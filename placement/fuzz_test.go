package placement_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
)

// FuzzLoadCompile writes each input as the one file of a spec and loads and
// compiles it: whatever the input, the result is a model or placement.Errors,
// never a panic. The corpus starts from every .cue file under testdata and
// the example of docs/spec.md.
func FuzzLoadCompile(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/*/*/*.cue")
	more, _ := filepath.Glob("../testdata/*/*.cue")
	for _, name := range append(seeds, more...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(docExample(f)))
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "spec.cue"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		err := check(dir)
		var errs placement.Errors
		if err != nil && (!errors.As(err, &errs) || len(errs) == 0) {
			t.Fatalf("error is not placement.Errors: %T %v", err, err)
		}
	})
}
