package pipelines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

// targets builds a service's targets from "env/cloud/boundary/region[/cell]" specs.
func targets(service string, specs ...string) []placement.Target {
	var out []placement.Target
	for _, s := range specs {
		f := strings.Split(s, "/")
		t := placement.Target{Service: service, Environment: f[0], Cloud: f[1], Boundary: f[2], Region: f[3]}
		if len(f) > 4 {
			t.Cell = f[4]
		}
		out = append(out, t)
	}
	return out
}

// render writes a plan compactly: one line per pipeline, each stage as
// name[region[/cell] …] with a ! when it needs approval.
func render(p *Plan) string {
	var b strings.Builder
	for _, pl := range p.Pipelines {
		fmt.Fprintf(&b, "%s %s/%s:", pl.Service, pl.Cloud, pl.Boundary)
		for _, st := range pl.Stages {
			var ids []string
			for _, t := range st.Targets {
				id := t.Region
				if t.Cell != "" {
					id += "/" + t.Cell
				}
				ids = append(ids, id)
			}
			mark := ""
			if st.Approval {
				mark = "!"
			}
			fmt.Fprintf(&b, " %s%s[%s]", st.Name, mark, strings.Join(ids, " "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

var standard = placement.PipelineDef{
	Name:     "standard",
	Rollback: "automatic",
	Stages: []placement.StageDef{
		{Name: "staging", Environment: "staging", MaxParallel: 1},
		{Name: "canary", Environment: "prod", Select: placement.Select{Limit: 1}, MaxParallel: 1, Bake: placement.Duration(30 * time.Minute)},
		{Name: "prod-eu", Environment: "prod", Select: placement.Select{Regions: []string{"geo:europe"}}, MaxParallel: 2},
		{Name: "prod", Environment: "prod", MaxParallel: 5, Bake: placement.Duration(time.Hour)},
	},
}

var govRule = placement.BoundaryRule{
	Cloud: "aws", Boundary: "us-gov", TaskQueue: "meridian-aws-us-gov",
	Approval: true, After: []string{"public"}, Lag: placement.Duration(24 * time.Hour),
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name  string
		model placement.Model
		want  string
	}{
		{
			name: "stages take what earlier stages left, by selector and limit",
			model: placement.Model{
				Pipelines:  []placement.PipelineDef{standard},
				Boundaries: []placement.BoundaryRule{govRule},
				Services: []placement.Service{{Name: "billing", Pipeline: "standard", Targets: targets("billing",
					"prod/aws/public/us-east-1", "prod/aws/public/eu-west-1", "prod/aws/public/eu-central-1", "prod/aws/public/us-west-2",
					"staging/aws/public/us-west-2", "prod/aws/us-gov/us-gov-west-1", "prod/aws/us-gov/us-gov-east-1",
				)}},
			},
			want: "billing aws/public: staging[us-west-2] canary[eu-central-1] prod-eu[eu-west-1] prod[us-east-1 us-west-2]\n" +
				"billing aws/us-gov: canary![us-gov-east-1] prod![us-gov-west-1]\n",
		},
		{
			name: "percent of the environment, rounded up, and the smaller of limit and percent",
			model: placement.Model{
				Pipelines: []placement.PipelineDef{{Name: "waves", Stages: []placement.StageDef{
					{Name: "wave1", Environment: "prod", Select: placement.Select{Percent: 25}},
					{Name: "wave2", Environment: "prod", Select: placement.Select{Percent: 50, Limit: 2}},
					{Name: "rest", Environment: "prod"},
				}}},
				Services: []placement.Service{{Name: "api", Pipeline: "waves", Targets: targets("api",
					"prod/gcp/public/us-central1/c", "prod/gcp/public/us-central1/a", "prod/gcp/public/us-central1/b",
					"prod/gcp/public/europe-west3/a", "prod/gcp/public/europe-west3/b",
					"prod/gcp/public/asia-east1/a", "prod/gcp/public/asia-east1/b",
					"prod/gcp/public/asia-east1/c", "prod/gcp/public/asia-east1/d", "prod/gcp/public/asia-east1/e",
				)}},
			},
			want: "api gcp/public: wave1[asia-east1/a asia-east1/b asia-east1/c] wave2[asia-east1/d asia-east1/e] rest[europe-west3/a europe-west3/b us-central1/a us-central1/b us-central1/c]\n",
		},
		{
			name: "a region selector qualified by cloud, and services sorted",
			model: placement.Model{
				Pipelines: []placement.PipelineDef{{Name: "p", Stages: []placement.StageDef{
					{Name: "first", Environment: "prod", Select: placement.Select{Regions: []string{"azure:westeurope", "country:US"}}},
					{Name: "then", Environment: "prod"},
				}}},
				Services: []placement.Service{
					{Name: "zeta", Pipeline: "p", Targets: targets("zeta", "prod/azure/public/northeurope", "prod/azure/public/westeurope", "prod/azure/public/eastus")},
					{Name: "alpha", Pipeline: "p", Targets: targets("alpha", "prod/gcp/public/europe-west1", "prod/azure/public/northeurope")},
				},
			},
			want: "alpha azure/public: then[northeurope]\n" +
				"alpha gcp/public: then[europe-west1]\n" +
				"zeta azure/public: first[eastus westeurope] then[northeurope]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Build(&tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(plan); got != tt.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestBuildBoundaryRules(t *testing.T) {
	m := placement.Model{
		Pipelines:  []placement.PipelineDef{standard},
		Boundaries: []placement.BoundaryRule{govRule},
		Services: []placement.Service{{Name: "billing", Pipeline: "standard", Targets: targets("billing",
			"prod/aws/us-gov/us-gov-west-1", "prod/azure/china/chinanorth3")}},
	}
	plan, err := Build(&m)
	if err != nil {
		t.Fatal(err)
	}
	gov, china := plan.Pipelines[0], plan.Pipelines[1]
	if gov.TaskQueue != "meridian-aws-us-gov" || gov.Lag != govRule.Lag || strings.Join(gov.After, ",") != "public" ||
		gov.Definition != "standard" || gov.Rollback != "automatic" {
		t.Errorf("us-gov pipeline does not carry its boundary's rules: %+v", gov)
	}
	if china.TaskQueue != "meridian-azure-china" || china.Lag != 0 || china.After != nil || china.Stages[0].Approval {
		t.Errorf("a boundary without rules should get the defaults: %+v", china)
	}
	if st := gov.Stages[0]; st.MaxParallel != 1 || st.Bake != standard.Stages[1].Bake {
		t.Errorf("stage settings not copied from the definition: %+v", st)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		model   placement.Model
		wantErr string
	}{
		{
			name:    "unknown pipeline",
			model:   placement.Model{Services: []placement.Service{{Name: "api", Pipeline: "nope", Targets: targets("api", "prod/aws/public/us-east-1")}}},
			wantErr: `service api: unknown pipeline "nope"`,
		},
		{
			name: "bad selector",
			model: placement.Model{
				Pipelines: []placement.PipelineDef{{Name: "p", Stages: []placement.StageDef{{Name: "s", Environment: "prod", Select: placement.Select{Regions: []string{"geo:atlantis"}}}}}},
				Services:  []placement.Service{{Name: "api", Pipeline: "p", Targets: targets("api", "prod/aws/public/us-east-1")}},
			},
			wantErr: `service api: pipeline p, stage s: region selector "geo:atlantis": unknown geography`,
		},
		{
			name: "target no stage takes",
			model: placement.Model{
				Pipelines: []placement.PipelineDef{{Name: "p", Stages: []placement.StageDef{{Name: "canary", Environment: "prod", Select: placement.Select{Limit: 1}}}}},
				Services:  []placement.Service{{Name: "api", Pipeline: "p", Targets: targets("api", "prod/aws/public/us-east-1", "prod/aws/public/us-west-2")}},
			},
			wantErr: "service api: pipeline p has no stage for target api/prod/aws/public/us-west-2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(&tt.model)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

// TestBuildDeterministic checks that the plan's JSON does not depend on the
// order of services, targets and definitions in the model.
func TestBuildDeterministic(t *testing.T) {
	base := placement.Model{
		Pipelines:  []placement.PipelineDef{standard, {Name: "fast", Stages: []placement.StageDef{{Name: "all", Environment: "prod"}, {Name: "stg", Environment: "staging"}}}},
		Boundaries: []placement.BoundaryRule{govRule},
	}
	for i := range 20 {
		pipeline := []string{"standard", "fast"}[i%2]
		name := fmt.Sprintf("svc-%02d", i)
		base.Services = append(base.Services, placement.Service{Name: name, Pipeline: pipeline, Targets: targets(name,
			"prod/aws/public/us-east-1", "prod/aws/public/eu-west-1", "prod/aws/public/eu-central-1/b", "prod/aws/public/eu-central-1/a",
			"staging/aws/public/us-west-2", "prod/aws/us-gov/us-gov-west-1", "prod/gcp/public/europe-west3", "staging/gcp/public/us-central1")})
	}
	want := planJSON(t, &base)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		m := base
		m.Services = append([]placement.Service(nil), base.Services...)
		rng.Shuffle(len(m.Services), func(i, j int) { m.Services[i], m.Services[j] = m.Services[j], m.Services[i] })
		for i := range m.Services {
			ts := append([]placement.Target(nil), m.Services[i].Targets...)
			rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
			m.Services[i].Targets = ts
		}
		m.Pipelines = []placement.PipelineDef{base.Pipelines[1], base.Pipelines[0]}
		if got := planJSON(t, &m); !bytes.Equal(got, want) {
			t.Fatalf("plan changed with the model's order:\n%s\nwant:\n%s", got, want)
		}
	}
}

func planJSON(t *testing.T, m *placement.Model) []byte {
	t.Helper()
	plan, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoundaryApproversReachItsStages(t *testing.T) {
	rule := placement.BoundaryRule{Cloud: "aws", Boundary: "us-gov", Approvers: 2, AllowedApprovers: []string{"alice", "bob"}}
	plan, err := Build(&placement.Model{
		Pipelines:  []placement.PipelineDef{standard},
		Boundaries: []placement.BoundaryRule{rule},
		Services: []placement.Service{{Name: "billing", Pipeline: "standard", Targets: targets("billing",
			"prod/aws/public/us-east-1", "prod/aws/us-gov/us-gov-west-1", "prod/aws/us-gov/us-gov-east-1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range plan.Pipelines {
		for _, st := range pl.Stages {
			gov := pl.Boundary == "us-gov"
			if st.Approval != gov || (st.Approvers == 2) != gov || (len(st.AllowedApprovers) == 2) != gov {
				t.Errorf("%s/%s stage %s: approval %v, approvers %d, allowed %v", pl.Cloud, pl.Boundary, st.Name, st.Approval, st.Approvers, st.AllowedApprovers)
			}
		}
	}
}
