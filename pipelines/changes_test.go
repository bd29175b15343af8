package pipelines

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

func TestReleases(t *testing.T) {
	slow := standard
	slow.Name = "slow"
	slow.Stages = slices.Clone(standard.Stages)
	slow.Stages[3].Bake = placement.Duration(4 * time.Hour)
	strictGov := govRule
	strictGov.Registries = []string{"registry.gov.example.com"}

	api := placement.Service{Name: "api", Owner: "web", Pipeline: "standard",
		Artifact: placement.Artifact{Image: "r.example.com/api", Version: "1.0"},
		Config:   map[string]any{"db": map[string]any{"pool": 10}},
		Gates:    []placement.Gate{{Name: "http", HTTP: &placement.HTTPGate{Path: "/healthz", Status: 200}}},
		Targets:  targets("api", "staging/aws/public/us-west-2", "prod/aws/public/us-east-1", "prod/aws/us-gov/us-gov-west-1")}
	// with returns api changed by f.
	with := func(f func(*placement.Service)) placement.Service {
		s := api
		s.Targets = slices.Clone(api.Targets)
		s.Gates = slices.Clone(api.Gates)
		f(&s)
		return s
	}
	parts := func(r Release) string {
		var out []string
		for _, p := range r.Parts {
			out = append(out, string(p))
		}
		return strings.Join(out, " ")
	}

	tests := []struct {
		name          string
		before, after []placement.Service
		afterRules    []placement.BoundaryRule // default: govRule
		check         func(t *testing.T, rs []Release)
	}{
		{
			name:   "a version bump, a config change and an added region are one release",
			before: []placement.Service{api},
			after: []placement.Service{with(func(s *placement.Service) {
				s.Artifact.Version = "1.1"
				s.Config = map[string]any{"db": map[string]any{"pool": 20}}
				s.Targets = append(s.Targets, targets("api", "prod/aws/public/eu-west-1")...)
			})},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "version config targetsAdded" || r.Version != "1.1" || r.CurrentVersion || !r.Starts() {
					t.Errorf("release = %+v", r)
				}
				if r.ConfigVersion != ConfigVersion(map[string]any{"db": map[string]any{"pool": 20}}) || r.PreviousConfigVersion != ConfigVersion(api.Config) {
					t.Errorf("config versions = %s, previous %s", r.ConfigVersion, r.PreviousConfigVersion)
				}
				if strings.Join(r.TargetsAdded, " ") != "api/prod/aws/public/eu-west-1" || len(r.TargetsRemoved) != 0 || r.Targets != 4 {
					t.Errorf("targets = +%v −%v of %d", r.TargetsAdded, r.TargetsRemoved, r.Targets)
				}
				// The version and config go to every target, GovCloud's included.
				if strings.Join(r.Sovereign, " ") != "aws/us-gov" {
					t.Errorf("sovereign = %v", r.Sovereign)
				}
				if want := "version 1.0 → 1.1 and config " + r.PreviousConfigVersion + " → " + r.ConfigVersion + " on every target (4, 1 of them added)"; r.Summary != want {
					t.Errorf("summary = %q, want %q", r.Summary, want)
				}
			},
		},
		{
			name:   "a new service without a version goes to all its targets at the current version",
			after:  []placement.Service{with(func(s *placement.Service) { s.Artifact.Version = "" })},
			before: nil,
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "newService" || r.Version != "" || !r.CurrentVersion || len(r.TargetsAdded) != 3 || r.NeedsPrune {
					t.Errorf("release = %+v", r)
				}
				if !strings.Contains(r.Summary, "version current (last succeeded release)") || !strings.Contains(r.Summary, "to all 3 targets") {
					t.Errorf("summary = %q", r.Summary)
				}
			},
		},
		{
			name:   "a removed service needs --prune and starts nothing without it",
			before: []placement.Service{api},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "removeService" || !r.NeedsPrune || r.Starts() || len(r.TargetsRemoved) != 3 || r.Targets != 0 {
					t.Errorf("release = %+v", r)
				}
				if strings.Join(r.Sovereign, " ") != "aws/us-gov" || r.ConfigVersion != "" || r.Version != "" {
					t.Errorf("release = %+v", r)
				}
			},
		},
		{
			name: "a target removed and re-added under another cell: a deploy there, then a drained decommission",
			before: []placement.Service{with(func(s *placement.Service) {
				s.Artifact.Version = ""
				s.Sharding = &placement.Sharding{Sharder: "dicer"}
				s.Targets = targets("api", "prod/aws/public/us-east-1/c1")
			})},
			after: []placement.Service{with(func(s *placement.Service) {
				s.Artifact.Version = ""
				s.Sharding = &placement.Sharding{Sharder: "dicer"}
				s.Targets = targets("api", "prod/aws/public/us-east-1/c2")
			})},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "targetsAdded decommission" || !r.CurrentVersion || !r.Drain || r.ConfigVersion != ConfigVersion(api.Config) {
					t.Errorf("release = %+v", r)
				}
				if strings.Join(r.TargetsAdded, " ") != "api/prod/aws/public/us-east-1/c2" || strings.Join(r.TargetsRemoved, " ") != "api/prod/aws/public/us-east-1/c1" {
					t.Errorf("targets = +%v −%v", r.TargetsAdded, r.TargetsRemoved)
				}
				if want := "1 target added: version current (last succeeded release), config " + r.ConfigVersion + "; 1 target to decommission, drained first"; r.Summary != want {
					t.Errorf("summary = %q, want %q", r.Summary, want)
				}
			},
		},
		{
			name:   "a change to gates only starts nothing: it takes effect on the next release",
			before: []placement.Service{api},
			after:  []placement.Service{with(func(s *placement.Service) { s.Gates[0].HTTP = &placement.HTTPGate{Path: "/ready", Status: 200} })},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "nextRelease" || r.Starts() || strings.Join(r.NextRelease, ", ") != "gates" || r.Version != "" || r.ConfigVersion != "" || len(r.Sovereign) != 0 {
					t.Errorf("release = %+v", r)
				}
				if r.Summary != "nothing starts; takes effect on the next release: gates" {
					t.Errorf("summary = %q", r.Summary)
				}
			},
		},
		{
			name:   "a service moved to another pipeline keeps its targets: next release",
			before: []placement.Service{api},
			after:  []placement.Service{with(func(s *placement.Service) { s.Pipeline = "slow" })},
			check: func(t *testing.T, rs []Release) {
				if r := one(t, rs); parts(r) != "nextRelease" || strings.Join(r.NextRelease, ", ") != "pipeline, pipeline stages" {
					t.Errorf("release = %+v", r)
				}
			},
		},
		{
			name:       "a boundary rule change defers to the next release of the services inside it",
			before:     []placement.Service{api, {Name: "web", Pipeline: "standard", Targets: targets("web", "prod/aws/public/us-east-1")}},
			after:      []placement.Service{api, {Name: "web", Pipeline: "standard", Targets: targets("web", "prod/aws/public/us-east-1")}},
			afterRules: []placement.BoundaryRule{strictGov},
			check: func(t *testing.T, rs []Release) {
				if r := one(t, rs); r.Service != "api" || parts(r) != "nextRelease" || strings.Join(r.NextRelease, ", ") != "boundary aws/us-gov" {
					t.Errorf("release = %+v", r)
				}
			},
		},
		{
			name:   "an owner change releases nothing",
			before: []placement.Service{api},
			after:  []placement.Service{with(func(s *placement.Service) { s.Owner = "platform" })},
			check: func(t *testing.T, rs []Release) {
				if len(rs) != 0 {
					t.Errorf("releases = %+v", rs)
				}
			},
		},
		{
			name:   "unpinning the version deploys nothing",
			before: []placement.Service{api},
			after:  []placement.Service{with(func(s *placement.Service) { s.Artifact.Version = "" })},
			check: func(t *testing.T, rs []Release) {
				if r := one(t, rs); parts(r) != "nextRelease" || strings.Join(r.NextRelease, ", ") != "artifact.version" {
					t.Errorf("release = %+v", r)
				}
			},
		},
		{
			name:   "gates changed with the version ride along with the release",
			before: []placement.Service{api},
			after: []placement.Service{with(func(s *placement.Service) {
				s.Artifact.Version = "2.0"
				s.Gates = nil
			})},
			check: func(t *testing.T, rs []Release) {
				if r := one(t, rs); parts(r) != "version" || len(r.NextRelease) != 0 || len(r.TargetsAdded) != 0 {
					t.Errorf("release = %+v", r)
				}
			},
		},
		{
			name:   "a removed target: decommission only, the stages it leaves are no pipeline change",
			before: []placement.Service{api},
			after:  []placement.Service{with(func(s *placement.Service) { s.Targets = s.Targets[:2] })},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "decommission" || !r.Starts() || r.Drain || strings.Join(r.Sovereign, " ") != "aws/us-gov" || r.Version != "" {
					t.Errorf("release = %+v", r)
				}
				if r.Summary != "1 target to decommission" {
					t.Errorf("summary = %q", r.Summary)
				}
			},
		},
		{
			name:   "a removed target and a pipeline change: decommission now, the pipeline on the next release",
			before: []placement.Service{api},
			after: []placement.Service{with(func(s *placement.Service) {
				s.Pipeline = "slow"
				s.Targets = s.Targets[:2]
			})},
			check: func(t *testing.T, rs []Release) {
				r := one(t, rs)
				if parts(r) != "decommission nextRelease" || !r.Starts() {
					t.Errorf("release = %+v", r)
				}
				if r.Summary != "1 target to decommission; takes effect on the next release: pipeline, pipeline stages" {
					t.Errorf("summary = %q", r.Summary)
				}
			},
		},
		{
			name:   "releases are sorted by service",
			before: []placement.Service{{Name: "zeta", Pipeline: "standard", Targets: targets("zeta", "prod/aws/public/us-east-1")}},
			after:  []placement.Service{api, {Name: "beta", Pipeline: "standard", Targets: targets("beta", "prod/aws/public/us-east-1")}},
			check: func(t *testing.T, rs []Release) {
				var names []string
				for _, r := range rs {
					names = append(names, r.Service+":"+parts(r))
				}
				if got := strings.Join(names, " "); got != "api:newService beta:newService zeta:removeService" {
					t.Errorf("releases = %s", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := placement.Model{Pipelines: []placement.PipelineDef{standard, slow}, Boundaries: []placement.BoundaryRule{govRule}, Services: tc.before}
			after := placement.Model{Pipelines: []placement.PipelineDef{standard, slow}, Boundaries: []placement.BoundaryRule{govRule}, Services: tc.after}
			if tc.afterRules != nil {
				after.Boundaries = tc.afterRules
			}
			rs := Releases(&before, &after, mustBuild(t, &before), mustBuild(t, &after))
			tc.check(t, rs)
			again := Releases(&before, &after, mustBuild(t, &before), mustBuild(t, &after))
			if a, b := mustJSON(t, rs), mustJSON(t, again); a != b {
				t.Errorf("Releases is not deterministic:\n%s\n%s", a, b)
			}
		})
	}
}

