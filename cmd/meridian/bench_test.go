package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	cueschema "github.com/meridian-deploy/meridian/cue"
	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows"
)

var (
	benchServices = flag.Int("bench.services", 2000, "services in BenchmarkPlanVsCueExport's generated fleet")
	benchRuns     = flag.Int("bench.runs", 3, "runs of each command per benchmark iteration (the fastest counts)")
	benchKeep     = flag.String("bench.keep", "", "write BenchmarkPlanVsCueExport's fleet into this directory and keep it")
)

// cueVersion is the CUE command the benchmark compares with (make bench
// installs it).
const cueVersion = "v0.17.1"

// BenchmarkPlanVsCueExport generates a large fleet (2,000 services over every
// aws, azure and gcp region of the catalog, three environments, on the order
// of 100,000 targets) and runs, as child processes in the same run,
// `meridian plan -o json` on it and `cue export` of the same files with the
// same schema. It reports each one's wall time (the fastest of -bench.runs)
// and peak RSS, and their ratio. Targets: plan at most 1.5× cue export,
// under 10 s and under 2 GiB. It logs whether they were met ("MISSED" if
// not) and passes either way: benchmarks report, they do not fail.
func BenchmarkPlanVsCueExport(b *testing.B) {
	cue := cueCommand(b)
	dir := *benchKeep
	if dir == "" {
		dir = b.TempDir()
	}
	specDir, exportDir := filepath.Join(dir, "spec"), filepath.Join(dir, "export")
	writeBenchFleet(b, specDir, *benchServices)
	writeExportDir(b, specDir, exportDir)
	meridian := buildMeridian(b)
	b.Logf("fleet of %d services in %s; %s", *benchServices, dir, cueVersionOf(b, cue))

	b.ResetTimer()
	var plan, export measure
	for range b.N {
		plan, export = measure{}, measure{}
		for range *benchRuns { // alternate, so that both see the same machine load
			plan.add(b, filepath.Join(dir, "plan.json"), "", meridian, "plan", specDir, "-o", "json")
			export.add(b, filepath.Join(dir, "export.json"), exportDir, cue, "export", "--out", "json", ".")
		}
	}
	b.StopTimer()

	targets := countTargets(b, filepath.Join(dir, "plan.json"))
	ratio := plan.wall.Seconds() / export.wall.Seconds()
	b.ReportMetric(plan.wall.Seconds(), "plan-s")
	b.ReportMetric(export.wall.Seconds(), "cue-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(float64(plan.rss)/(1<<20), "plan-MiB")
	b.ReportMetric(float64(export.rss)/(1<<20), "cue-MiB")
	b.ReportMetric(plan.cpu.Seconds()/export.cpu.Seconds(), "cpu-ratio")
	b.ReportMetric(float64(targets.targets), "targets")
	verdict := "met"
	if ratio > 1.5 || plan.wall > 10*time.Second || plan.rss > 2<<30 {
		verdict = "MISSED"
	}
	b.Logf("%d targets in %d pipelines", targets.targets, targets.pipelines)
	b.Logf("meridian plan -o json: %.2f s wall, %.2f s CPU, %d MiB peak RSS, %d KiB of JSON", plan.wall.Seconds(), plan.cpu.Seconds(), plan.rss>>20, plan.size>>10)
	b.Logf("cue export:            %.2f s wall, %.2f s CPU, %d MiB peak RSS, %d KiB of JSON", export.wall.Seconds(), export.cpu.Seconds(), export.rss>>20, export.size>>10)
	b.Logf("ratio %.2f (CPU time %.2f); target (≤1.5×, <10 s, <2 GiB) %s", ratio, plan.cpu.Seconds()/export.cpu.Seconds(), verdict)
}

// BenchmarkDiffBaseVsPlan commits the fleet of BenchmarkPlanVsCueExport to
// a git repository, then a head that bumps the version of every service,
// and runs, as child processes in the same run, `meridian diff --base HEAD~1
// -o json` on it and `meridian plan -o json` of the head. It reports each
// one's wall time (the fastest of -bench.runs), CPU time and peak RSS, and
// their ratio. Target: diff at most 1.3× plan (the two specs compile
// concurrently). It logs whether it was met ("MISSED" if not) and passes
// either way.
func BenchmarkDiffBaseVsPlan(b *testing.B) {
	dir := *benchKeep
	if dir == "" {
		dir = b.TempDir()
	}
	specDir := filepath.Join(dir, "spec")
	writeBenchFleet(b, specDir, *benchServices)
	gitCommit(b, dir, "base")
	editSpec(b, specDir, specDir, func(text string) string {
		return strings.ReplaceAll(text, `version: "1.`, `version: "2.`)
	})
	gitCommit(b, dir, "head: bump every service's version")
	meridian := buildMeridian(b)
	b.Logf("fleet of %d services in %s, every version bumped at HEAD", *benchServices, dir)

	b.ResetTimer()
	var diff, plan measure
	for range b.N {
		diff, plan = measure{}, measure{}
		for range *benchRuns { // alternate, so that both see the same machine load
			diff.add(b, filepath.Join(dir, "diff.json"), dir, meridian, "diff", "--base", "HEAD~1", "spec", "-o", "json")
			plan.add(b, filepath.Join(dir, "plan.json"), dir, meridian, "plan", "spec", "-o", "json")
		}
	}
	b.StopTimer()

	ratio := diff.wall.Seconds() / plan.wall.Seconds()
	cpuRatio := diff.cpu.Seconds() / plan.cpu.Seconds()
	b.ReportMetric(diff.wall.Seconds(), "diff-s")
	b.ReportMetric(plan.wall.Seconds(), "plan-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(cpuRatio, "cpu-ratio")
	b.ReportMetric(float64(diff.rss)/(1<<20), "diff-MiB")
	b.ReportMetric(float64(plan.rss)/(1<<20), "plan-MiB")
	verdict := "met"
	if ratio > 1.3 {
		verdict = "MISSED"
	}
	b.Logf("meridian diff --base HEAD~1 -o json: %.2f s wall, %.2f s CPU, %d MiB peak RSS, %d KiB of JSON", diff.wall.Seconds(), diff.cpu.Seconds(), diff.rss>>20, diff.size>>10)
	b.Logf("meridian plan -o json:               %.2f s wall, %.2f s CPU, %d MiB peak RSS, %d KiB of JSON", plan.wall.Seconds(), plan.cpu.Seconds(), plan.rss>>20, plan.size>>10)
	b.Logf("ratio %.2f (CPU time %.2f); target (≤1.3×) %s", ratio, cpuRatio, verdict)
}

// buildMeridian builds the meridian command into a temporary directory.
func buildMeridian(b *testing.B) string {
	b.Helper()
	meridian := filepath.Join(b.TempDir(), "meridian")
	if out, err := exec.Command("go", "build", "-o", meridian, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return meridian
}

// gitCommit commits everything in dir, making it a git repository first
// if it is not one.
func gitCommit(b *testing.B, dir, message string) {
	b.Helper()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false", "commit", "-q", "-m", message},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("git %s: %v\n%s", args[0], err, out)
		}
	}
}

type planCounts struct{ pipelines, targets int }

// countTargets counts the pipelines and targets of a plan written as JSON.
func countTargets(b *testing.B, path string) planCounts {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var plan pipelines.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		b.Fatalf("plan.json: %v", err)
	}
	c := planCounts{pipelines: len(plan.Pipelines)}
	for _, p := range plan.Pipelines {
		for _, st := range p.Stages {
			c.targets += len(st.Targets)
		}
	}
	return c
}

