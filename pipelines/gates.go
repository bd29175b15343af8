package pipelines

import (
	"cmp"
	"fmt"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

// Gate assessment is pure, in the manner of argo-rollouts' analysis
// (assessMetricStatus): a gate's observations on one target are counted in
// a GateTally, and AssessGate turns the tally into a GateVerdict. A gate
//
//   - fails once it has FailureLimit unhealthy observations (default 1) or
//     ErrorLimit consecutive evaluation errors (a spec's default is 3, set
//     by the CUE schema; a Gate left at 0 gets defaultErrorLimit, 4);
//   - holds once its last SuccessLimit observations (default 1) were all
//     healthy;
//   - is inconclusive otherwise. An unknown observation (no data yet) or
//     an error breaks the healthy run; an unknown observation or a healthy
//     one ends the error run.
//
// A stage never passes with a failed gate. It waits past its bake for a
// gate that is still inconclusive only when that gate asks for more than
// one healthy observation (SuccessLimit > 1; see GateWaitRounds): with the
// default of 1 a gate fails a stage but never holds it back.

// defaultErrorLimit is argo-rollouts' default consecutiveErrorLimit.
const defaultErrorLimit = 4

// Health is what one observation of a gate saw.
type Health string

const (
	Healthy   Health = "healthy"
	Unhealthy Health = "unhealthy"
	// HealthUnknown means there is no data yet (an alarm with insufficient data).
	HealthUnknown Health = "unknown"
)

// GateObservation is one gate evaluated on one target.
type GateObservation struct {
	Target  string `json:"target"`
	Gate    string `json:"gate"`
	Health  Health `json:"health,omitempty"`
	Error   string `json:"error,omitempty"` // no observation: the evaluation failed
	Message string `json:"message,omitempty"`
}

// GateTally counts a gate's observations on one target.
type GateTally struct {
	Unhealthy          int
	ConsecutiveErrors  int
	ConsecutiveHealthy int
	// Last is the message of the last failing observation or error.
	Last string
}

// Observe returns the tally with o counted.
func (t GateTally) Observe(o GateObservation) GateTally {
	if o.Health != Healthy || o.Error != "" {
		t.ConsecutiveHealthy = 0
	}
	switch {
	case o.Error != "":
		t.ConsecutiveErrors++
		t.Last = o.Error
		return t
	case o.Health == Healthy:
		t.ConsecutiveHealthy++
	case o.Health == Unhealthy:
		t.Unhealthy++
		t.Last = o.Message
	}
	t.ConsecutiveErrors = 0
	return t
}

// GatePhase is where a gate stands on one target.
type GatePhase string

const (
	// GateInconclusive: neither limit reached, not enough healthy observations in a row.
	GateInconclusive GatePhase = "inconclusive"
	// GateHolding: the last SuccessLimit observations were healthy.
	GateHolding GatePhase = "holding"
	// GateFailed: FailureLimit unhealthy observations or ErrorLimit errors in a row.
	GateFailed GatePhase = "failed"
)

// GateVerdict is the assessment of a gate on one target.
type GateVerdict struct {
	Phase GatePhase
	// Reason says why the gate failed (GateFailed only).
	Reason string
}

// AssessGate assesses gate g given its tally on one target.
func AssessGate(g placement.Gate, t GateTally) GateVerdict {
	failureLimit := max(g.FailureLimit, 1)
	errorLimit := g.ErrorLimit
	if errorLimit <= 0 {
		errorLimit = defaultErrorLimit
	}
	switch {
	case t.Unhealthy >= failureLimit:
		return GateVerdict{Phase: GateFailed, Reason: fmt.Sprintf("gate %s unhealthy %d time(s) (limit %d): %s", GateName(g), t.Unhealthy, failureLimit, t.Last)}
	case t.ConsecutiveErrors >= errorLimit:
		return GateVerdict{Phase: GateFailed, Reason: fmt.Sprintf("gate %s could not be evaluated %d times in a row (limit %d): %s", GateName(g), t.ConsecutiveErrors, errorLimit, t.Last)}
	case t.ConsecutiveHealthy >= successLimit(g):
		return GateVerdict{Phase: GateHolding}
	}
	return GateVerdict{Phase: GateInconclusive}
}

// successLimit is how many healthy observations in a row make g hold.
func successLimit(g placement.Gate) int { return max(g.SuccessLimit, 1) }

// GateTallies tallies observations per (target, gate).
type GateTallies map[string]GateTally

func tallyKey(target, gate string) string { return target + "\x00" + gate }

// Observe counts obs and returns the first failure, "<target>: <reason>",
// in the order of obs (deterministic: targets then gates, as the
// activities return them), or "" when no gate has failed.
func (ts GateTallies) Observe(gates []placement.Gate, obs []GateObservation) string {
	byName := map[string]placement.Gate{}
	for _, g := range gates {
		byName[GateName(g)] = g
	}
	failure := ""
	for _, o := range obs {
		key := tallyKey(o.Target, o.Gate)
		ts[key] = ts[key].Observe(o)
		if v := AssessGate(byName[o.Gate], ts[key]); v.Phase == GateFailed && failure == "" {
			failure = o.Target + ": " + v.Reason
		}
	}
	return failure
}

// Unheld names the first (target, gate), targets then gates, where a gate
// that asks for more than one healthy observation does not hold yet, and
// how far it got; "" when every such gate holds on every target.
func (ts GateTallies) Unheld(gates []placement.Gate, targets []placement.Target) string {
	for _, t := range targets {
		for _, g := range gates {
			if successLimit(g) == 1 {
				continue
			}
			tally := ts[tallyKey(t.ID(), GateName(g))]
			if AssessGate(g, tally).Phase != GateHolding {
				return fmt.Sprintf("%s: gate %s has %d of %d healthy observations in a row", t.ID(), GateName(g), tally.ConsecutiveHealthy, successLimit(g))
			}
		}
	}
	return ""
}

// GateWaitRounds bounds how many gate rounds past its bake a stage waits
// for its gates to hold: twice the largest SuccessLimit above 1, so that a
// gate may lose its healthy run once and still hold. 0 when no gate asks
// for more than one healthy observation: the stage then never waits.
func GateWaitRounds(gates []placement.Gate) int {
	most := 1
	for _, g := range gates {
		most = max(most, successLimit(g))
	}
	if most == 1 {
		return 0
	}
	return 2 * most
}

// GateName is the gate's name, or a name derived from what it checks.
func GateName(g placement.Gate) string {
	switch {
	case g.Name != "":
		return g.Name
	case g.HTTP != nil:
		return "http:" + g.HTTP.Path
	case g.Alarm != nil:
		return "alarm:" + g.Alarm.Name
	case g.Metric != nil:
		return "metric:" + g.Metric.Name
	case g.Workload != nil:
		return "workload"
	}
	return "gate"
}

// GateInterval is how often gates are evaluated during bake: the shortest
// gate Interval, one minute when none is set.
func GateInterval(gates []placement.Gate) placement.Duration {
	var shortest placement.Duration
	for _, g := range gates {
		if g.Interval > 0 && (shortest == 0 || g.Interval < shortest) {
			shortest = g.Interval
		}
	}
	return cmp.Or(shortest, placement.Duration(time.Minute))
}
