package pipelines

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	fleetDir     = "../testdata/fleet"
	fleetNextDir = "../testdata/fleet-next"
	goldenDir    = "../testdata/golden"
)

// TestFleetGolden checks the example fleet's plan, and the diff between it
// and its next version, against the golden files (go test -update rewrites
// them). The CLI's tests check that meridian plan and diff print the same.
func TestFleetGolden(t *testing.T) {
	oldModel, oldPlan := compileDir(t, fleetDir)
	newModel, newPlan := compileDir(t, fleetNextDir)
	change := Diff(oldModel, newModel, oldPlan, newPlan)

	checkGolden(t, "fleet.plan.json", indentedJSON(t, oldPlan))
	checkGolden(t, "fleet.plan.md", []byte(oldPlan.Markdown()))
	checkGolden(t, "fleet.diff.json", indentedJSON(t, change))
	checkGolden(t, "fleet.diff.md", []byte(change.Markdown()))

	if len(change.Summary.Sovereign) == 0 || change.Summary.ServicesAdded != 1 {
		t.Errorf("the fleet-next diff should add a service and touch sovereign boundaries: %+v", change.Summary)
	}
}

// TestFleetPlanIndependentOfFileNames copies the fleet's files under
// shuffled, renamed file names (which changes the order CUE reads them in)
// and checks that the plan stays byte-identical.
func TestFleetPlanIndependentOfFileNames(t *testing.T) {
	_, plan := compileDir(t, fleetDir)
	want := indentedJSON(t, plan)
	files, err := filepath.Glob(filepath.Join(fleetDir, "*.cue"))
	if err != nil || len(files) < 2 {
		t.Fatalf("fleet files: %v %v", files, err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 3 {
		dir := t.TempDir()
		for i, j := range rng.Perm(len(files)) {
			data, err := os.ReadFile(files[j])
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%c%d-spec.cue", 'z'-rune(i), round)
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, plan := compileDir(t, dir)
		if got := indentedJSON(t, plan); !bytes.Equal(got, want) {
			t.Fatalf("round %d: the plan changed when the files were renamed", round)
		}
	}
}

func compileDir(t *testing.T, dir string) (*placement.Model, *Plan) {
	t.Helper()
	spec, err := placement.Load(dir)
	if err != nil {
		t.Fatalf("load %s:\n%v", dir, err)
	}
	model, err := placement.Compile(spec, regions.Default())
	if err != nil {
		t.Fatalf("compile %s:\n%v", dir, err)
	}
	plan, err := Build(model)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	return model, plan
}

// indentedJSON encodes v the way meridian plan -o json and diff -o json do.
func indentedJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pipelines -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pipelines -run Golden -update rewrites it): %s", name, firstDifference(got, want))
	}
}

// firstDifference describes the first line where got and want differ.
func firstDifference(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(g), len(w)) {
		if !bytes.Equal(g[i], w[i]) {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}
