package pipelines

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// TestCompiledSpecsBuild compiles specs with random prod stages (limits,
// percents, region selectors, in any order) and checks that every spec
// Compile accepts builds, so that `meridian validate` ok means `meridian
// plan` ok, and that Compile rejects the others with a positioned error.
func TestCompiledSpecsBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	selects := []string{"", "limit: 1", "limit: 3", "percent: 50", "percent: 100"}
	selectors := []string{`"geo:europe"`, `"geo:north-america"`, `"cloud:aws"`, `"aws:us-east-1"`, `"gcp:europe-west3"`}
	accepted, rejected := 0, 0
	for i := range 300 {
		var stages []string
		for j := range 1 + rng.IntN(4) {
			var fields []string
			if s := selects[rng.IntN(len(selects))]; s != "" {
				fields = append(fields, s)
			}
			if rng.IntN(2) == 0 {
				fields = append(fields, "regions: ["+selectors[rng.IntN(len(selectors))]+"]")
			}
			stages = append(stages, fmt.Sprintf("\t{name: \"s%d\", environment: \"prod\", select: {%s}},", j, strings.Join(fields, ", ")))
		}
		src := `package fleet

environments: prod: {
	aws: {regions: ["us-east-1", "eu-central-1", "us-west-2"], cells: "us-east-1": ["c1", "c2", "c3"]}
	gcp: regions: ["europe-west3", "us-central1"]
}
pipelines: standard: stages: [
` + strings.Join(stages, "\n") + `
]
services: billing: {
	owner: "payments"
	artifact: image: "registry.example.com/billing"
	placement: clouds: ["aws", "gcp"]
	pipeline: "standard"
}
`
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := placement.Load(dir)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, src)
		}
		model, err := placement.Compile(spec, regions.Default())
		var errs placement.Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				if e.Line == 0 {
					t.Errorf("case %d: error without a position: %v", i, e)
				}
			}
			rejected++
		case err != nil:
			t.Fatalf("case %d: %v", i, err)
		default:
			if _, err := Build(model); err != nil {
				t.Errorf("case %d: Compile accepts the spec but Build fails: %v\n%s", i, err, src)
			}
			accepted++
		}
	}
	if accepted == 0 || rejected == 0 {
		t.Errorf("%d specs accepted, %d rejected: want some of each", accepted, rejected)
	}
	t.Logf("%d specs accepted, %d rejected", accepted, rejected)
}