// measure keeps the fastest wall time and the highest peak RSS of a
// command's runs, and the size of its output.
type measure struct {
	wall time.Duration
	cpu  time.Duration // user + system time of the fastest run
	rss  int64         // bytes
	size int64
}

// add runs the command in workDir ("" for this one) with its output in outPath.
func (m *measure) add(b *testing.B, outPath, workDir, name string, args ...string) {
	b.Helper()
	out, err := os.Create(outPath)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Dir = workDir
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	wall := time.Since(start)
	if m.wall == 0 || wall < m.wall {
		m.wall = wall
		m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = max(m.rss, ru.Maxrss<<10) // Linux reports KiB
	}
	if info, err := out.Stat(); err == nil {
		m.size = info.Size()
	}
}

// cueCommand finds the CUE command: in GOBIN (or GOPATH/bin), where
// `go install` puts it, else on PATH.
func cueCommand(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		bin := lines[0]
		if bin == "" && len(lines) > 1 {
			bin = filepath.Join(strings.Split(lines[1], string(os.PathListSeparator))[0], "bin")
		}
		if path := filepath.Join(bin, "cue"); fileExists(path) {
			return path
		}
	}
	if path, err := exec.LookPath("cue"); err == nil {
		return path
	}
	b.Skipf("no cue command: go install cuelang.org/go/cmd/cue@%s (make bench does)", cueVersion)
	return ""
}

