package driver

import "testing"

func TestMetricGateHealthyWhen(t *testing.T) {
	for _, tc := range []struct {
		op            string
		value         float64
		healthy, okOp bool
	}{
		{"<", 0.5, true, true}, {"<", 1, false, true},
		{"<=", 1, true, true}, {"<=", 1.5, false, true},
		{">", 1.5, true, true}, {">", 1, false, true},
		{">=", 1, true, true}, {">=", 0.5, false, true},
		{"==", 1, false, false}, {"", 1, false, false},
	} {
		healthy, ok := MetricGate{Op: tc.op, Threshold: 1}.HealthyWhen()
		if ok != tc.okOp {
			t.Errorf("op %q: ok = %v, want %v", tc.op, ok, tc.okOp)
			continue
		}
		if ok && healthy(tc.value) != tc.healthy {
			t.Errorf("%g %s 1: healthy = %v, want %v", tc.value, tc.op, !tc.healthy, tc.healthy)
		}
	}
}
