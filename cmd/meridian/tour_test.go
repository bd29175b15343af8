package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tour of `make run`, run as a user runs it: killed midway through its
// good release, then started again on the same database, where it must
// deal with the release left open and go through to its summary.
func TestTourRerunsAfterAKill(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, ports and fleet; mostly waiting on bakes
	db := filepath.Join(t.TempDir(), "state", "dev.db")
	stopFleetAtEnd(t, db)
	const spec = "../../testdata/demo"

	d := startDev(t, bin, db, "--spec", spec, "--tour")
	awaitTrue(t, 2*time.Minute, "the good release's canary stage", func() bool {
		return regexp.MustCompile(`local/public\s+canary`).MatchString(d.out.String())
	})
	d.kill()

	d = startDev(t, bin, db, "--spec", spec, "--tour")
	awaitTrue(t, 5*time.Minute, "the tour to end", func() bool {
		out := d.out.String()
		if strings.Contains(out, "meridian dev: tour:") {
			t.Fatalf("the tour failed:\n%s", out)
		}
		return strings.Contains(out, "press Ctrl-C to stop")
	})
	out := d.out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`release release/web/tour-\S+-v2 of an earlier run is still open \(\S+\): aborting it as the tour`),
		regexp.MustCompile(`approving stage prod of local/public as the tour, reason: `),
		regexp.MustCompile(`web v2 succeeded in `),
		regexp.MustCompile(`rolled back: .*version v3-bad is bad`),
		regexp.MustCompile(`(?m)^\s+\S+\s+web/staging/local/public/us-west-2\s+2/2 instances on v2$`),
		regexp.MustCompile(`(?m)^\s+\S+\s+web/prod/local/us-gov/us-gov-west-1\s+2/2 instances on v2$`),
		regexp.MustCompile(`cache/prod/local/public/us-east-1\s+restarted in .*: hit rate`),
		regexp.MustCompile(`MeridianService="web"`),
		regexp.MustCompile(`(?m)^in-sync\s+web/prod/local/us-gov/us-gov-west-1\s+v2\s+-\s+2/2\s+release/web/tour-\S+-v2\s+-$`),
		regexp.MustCompile(`(?m)^7 targets: 7 in-sync$`),
		regexp.MustCompile(`web and cache are in sync with the spec`),
	} {
		if !want.MatchString(out) {
			t.Errorf("tour output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "instances on v2"); n != 5 {
		t.Errorf("%d targets reported back on v2 after the rollback, want web's 5:\n%s", n, out)
	}
	// The printed link to this tour's workflows works: through the Web
	// UI's API it lists the three releases and their pipelines.
	link := regexp.MustCompile(`this tour's workflows:\s+(http://127\.0\.0\.1:\d+)(/namespaces/\S+)`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no link to this tour's workflows:\n%s", out)
	}
	resp, err := http.Get(link[1] + "/api/v1" + link[2])
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Executions []struct {
			Type struct{ Name string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	types := map[string]int{}
	for _, e := range list.Executions {
		types[e.Type.Name]++
	}
	if err != nil || types["Release"] != 3 || types["Pipeline"] < 3 {
		t.Errorf("the tour's workflows through the UI: %v, %v", types, err)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("meridian dev exited %d on Ctrl-C after the tour:\n%s", code, d.out.String())
	}
}