func cueVersionOf(b *testing.B, cue string) string {
	out, err := exec.Command(cue, "version").Output()
	first, _, _ := strings.Cut(string(out), "\n")
	if err != nil || !strings.Contains(first, cueVersion) {
		b.Logf("warning: %s is %q, not %s", cue, first, cueVersion)
	}
	return strings.TrimSpace(first)
}

func fileExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// writeExportDir makes a directory that `cue export` evaluates exactly as
// meridian does: the spec's files, the schema as the local package
// meridian.dev/schema of a module, and a file that applies schema.#Spec to
// the package's root.
func writeExportDir(b *testing.B, specDir, dir string) {
	b.Helper()
	copySpec(b, specDir, dir)
	writeSpec(b, dir, "zz-root.cue", "package fleet\n\nimport \"meridian.dev/schema\"\n\nschema.#Spec\n")
	writeSpec(b, filepath.Join(dir, "cue.mod"), "module.cue", "module: \"bench.example/fleet@v0\"\nlanguage: version: \"v0.17.0\"\n")
	schemaFiles, err := fs.Glob(cueschema.FS, "*.cue")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range schemaFiles {
		data, err := fs.ReadFile(cueschema.FS, name)
		if err != nil {
			b.Fatal(err)
		}
		writeSpec(b, filepath.Join(dir, "cue.mod", "pkg", "meridian.dev", "schema"), name, string(data))
	}
}