// TestOnMergeMarkdown checks the loud lines of the On merge section, and
// that it names config versions, never config values.
func TestOnMergeMarkdown(t *testing.T) {
	secret := map[string]any{"password": "ref:vault/s3cr3t"}
	before := placement.Model{Pipelines: []placement.PipelineDef{standard}, Boundaries: []placement.BoundaryRule{govRule}, Services: []placement.Service{
		{Name: "api", Pipeline: "standard", Config: map[string]any{"password": "ref:vault/old"}, Targets: targets("api", "prod/aws/us-gov/us-gov-west-1")},
		{Name: "legacy", Pipeline: "standard", Targets: targets("legacy", "prod/aws/public/us-east-1", "prod/aws/public/eu-west-1")},
	}}
	after := placement.Model{Pipelines: before.Pipelines, Boundaries: before.Boundaries, Services: []placement.Service{
		{Name: "api", Pipeline: "standard", Config: secret, Targets: targets("api", "prod/aws/us-gov/us-gov-west-1")},
	}}
	c := Diff(&before, &after, mustBuild(t, &before), mustBuild(t, &after))
	md := c.Markdown()
	_, section, ok := strings.Cut(md, "**On merge**")
	if !ok {
		t.Fatalf("no On merge section:\n%s", md)
	}
	section, _, _ = strings.Cut(section, "<details>")
	for _, s := range []string{
		"> ⚠️ **Removed services are decommissioned only with `--prune`: legacy (2 targets); without it apply removes nothing and exits 1**",
		"> ⚠️ **Releases on merge touch sovereign boundaries: aws/us-gov (api)**",
		"- **api**: config " + ConfigVersion(before.Services[0].Config) + " → " + ConfigVersion(secret) + " on every target (1)\n",
		"- **legacy**: service removed: 2 targets to decommission, only with --prune\n",
	} {
		if !strings.Contains(section, s) {
			t.Errorf("On merge lacks %q:\n%s", s, section)
		}
	}
	onMerge := mustJSON(t, c.OnMerge)
	for _, text := range []string{section, onMerge} {
		if strings.Contains(text, "vault") {
			t.Errorf("On merge shows a config value:\n%s", text)
		}
	}
}

func one(t *testing.T, rs []Release) Release {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("%d releases, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
