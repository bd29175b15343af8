package workflows

import (
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

func TestAssessGate(t *testing.T) {
	healthy := GateObservation{Health: driver.Healthy}
	unhealthy := GateObservation{Health: driver.Unhealthy, Message: "5xx rate 12%"}
	unknown := GateObservation{Health: driver.HealthUnknown}
	failed := GateObservation{Error: "timeout"}
	tests := []struct {
		name string
		gate placement.Gate
		obs  []GateObservation
		want string // substring of the failure; "" holds
	}{
		{"healthy holds", placement.Gate{Name: "g"}, []GateObservation{healthy, healthy}, ""},
		{"one failure fails by default", placement.Gate{Name: "g"}, []GateObservation{healthy, unhealthy}, "unhealthy 1 time(s) (limit 1): 5xx rate 12%"},
		{"failure limit tolerates", placement.Gate{Name: "g", FailureLimit: 3}, []GateObservation{unhealthy, healthy, unhealthy}, ""},
		{"failure limit reached", placement.Gate{Name: "g", FailureLimit: 2}, []GateObservation{unhealthy, healthy, unhealthy}, "unhealthy 2 time(s)"},
		{"unknown neither fails nor passes", placement.Gate{Name: "g"}, []GateObservation{unknown, unknown, unknown, unknown, unknown}, ""},
		{"errors below the default limit", placement.Gate{Name: "g"}, []GateObservation{failed, failed, failed}, ""},
		{"four consecutive errors fail by default", placement.Gate{Name: "g"}, []GateObservation{failed, failed, failed, failed}, "could not be evaluated 4 times"},
		{"an observation resets the error run", placement.Gate{Name: "g", ErrorLimit: 2}, []GateObservation{failed, unknown, failed, healthy, failed}, ""},
		{"error limit reached", placement.Gate{Name: "g", ErrorLimit: 2}, []GateObservation{healthy, failed, failed}, "could not be evaluated 2 times in a row (limit 2): timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tally GateTally
			for _, o := range tt.obs {
				tally = tally.Observe(o)
			}
			got := AssessGate(tt.gate, tally)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("AssessGate = %q, want %q", got, tt.want)
			}
		})
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
		names = append(names, gateName(g))
	}
	if got := strings.Join(names, ","); got != "http:/healthz,alarm:5xx,latency" {
		t.Errorf("names %s", got)
	}
	if got := gateInterval(gates); got != placement.Duration(30e9) {
		t.Errorf("interval %s, want the shortest", got)
	}
	if got := gateInterval(nil); got != placement.Duration(60e9) {
		t.Errorf("default interval %s, want 1m", got)
	}
}