// writeBenchFleet writes a deterministic fleet of n services over every
// aws, azure and gcp region of the catalog.
//
// prod uses every region; staging every third region of each cloud; dev one
// region per cloud. Sovereign boundaries roll out after public with approval.
// Services vary their clouds, boundaries, geographic includes and pipelines.
func writeBenchFleet(b *testing.B, dir string, n int) {
	b.Helper()
	clouds := []string{"aws", "azure", "gcp"}
	byCloud := map[string][]regions.Region{}
	var sovereign []regions.Boundary
	cat := regions.Default()
	for _, r := range cat.Regions() {
		if slices.Contains(clouds, r.Cloud) {
			byCloud[r.Cloud] = append(byCloud[r.Cloud], r)
		}
	}
	for _, bd := range cat.Boundaries() {
		if slices.Contains(clouds, bd.Cloud) && bd.ID != "public" {
			sovereign = append(sovereign, bd)
		}
	}
	dev := map[string]string{"aws": "us-east-1", "azure": "eastus", "gcp": "us-central1"}

	var base strings.Builder
	base.WriteString("package fleet\n\nenvironments: {\n")
	for _, env := range []string{"dev", "staging", "prod"} {
		fmt.Fprintf(&base, "\t%s: {\n", env)
		for _, cloud := range clouds {
			var ids []string
			for i, r := range byCloud[cloud] {
				if env == "prod" || env == "staging" && i%3 == 0 || env == "dev" && r.ID == dev[cloud] {
					ids = append(ids, fmt.Sprintf("%q", r.ID))
				}
			}
			fmt.Fprintf(&base, "\t\t%s: regions: [%s]\n", cloud, strings.Join(ids, ", "))
		}
		base.WriteString("\t}\n")
	}
	base.WriteString("}\n\nboundaries: {\n")
	for _, bd := range sovereign {
		fmt.Fprintf(&base, "\t%s: %q: {approval: true, after: [\"public\"], lag: \"24h\"}\n", bd.Cloud, bd.ID)
	}
	base.WriteString(`}

pipelines: {
	standard: stages: [
		{name: "dev", environment: "dev"},
		{name: "staging", environment: "staging", bake: "15m"},
		{name: "canary", environment: "prod", select: limit: 1, bake: "30m"},
		{name: "europe", environment: "prod", select: regions: ["geo:europe"], maxParallel: 5, bake: "1h"},
		{name: "prod", environment: "prod", maxParallel: 10, bake: "1h", approval: true},
	]
	"fast-config": {
		stages: [
			{name: "staging", environment: "staging"},
			{name: "prod-wave", environment: "prod", select: percent: 25, maxParallel: 20, bake: "10m"},
			{name: "prod-rest", environment: "prod", maxParallel: 20, bake: "10m"},
		]
		rollback: "stage"
	}
}
`)
	writeSpec(b, dir, "base.cue", base.String())

	placements := []struct {
		clouds     []string
		boundaries []string
		geos       []string // include; none: everywhere
	}{
		{[]string{"aws"}, []string{"public"}, nil},
		{[]string{"azure", "gcp"}, []string{"public"}, []string{"europe"}},
		{[]string{"aws", "azure"}, []string{"public", "us-gov"}, []string{"north-america"}},
		{[]string{"gcp"}, []string{"public", "fr-sovereign"}, nil},
		{[]string{"aws", "azure", "gcp"}, []string{"public"}, []string{"europe", "asia"}},
		{[]string{"aws"}, []string{"public", "china", "eu-sovereign", "us-iso", "us-isob", "us-isof", "eu-isoe"}, []string{"asia", "europe"}},
		{[]string{"azure"}, []string{"public", "us-gov", "china"}, []string{"north-america", "asia"}},
		{[]string{"aws", "gcp"}, []string{"public"}, []string{"south-america", "africa", "oceania", "middle-east"}},
	}
	for file := 0; file*100 < n; file++ {
		var f strings.Builder
		f.WriteString("package fleet\n\nimport \"meridian.dev/schema\"\n\nservices: {\n")
		for i := file * 100; i < min(n, (file+1)*100); i++ {
			p := placements[i%len(placements)]
			pipeline := "standard"
			if i%3 == 0 {
				pipeline = "fast-config"
			}
			include := ""
			if p.geos != nil {
				include = ", include: [" + quoteAll("geo:", p.geos) + "]"
			}
			fmt.Fprintf(&f, `	"svc-%04d": schema.#Service & {
		owner: "team-%02d"
		artifact: {image: "registry.example.com/team-%02d/svc-%04d", version: "1.%d.0"}
		placement: {clouds: [%s], boundaries: [%s]%s}
		pipeline: %q
		config: {replicas: *%d | int & >0, logLevel: *"info" | "debug" | "warn", limits: {cpu: "500m", memory: "1Gi"}}
		health: gates: [{http: path: "/healthz"}, {alarm: name: "svc-%04d-5xx"}]
	}
`, i, i%50, i%50, i, i%17, quoteAll("", p.clouds), quoteAll("", p.boundaries), include, pipeline, 2+i%5, i)
		}
		f.WriteString("}\n")
		writeSpec(b, dir, fmt.Sprintf("services-%02d.cue", file), f.String())
	}
}

func quoteAll(prefix string, list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", prefix+s)
	}
	return strings.Join(q, ", ")
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

// copySpec copies the *.cue files of a spec directory into dir.
func copySpec(t testing.TB, from, dir string) {
	t.Helper()
	editSpec(t, from, dir, func(text string) string { return text })
}

// editSpec writes the *.cue files of a spec directory into dir, each as
// edit returns it.
func editSpec(t testing.TB, from, dir string, edit func(string) string) {
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
		writeSpec(t, dir, filepath.Base(f), edit(string(data)))
	}
}

