package placement_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// docExample returns the complete example of docs/spec.md: the first cue
// code block.
func docExample(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```cue\n")
	if !ok {
		t.Fatal("docs/spec.md has no cue block")
	}
	example, _, _ := strings.Cut(rest, "```")
	return example
}

// TestDocExample compiles the annotated example of docs/spec.md and checks
// the targets the page says it has.
func TestDocExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(docExample(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := placement.Load(dir)
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	m, err := placement.Compile(spec, regions.Default())
	if err != nil {
		t.Fatalf("Compile:\n%v", err)
	}
	want := map[string][]string{
		"billing": {
			"billing/dev/local/public/eu-central-1",
			"billing/dev/local/public/us-east-1",
			"billing/prod/aws/public/eu-central-1",
			"billing/prod/aws/public/us-east-1/c1",
			"billing/prod/aws/public/us-east-1/c2",
			"billing/prod/aws/us-gov/us-gov-west-1",
			"billing/prod/azure/public/eastus",
			"billing/prod/azure/public/westeurope",
			"billing/prod/azure/us-gov/usgovvirginia",
			"billing/prod/gcp/public/europe-west3",
			"billing/prod/gcp/public/us-central1",
			"billing/staging/aws/public/us-west-2",
			"billing/staging/gcp/public/us-central1",
		},
		"search": {
			"search/prod/aws/public/eu-central-1",
			"search/prod/aws/public/eu-west-1",
			"search/prod/aws/public/us-east-1/c1",
			"search/prod/aws/public/us-east-1/c2",
			"search/prod/gcp/public/europe-west3",
			"search/prod/gcp/public/us-central1",
			"search/staging/aws/public/us-west-2",
			"search/staging/gcp/public/us-central1",
		},
	}
	for _, svc := range m.Services {
		var got []string
		for _, tg := range svc.Targets {
			got = append(got, tg.ID())
		}
		if !slices.Equal(got, want[svc.Name]) {
			t.Errorf("%s targets:\n got %q\nwant %q", svc.Name, got, want[svc.Name])
		}
	}
	if len(m.Services) != len(want) {
		t.Errorf("got %d services, want %d", len(m.Services), len(want))
	}
	var queues []string
	for _, r := range m.Boundaries {
		queues = append(queues, r.TaskQueue)
	}
	wantQueues := []string{"meridian-china", "meridian-aws-public", "meridian-aws-us-gov", "meridian-azure-public", "meridian-azure-us-gov", "meridian-gcp-public", "meridian-local-public"}
	if !slices.Equal(queues, wantQueues) {
		t.Errorf("boundary task queues:\n got %q\nwant %q", queues, wantQueues)
	}
	billing := m.Services[0]
	if billing.Config["maxConnections"] != json.Number("200") || billing.Gates[0].Name != "http:/healthz" || billing.Gates[0].HTTP.Status != 200 || billing.Sharding.DrainTimeout != placement.Duration(2*time.Minute) {
		t.Errorf("billing defaults not applied: %+v", billing)
	}
}

// TestFileOrderIndependence compiles testdata/fleet as it is and with its
// files renamed so that they sort in reverse: the models are identical.
func TestFileOrderIndependence(t *testing.T) {
	files, err := filepath.Glob("../testdata/fleet/*.cue")
	if err != nil || len(files) < 2 {
		t.Fatalf("testdata/fleet: %v", err)
	}
	renamed := t.TempDir()
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		newName := fmt.Sprintf("%02d-%s", len(files)-i, strings.ToUpper(filepath.Base(name)[:1])+filepath.Base(name)[1:])
		if err := os.WriteFile(filepath.Join(renamed, newName), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var models [2][]byte
	for i, dir := range []string{"../testdata/fleet", renamed} {
		spec, err := placement.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := placement.Compile(spec, regions.Default())
		if err != nil {
			t.Fatal(err)
		}
		if models[i], err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	if string(models[0]) != string(models[1]) {
		t.Errorf("models differ after renaming the files:\n%s\n%s", models[0], models[1])
	}
}

// TestOwnModule loads a spec whose directory is a CUE module of its own,
// with a package of the module imported beside the schema.
func TestOwnModule(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"cue.mod/module.cue":    "module: \"example.com/fleet@v0\"\nlanguage: version: \"v0.17.0\"\n",
		"defaults/defaults.cue": "package defaults\n\nowner: \"platform\"\n",
		"fleet.cue": `package fleet

import (
	"meridian.dev/schema"
	"example.com/fleet/defaults"
)

environments: prod: aws: regions: ["us-east-1"]
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: api: schema.#Service & {
	owner: defaults.owner
	artifact: image: "registry.example.com/api"
	placement: clouds: ["aws"]
	pipeline: "standard"
}
`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := placement.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := placement.Compile(spec, regions.Default())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Services[0]; got.Owner != "platform" || len(got.Targets) != 1 || got.Targets[0].ID() != "api/prod/aws/public/us-east-1" {
		t.Errorf("got %+v", got)
	}
}
