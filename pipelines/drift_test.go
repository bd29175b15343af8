package pipelines

import (
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
)

func TestAssess(t *testing.T) {
	spec := &Expectation{Service: "web", Version: "v2", VersionFrom: "spec", ConfigVersion: "cfg-1"}
	released := &Expectation{Service: "web", Version: "v2", VersionFrom: VersionFromRelease, ConfigVersion: "cfg-1"}
	unversioned := &Expectation{Service: "web", ConfigVersion: "cfg-1"}
	ready := Observed{Running: true, Version: "v2", ConfigVersion: "cfg-1", ChangeID: "c2", Ready: 2, Desired: 2}
	with := func(edit func(*Observed)) Observed { o := ready; edit(&o); return o }
	for _, tc := range []struct {
		name   string
		expect *Expectation
		obs    Observed
		state  SyncState
		reason string // a fragment of the reason
	}{
		{"the spec's version and config, ready", spec, ready, InSync, ""},
		{"no config reported is not compared", spec, with(func(o *Observed) { o.ConfigVersion = "" }), InSync, ""},
		{"no version known is not compared", unversioned, with(func(o *Observed) { o.Version = "v9" }), InSync, ""},
		{"another version than the spec's", spec, with(func(o *Observed) { o.Version = "v1" }), Drifted, "version v1, want v2 (spec)"},
		{"another version than the last release's", released, with(func(o *Observed) { o.Version = "v1" }), Drifted, "want v2 (last succeeded release)"},
		{"an untagged image", spec, with(func(o *Observed) { o.Version = "" }), Drifted, "version none, want v2"},
		{"another config", spec, with(func(o *Observed) { o.ConfigVersion = "cfg-0" }), Drifted, "config cfg-0, want cfg-1"},
		{"drift wins over degraded", spec, with(func(o *Observed) { o.Version, o.Ready = "v1", 0 }), Drifted, "version v1"},
		{"nothing runs", spec, Observed{}, Missing, "nothing runs"},
		{"scaled to zero", spec, with(func(o *Observed) { o.Ready, o.Desired = 0, 0 }), Missing, "nothing runs"},
		{"not all ready", spec, with(func(o *Observed) { o.Ready, o.Reason = 1, "instance i2 down" }), Degraded, "1/2 ready: instance i2 down"},
		{"a failed rollout", spec, with(func(o *Observed) { o.Failed, o.Reason = true, "circuit breaker" }), Degraded, "2/2 ready: circuit breaker"},
		{"a read that failed", spec, Observed{Error: "current: throttled: slow down"}, Unknown, "throttled"},
		{"not in the spec, running", nil, ready, Orphaned, "not in the spec"},
		{"not in the spec, gone", nil, Observed{}, InSync, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, reason := Assess(tc.expect, tc.obs)
			if state != tc.state || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
				t.Errorf("Assess = %s %q, want %s %q", state, reason, tc.state, tc.reason)
			}
		})
	}
}

func TestExpect(t *testing.T) {
	model := &placement.Model{Services: []placement.Service{
		{Name: "api", Artifact: placement.Artifact{Version: "1.2.0"}, Config: map[string]any{"pool": 4}},
		{Name: "web"},
		{Name: "new"},
	}}
	got := Expect(model, map[string]string{"api": "1.1.0", "web": "v7"})
	want := []Expectation{
		{Service: "api", Version: "1.2.0", VersionFrom: "spec", ConfigVersion: ConfigVersion(map[string]any{"pool": 4})},
		{Service: "web", Version: "v7", VersionFrom: VersionFromRelease, ConfigVersion: ConfigVersion(nil)},
		{Service: "new", ConfigVersion: ConfigVersion(nil)},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Expect[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFleetReportMarkdown(t *testing.T) {
	target := func(svc, boundary, region string) placement.Target {
		return placement.Target{Service: svc, Environment: "prod", Cloud: "local", Boundary: boundary, Region: region}
	}
	r := FleetReport{Listed: 3, Targets: []FleetTarget{
		{Target: target("web", "us-gov", "us-gov-west-1"), State: Missing, Reason: "nothing runs"},
		{Target: target("web", "public", "us-east-1"), State: InSync, Observed: Observed{Running: true, Version: "v2", Ready: 2, Desired: 2, ChangeID: "c2"}},
		{Target: target("api", "public", "us-east-1"), State: Drifted, Reason: "version v1, want v2 (spec)", Observed: Observed{Running: true, Version: "v1", Ready: 1, Desired: 1, ChangeID: "c1"}},
		{Target: target("web", "public", "eu-west-1"), State: InSync},
	}, Unlisted: []Unlisted{{Cloud: "aws", Boundary: "public", Region: "us-east-1", Reason: "the driver cannot list"}}}
	r.Sort()
	if r.InSync() {
		t.Error("InSync with a drifted and a missing target")
	}
	if got, want := r.CountLine(), "4 targets: 2 in-sync, 1 drifted, 1 missing"; got != want {
		t.Errorf("CountLine = %q, want %q", got, want)
	}
	md := r.Markdown()
	for _, want := range []string{
		"**out of sync** — 4 targets",
		"| api | local/public | 1 | · | 1 | · | · | · | · |\n| web | local/public | 2 | 2 | · | · | · | · | · |\n| web | local/us-gov | 1 | · | · | 1 | · | · | · |\n",
		"| drifted | api/prod/local/public/us-east-1 | v1 | — | 1/1 | release/api/c1 | version v1, want v2 (spec) |",
		"| missing | web/prod/local/us-gov/us-gov-west-1 | — | — | — | — | nothing runs |",
		"orphans not looked for in aws/public/us-east-1: the driver cannot list",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