// BenchmarkApplyVsBareStarts applies a change to every service of the
// BenchmarkPlanVsCueExport fleet (a version bump of all 2,000 services) on
// the package's embedded server, and compares, in the same run, starting
// its releases (the apply workflow, then each release through its
// service's lock, startParallel at once, as `meridian apply` does) with as
// many bare workflow starts, as many at once, of a workflow no worker
// polls. Compiling the two specs is not timed (BenchmarkDiffBaseVsPlan
// measures it). The releases' pipelines wait on boundaries no worker here
// serves; each round terminates its releases before the next. Target:
// apply at most 1.5× the bare starts. It logs whether it was met ("MISSED"
// if not) and passes either way.
func BenchmarkApplyVsBareStarts(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	specDir := filepath.Join(dir, "spec")
	writeBenchFleet(b, specDir, *benchServices)
	gitCommit(b, dir, "base")
	editSpec(b, specDir, specDir, func(text string) string {
		return strings.ReplaceAll(text, `version: "1.`, `version: "2.`)
	})
	gitCommit(b, dir, "head: bump every service's version")
	o := &applyOptions{remote: &remote{out: io.Discard, errOut: io.Discard}, dir: specDir, base: "HEAD~1", as: "bench"}
	p, err := o.plan(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := steerClient(b)
	b.Logf("fleet of %d services, %d releases to start", *benchServices, len(p.start))

	var applyTime, bareTime time.Duration
	for i := 0; b.Loop(); i++ {
		o.changeID = fmt.Sprintf("bench-apply-%d", i)
		reqs, err := o.requests(ctx, c, p)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		startBare(b, ctx, c, fmt.Sprintf("bench-bare-%d", i), len(reqs))
		bareTime += time.Since(start)

		start = time.Now()
		_, results, err := o.launch(ctx, c, p, reqs)
		if err != nil {
			b.Fatal(err)
		}
		applyTime += time.Since(start)
		for _, r := range results {
			if r.Error != "" {
				b.Fatalf("release of %s: %s", r.Service, r.Error)
			}
		}
		b.StopTimer()
		existed := time.Since(start)
		awaitReleases(b, ctx, c, o.changeID, len(results))
		b.Logf("round %d: apply returned after %.2f s; every release running after %.2f s", i, existed.Seconds(), time.Since(start).Seconds())
		terminateAll(b, ctx, c, results)
		b.StartTimer()
	}
	ratio := applyTime.Seconds() / bareTime.Seconds()
	n := float64(b.N)
	b.ReportMetric(applyTime.Seconds()/n, "apply-s")
	b.ReportMetric(bareTime.Seconds()/n, "bare-s")
	b.ReportMetric(ratio, "ratio")
	verdict := "met"
	if ratio > 1.5 {
		verdict = "MISSED"
	}
	b.Logf("%d releases: apply %.2f s, %d bare starts %.2f s: ratio %.2f; target (≤1.5×) %s", len(p.start), applyTime.Seconds()/n, len(p.start), bareTime.Seconds()/n, ratio, verdict)
}

// startBare starts n workflows of a type no worker runs, on a queue no
// worker polls, startParallel at once, and waits for every start.
func startBare(b *testing.B, ctx context.Context, c client.Client, prefix string, n int) {
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: "bench-bare"}, "Bare")
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d bare starts failed", failed.Load())
	}
}

// awaitReleases waits until the apply of change id has heard every one of
// its n releases start.
func awaitReleases(b *testing.B, ctx context.Context, c client.Client, id string, n int) {
	for {
		st, err := workflows.ApplyStatusOf(ctx, c, workflows.ApplyID(id))
		if err != nil {
			b.Fatal(err)
		}
		started := 0
		for _, r := range st.Releases {
			if r.Phase != workflows.PhasePending {
				started++
			}
		}
		if started == n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// terminateAll ends the releases a benchmark round started, so that the
// next round's are not queued behind them.
func terminateAll(b *testing.B, ctx context.Context, c client.Client, results []applied) {
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	for _, r := range results {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.TerminateWorkflow(ctx, r.Release, "", "benchmark round over"); err != nil {
				b.Errorf("terminate %s: %v", r.Release, err)
			}
		})
	}
	wg.Wait()
}
