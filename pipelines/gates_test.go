package pipelines

import (
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
)

func TestAssessGate(t *testing.T) {
	healthy := GateObservation{Health: Healthy}
	unhealthy := GateObservation{Health: Unhealthy, Message: "5xx rate 12%"}
	unknown := GateObservation{Health: HealthUnknown}
	failed := GateObservation{Error: "timeout"}
	holds := func(t *testing.T, v GateVerdict) {
		if v.Phase != GateHolding || v.Reason != "" {
			t.Errorf("verdict %+v, want holding", v)
		}
	}
	inconclusive := func(t *testing.T, v GateVerdict) {
		if v.Phase != GateInconclusive || v.Reason != "" {
			t.Errorf("verdict %+v, want inconclusive", v)
		}
	}
	fails := func(reason string) func(*testing.T, GateVerdict) {
		return func(t *testing.T, v GateVerdict) {
			if v.Phase != GateFailed || !strings.Contains(v.Reason, reason) {
				t.Errorf("verdict %+v, want failed with %q", v, reason)
			}
		}
	}
	tests := []struct {
		name   string
		gate   placement.Gate
		obs    []GateObservation
		verify func(*testing.T, GateVerdict)
	}{
		{"healthy holds", placement.Gate{Name: "g"}, []GateObservation{healthy, healthy}, holds},
		{"one failure fails by default", placement.Gate{Name: "g"}, []GateObservation{healthy, unhealthy}, fails("gate g unhealthy 1 time(s) (limit 1): 5xx rate 12%")},
		{"failure limit tolerates", placement.Gate{Name: "g", FailureLimit: 3}, []GateObservation{unhealthy, healthy, unhealthy}, inconclusive},
		{"failure limit reached", placement.Gate{Name: "g", FailureLimit: 2}, []GateObservation{unhealthy, healthy, unhealthy}, fails("unhealthy 2 time(s)")},
		{"unknown neither fails nor holds", placement.Gate{Name: "g"}, []GateObservation{unknown, unknown, unknown, unknown, unknown}, inconclusive},
		{"errors below the default limit", placement.Gate{Name: "g"}, []GateObservation{failed, failed, failed}, inconclusive},
		{"four consecutive errors fail by default", placement.Gate{Name: "g"}, []GateObservation{failed, failed, failed, failed}, fails("could not be evaluated 4 times")},
		{"an observation resets the error run", placement.Gate{Name: "g", ErrorLimit: 2}, []GateObservation{failed, unknown, failed, healthy, failed}, inconclusive},
		{"error limit reached", placement.Gate{Name: "g", ErrorLimit: 2}, []GateObservation{healthy, failed, failed}, fails("could not be evaluated 2 times in a row (limit 2): timeout")},
		{"success limit not reached", placement.Gate{Name: "g", SuccessLimit: 3}, []GateObservation{healthy, healthy}, inconclusive},
		{"success limit reached", placement.Gate{Name: "g", SuccessLimit: 3}, []GateObservation{healthy, healthy, healthy}, holds},
		{"unknown breaks the healthy run", placement.Gate{Name: "g", SuccessLimit: 2}, []GateObservation{healthy, unknown, healthy}, inconclusive},
		{"an error breaks the healthy run", placement.Gate{Name: "g", SuccessLimit: 2}, []GateObservation{healthy, healthy, failed}, inconclusive},
		{"holds again after a tolerated failure", placement.Gate{Name: "g", FailureLimit: 2, SuccessLimit: 2}, []GateObservation{unhealthy, healthy, healthy}, holds},
		{"a failure outweighs a healthy run", placement.Gate{Name: "g", SuccessLimit: 1}, []GateObservation{unhealthy, healthy, healthy}, fails("unhealthy 1 time(s)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tally GateTally
			for _, o := range tt.obs {
				tally = tally.Observe(o)
			}
			tt.verify(t, AssessGate(tt.gate, tally))
		})
	}
}

func TestGateTallies(t *testing.T) {
	a := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "us-east-1"}
	b := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "aws", Region: "eu-west-1"}
	gates := []placement.Gate{{Name: "tripwire"}, {Name: "steady", SuccessLimit: 2}}
	round := func(ha, hb Health) []GateObservation {
		var obs []GateObservation
		for _, o := range []struct {
			t placement.Target
			h Health
		}{{a, ha}, {b, hb}} {
			for _, g := range gates {
				obs = append(obs, GateObservation{Target: o.t.ID(), Gate: g.Name, Health: o.h, Message: "5xx"})
			}
		}
		return obs
	}
	ts := GateTallies{}
	targets := []placement.Target{a, b}
	if got := ts.Unheld(gates, targets); !strings.Contains(got, a.ID()+": gate steady has 0 of 2") {
		t.Errorf("before any round: Unheld = %q, want target a's steady gate", got)
	}
	if why := ts.Observe(gates, round(Healthy, HealthUnknown)); why != "" {
		t.Fatalf("round 1 failed: %s", why)
	}
	if got := ts.Unheld(gates, targets); !strings.Contains(got, a.ID()+": gate steady has 1 of 2") {
		t.Errorf("after one healthy round: Unheld = %q", got)
	}
	ts.Observe(gates, round(Healthy, Healthy))
	if got := ts.Unheld(gates, targets); !strings.Contains(got, b.ID()+": gate steady has 1 of 2") {
		t.Errorf("a holds, b does not: Unheld = %q", got)
	}
	ts.Observe(gates, round(Healthy, Healthy))
	if got := ts.Unheld(gates, targets); got != "" {
		t.Errorf("every gate holds: Unheld = %q", got)
	}
	if why := ts.Observe(gates, round(Healthy, Unhealthy)); why != b.ID()+": gate tripwire unhealthy 1 time(s) (limit 1): 5xx" {
		t.Errorf("first failure = %q, want b's tripwire, in the order of the observations", why)
	}
}

func TestGateWaitRounds(t *testing.T) {
	if got := GateWaitRounds([]placement.Gate{{Name: "a"}, {Name: "b", SuccessLimit: 1}}); got != 0 {
		t.Errorf("success limits of 1: %d rounds, want 0 (no wait)", got)
	}
	if got := GateWaitRounds([]placement.Gate{{Name: "a", SuccessLimit: 2}, {Name: "b", SuccessLimit: 3}}); got != 6 {
		t.Errorf("largest success limit 3: %d rounds, want 6", got)
	}
}

func TestGateNamesAndInterval(t *testing.T) {
	gates := []placement.Gate{
		{HTTP: &placement.HTTPGate{Path: "/healthz"}, Interval: placement.Duration(90e9)},
		{Alarm: &placement.AlarmGate{Name: "5xx"}, Interval: placement.Duration(30e9)},
		{Name: "latency", Metric: &placement.MetricGate{Name: "p99"}},
	}
	var names []string
	for _, g := range gates {
		names = append(names, GateName(g))
	}
	if got := strings.Join(names, ","); got != "http:/healthz,alarm:5xx,latency" {
		t.Errorf("names %s", got)
	}
	if got := GateInterval(gates); got != placement.Duration(30e9) {
		t.Errorf("interval %s, want the shortest", got)
	}
	if got := GateInterval(nil); got != placement.Duration(60e9) {
		t.Errorf("default interval %s, want 1m", got)
	}
}
