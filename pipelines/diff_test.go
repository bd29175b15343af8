package pipelines

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

func TestDiff(t *testing.T) {
	before := placement.Model{
		Pipelines:  []placement.PipelineDef{standard},
		Boundaries: []placement.BoundaryRule{govRule},
		Services: []placement.Service{
			{Name: "billing", Owner: "payments", Pipeline: "standard", Artifact: placement.Artifact{Image: "r.example.com/billing", Version: "1.0"},
				Config:  map[string]any{"db": map[string]any{"pool": 10, "host": "db"}, "mode": "a"},
				Targets: targets("billing", "prod/aws/public/us-east-1", "prod/aws/public/eu-west-1", "staging/aws/public/us-west-2")},
			{Name: "gone", Owner: "x", Pipeline: "standard", Targets: targets("gone", "prod/aws/public/us-east-1")},
			{Name: "same", Owner: "x", Pipeline: "standard", Targets: targets("same", "prod/aws/us-gov/us-gov-west-1")},
		},
	}
	after := placement.Model{
		Pipelines:  []placement.PipelineDef{standard},
		Boundaries: []placement.BoundaryRule{govRule},
		Services: []placement.Service{
			{Name: "billing", Owner: "payments", Pipeline: "standard", Artifact: placement.Artifact{Image: "r.example.com/billing", Version: "1.1"},
				Config:  map[string]any{"db": map[string]any{"pool": 20, "host": "db"}, "mode": "a"},
				Targets: targets("billing", "prod/aws/public/us-east-1", "prod/aws/public/eu-central-1", "staging/aws/public/us-west-2", "prod/aws/us-gov/us-gov-west-1")},
			{Name: "new", Owner: "y", Pipeline: "standard", Targets: targets("new", "prod/gcp/public/europe-west3")},
			{Name: "same", Owner: "x", Pipeline: "standard", Targets: targets("same", "prod/aws/us-gov/us-gov-west-1")},
		},
	}
	c := Diff(&before, &after, mustBuild(t, &before), mustBuild(t, &after))

	want := Summary{ServicesAdded: 1, ServicesRemoved: 1, ServicesChanged: 3, TargetsAdded: 3, TargetsRemoved: 2, PipelinesChanged: 4, Sovereign: []string{"aws/us-gov"}}
	if got := c.Summary; !summaryEqual(got, want) {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
	if names := serviceNames(c); names != "billing:changed gone:removed new:added" {
		t.Errorf("services = %s", names)
	}
	billing := c.Services[0]
	if got := fieldsText(billing.Fields) + " " + fieldsText(billing.Config); got != "artifact.version:1.0>1.1 config.db.pool:10>20" {
		t.Errorf("billing fields = %s", got)
	}
	if got := strings.Join(billing.Boundaries, " "); got != "aws/public aws/us-gov" {
		t.Errorf("billing boundaries = %s", got)
	}
	// eu-central-1 sorts first among prod regions: it takes the canary
	// that eu-west-1, now removed, had.
	pub := billing.Pipelines[0]
	if pub.Kind != Changed || pub.Cloud != "aws" || pub.Boundary != "public" {
		t.Fatalf("first pipeline change = %+v", pub)
	}
	var stages []string
	for _, st := range pub.Stages {
		stages = append(stages, st.Name+":"+st.Kind+":+"+strings.Join(st.TargetsAdded, ",")+":-"+strings.Join(st.TargetsRemoved, ","))
	}
	if got := strings.Join(stages, " "); got != "canary:changed:+eu-central-1:-eu-west-1" {
		t.Errorf("aws/public stages = %s", got)
	}
	if gov := billing.Pipelines[1]; gov.Kind != Added || gov.Boundary != "us-gov" || len(gov.Stages) != 1 || gov.Stages[0].Kind != Added {
		t.Errorf("us-gov pipeline change = %+v", gov)
	}

	md := c.Markdown()
	for _, s := range []string{
		"### Meridian: 3 services changed (1 added, 1 removed) · targets +3 / −2 · 4 pipelines changed",
		"> ⚠️ **Sovereign boundary touched: aws/us-gov**",
		"<summary><b>billing</b> changed: +2 / −1 targets, 2 pipelines</summary>",
		"| config.db.pool | `10` | `20` |",
		"  - stage `canary` (prod) changed; +eu-central-1; −eu-west-1",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

func TestDiffStageSettings(t *testing.T) {
	before := placement.Model{Pipelines: []placement.PipelineDef{standard}, Services: []placement.Service{
		{Name: "api", Pipeline: "standard", Targets: targets("api", "prod/aws/public/us-east-1", "prod/aws/public/us-west-2")},
	}}
	slower := standard
	slower.Stages = slices.Clone(standard.Stages)
	slower.Stages[1].Bake = placement.Duration(2 * time.Hour)
	slower.Stages[3].Approval = true
	after := before
	after.Pipelines = []placement.PipelineDef{slower}

	c := Diff(&before, &after, mustBuild(t, &before), mustBuild(t, &after))
	if c.Summary.TargetsAdded+c.Summary.TargetsRemoved != 0 || len(c.Summary.Sovereign) != 0 || c.Summary.PipelinesChanged != 1 {
		t.Errorf("summary = %+v", c.Summary)
	}
	var got []string
	for _, st := range c.Services[0].Pipelines[0].Stages {
		got = append(got, st.Name+" "+fieldsText(st.Fields))
	}
	if s := strings.Join(got, "; "); s != "canary bake:30m>2h; prod approval:false>true" {
		t.Errorf("stage changes = %s", s)
	}
}

func TestDiffNoChange(t *testing.T) {
	m := placement.Model{Pipelines: []placement.PipelineDef{standard}, Boundaries: []placement.BoundaryRule{govRule}, Services: []placement.Service{
		{Name: "api", Owner: "o", Pipeline: "standard", Config: map[string]any{"a": 1}, Targets: targets("api", "prod/aws/us-gov/us-gov-west-1")},
	}}
	c := Diff(&m, &m, mustBuild(t, &m), mustBuild(t, &m))
	if !c.Empty() || c.Summary.ServicesChanged != 0 || len(c.Summary.Sovereign) != 0 {
		t.Errorf("diff of a model with itself = %+v", c)
	}
	if md := c.Markdown(); md != "### Meridian: no change to the plan\n" {
		t.Errorf("markdown = %q", md)
	}
}

func TestDiffBoundaryRules(t *testing.T) {
	before := placement.Model{Boundaries: []placement.BoundaryRule{govRule}}
	stricter := govRule
	stricter.Lag = placement.Duration(48 * time.Hour)
	stricter.Registries = []string{"registry.gov.example.com"}
	after := placement.Model{Boundaries: []placement.BoundaryRule{stricter}}
	c := Diff(&before, &after, &Plan{}, &Plan{})
	if len(c.Boundaries) != 1 || fieldsText(c.Boundaries[0].Fields) != "lag:24h>48h registries:>registry.gov.example.com" {
		t.Fatalf("boundary changes = %+v", c.Boundaries)
	}
	if strings.Join(c.Summary.Sovereign, ",") != "aws/us-gov" || c.Empty() {
		t.Errorf("a boundary rule change must touch its boundary: %+v", c.Summary)
	}
}

func mustBuild(t *testing.T, m *placement.Model) *Plan {
	t.Helper()
	p, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func summaryEqual(a, b Summary) bool {
	return slices.Equal(a.Sovereign, b.Sovereign) &&
		[6]int{a.ServicesAdded, a.ServicesRemoved, a.ServicesChanged, a.TargetsAdded, a.TargetsRemoved, a.PipelinesChanged} ==
			[6]int{b.ServicesAdded, b.ServicesRemoved, b.ServicesChanged, b.TargetsAdded, b.TargetsRemoved, b.PipelinesChanged}
}

func serviceNames(c *Change) string {
	var out []string
	for _, s := range c.Services {
		out = append(out, s.Service+":"+s.Kind)
	}
	return strings.Join(out, " ")
}

func fieldsText(fs []FieldChange) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Field+":"+f.Old+">"+f.New)
	}
	return strings.Join(out, " ")
}

// TestDiffSecretRefs: a secret reference in config is one leaf of the
// diff, shown as the name it references ("secretRef NAME"), in the
// markdown comment and in JSON alike; a diff never descends into it.
func TestDiffSecretRefs(t *testing.T) {
	ref := func(name string) map[string]any { return map[string]any{"secretRef": name} }
	svc := func(config map[string]any) placement.Model {
		return placement.Model{Pipelines: []placement.PipelineDef{standard}, Services: []placement.Service{
			{Name: "billing", Owner: "payments", Pipeline: "standard", Config: config, Targets: targets("billing", "prod/aws/public/us-east-1")},
		}}
	}
	before := svc(map[string]any{"db": map[string]any{"password": ref("billing/db-password"), "user": "billing"}, "env": []any{ref("billing/env")}})
	after := svc(map[string]any{"db": map[string]any{"password": ref("billing/db-password-2"), "user": "billing"}, "apiToken": ref("billing/api-token"), "env": []any{ref("billing/env-2")}})
	c := Diff(&before, &after, mustBuild(t, &before), mustBuild(t, &after))
	if len(c.Services) != 1 {
		t.Fatalf("services = %s", serviceNames(c))
	}
	const want = `config.apiToken:>secretRef billing/api-token config.db.password:secretRef billing/db-password>secretRef billing/db-password-2 config.env:[{"secretRef":"billing/env"}]>[{"secretRef":"billing/env-2"}]`
	if got := fieldsText(c.Services[0].Config); got != want {
		t.Errorf("config changes = %s\nwant             %s", got, want)
	}
	md := c.Markdown()
	for _, s := range []string{
		"| config.apiToken | — | `secretRef billing/api-token` |",
		"| config.db.password | `secretRef billing/db-password` | `secretRef billing/db-password-2` |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md+mustJSON(t, c), "password.secretRef") {
		t.Errorf("the diff descends into a secret reference:\n%s", md)
	}
}
