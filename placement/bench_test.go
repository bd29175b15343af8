package placement_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

var (
	benchServices = flag.Int("fleet.services", 500, "services in the fleet BenchmarkCompile generates")
	fleetOut      = flag.String("fleet.out", "", "BenchmarkCompile writes its fleet into this directory and keeps it")
)

// writeFleet writes a generated fleet of n services: every public, us-gov
// and china region of aws, azure and gcp in prod, a few in dev and staging,
// and services spread over clouds, boundaries and geographies, 100 per file.
func writeFleet(tb testing.TB, dir string, n int) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	byCloud := map[string][]string{}
	for _, r := range regions.Default().Regions() {
		if r.Cloud != "local" && (r.Boundary == "public" || r.Boundary == "us-gov" || r.Boundary == "china") {
			byCloud[r.Cloud] = append(byCloud[r.Cloud], fmt.Sprintf("%q", r.ID))
		}
	}
	var env strings.Builder
	env.WriteString("package fleet\n\nenvironments: {\n")
	env.WriteString("\tdev: {aws: regions: [\"us-east-1\"], azure: regions: [\"eastus\"], gcp: regions: [\"us-central1\"]}\n")
	env.WriteString("\tstaging: {aws: regions: [\"us-west-2\", \"eu-west-1\"], azure: regions: [\"westeurope\"], gcp: regions: [\"europe-west1\"]}\n")
	env.WriteString("\tprod: {\n")
	for _, cloud := range []string{"aws", "azure", "gcp"} {
		fmt.Fprintf(&env, "\t\t%s: regions: [%s]\n", cloud, strings.Join(byCloud[cloud], ", "))
	}
	env.WriteString("\t}\n}\n\nboundaries: aws: \"us-gov\": {approval: true, after: [\"public\"], lag: \"24h\"}\n\n")
	env.WriteString(`pipelines: standard: stages: [
	{name: "dev", environment: "dev"},
	{name: "staging", environment: "staging", bake: "15m"},
	{name: "canary", environment: "prod", select: limit: 1, bake: "30m"},
	{name: "europe", environment: "prod", select: regions: ["geo:europe"], maxParallel: 5},
	{name: "prod", environment: "prod", maxParallel: 10, approval: true},
]
`)
	write(tb, filepath.Join(dir, "base.cue"), env.String())

	clouds := []string{`["aws", "azure", "gcp"]`, `["aws"]`, `["azure", "gcp"]`, `["gcp"]`, `["aws", "azure"]`}
	includes := []string{"", `include: ["geo:europe"], `, "", `exclude: ["geo:asia"], `, `include: ["geo:north-america", "geo:europe"], `}
	for file := 0; file*100 < n; file++ {
		var b strings.Builder
		b.WriteString("package fleet\n\nimport \"meridian.dev/schema\"\n\n")
		for i := file * 100; i < min(n, (file+1)*100); i++ {
			boundaries := `["public"]`
			if i%7 == 0 && i%len(clouds) != 3 { // gcp has no us-gov
				boundaries = `["public", "us-gov"]`
			}
			fmt.Fprintf(&b, `services: "svc-%04d": schema.#Service & {
	owner: "team-%d"
	artifact: image: "registry.example.com/svc-%04d"
	placement: {clouds: %s, boundaries: %s, %s}
	pipeline: "standard"
	config: {replicas: *%d | int & >0, name: "svc-%04d", limits: {cpu: *"500m" | string, memory: *"1Gi" | string}}
	health: gates: [{http: path: "/healthz"}, {alarm: name: "svc-%04d-5xx"}]
}
`, i, i%40, i, clouds[i%len(clouds)], boundaries, includes[i%len(includes)], 2+i%5, i, i)
		}
		write(tb, filepath.Join(dir, fmt.Sprintf("services-%02d.cue", file)), b.String())
	}
}

func write(tb testing.TB, name, content string) {
	tb.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkCompile loads and compiles a generated fleet (-fleet.services,
// default 500 services, about 25,000 targets). To keep the fleet, say for
// measuring against cue export:
//
//	go test ./placement -run '^$' -bench Compile -benchtime 1x -fleet.services 2000 -fleet.out DIR
func BenchmarkCompile(b *testing.B) {
	dir := *fleetOut
	if dir == "" {
		dir = b.TempDir()
	}
	writeFleet(b, dir, *benchServices)
	b.ResetTimer()
	for b.Loop() {
		spec, err := placement.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		m, err := placement.Compile(spec, regions.Default())
		if err != nil {
			b.Fatal(err)
		}
		targets := 0
		for _, s := range m.Services {
			targets += len(s.Targets)
		}
		b.ReportMetric(float64(targets), "targets")
	}
}
