package pipelines_test

import (
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
)

func TestHolding(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pub := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1"}
	gov := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1"}
	govOnly := placement.FreezeScope{Boundaries: []string{"us-gov"}}
	short := placement.Freeze{Name: "short", Reason: "maintenance", Start: now.Add(-time.Hour), End: now.Add(time.Hour), Scope: govOnly}
	long := placement.Freeze{Name: "long", Reason: "audit", Start: now.Add(-time.Hour), End: now.Add(48 * time.Hour), Scope: govOnly}
	lifted := placement.Freeze{Name: "incident", Reason: "INC-7", Who: "alice", Start: now.Add(-time.Minute), Scope: govOnly}
	past := placement.Freeze{Name: "past", Reason: "over", Start: now.Add(-48 * time.Hour), End: now.Add(-time.Hour)}

	if _, ok := pipelines.Holding([]placement.Freeze{short, long, past}, []placement.Target{pub}, now); ok {
		t.Error("a us-gov freeze holds a public target")
	}
	h, ok := pipelines.Holding([]placement.Freeze{short, long, past}, []placement.Target{pub, gov}, now)
	if !ok || h.Freeze.Name != "long" || !h.Until.Equal(now.Add(48*time.Hour)) {
		t.Errorf("got %+v, %v; want long, held 48h", h, ok)
	}
	h, ok = pipelines.Holding([]placement.Freeze{short, long, lifted}, []placement.Target{gov}, now)
	if !ok || h.Freeze.Name != "incident" || !h.Until.IsZero() {
		t.Errorf("got %+v, %v; want the freeze held until lifted", h, ok)
	}
	if got, want := h.Reason("prod"), "frozen by incident (declared by alice) before stage prod until it is lifted: INC-7"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if got, want := (pipelines.Hold{Freeze: short, Until: short.End}).Reason("prod"), "frozen by short before stage prod until 2026-12-03T13:00:00Z: maintenance"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}

	pls := []pipelines.Pipeline{
		{Service: "billing", Cloud: "aws", Boundary: "public", Stages: []pipelines.Stage{{Name: "prod", Targets: []placement.Target{pub}}}},
		{Service: "billing", Cloud: "aws", Boundary: "us-gov", Stages: []pipelines.Stage{{Name: "prod", Targets: []placement.Target{gov}}}},
	}
	held := pipelines.FrozenStages(pls, []placement.Freeze{short}, now)
	if len(held) != 1 || held[0].Boundary != "us-gov" || held[0].Stage != "prod" || held[0].Targets != 1 {
		t.Errorf("frozen stages %+v", held)
	}
}
