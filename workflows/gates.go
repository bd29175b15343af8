package workflows

import (
	"cmp"
	"fmt"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Gate assessment is pure, in the manner of argo-rollouts' analysis: a gate
// fails once it has FailureLimit unhealthy observations (default 1) or
// ErrorLimit consecutive evaluation errors (default 4). Unknown observations
// (no data yet) neither fail nor pass a gate; they only reset the error run.

// defaultErrorLimit is argo-rollouts' default consecutiveErrorLimit.
const defaultErrorLimit = 4

// GateTally counts a gate's observations on one target.
type GateTally struct {
	Unhealthy         int
	ConsecutiveErrors int
	// Last is the message of the last failing observation or error.
	Last string
}

// Observe returns the tally with o counted.
func (t GateTally) Observe(o GateObservation) GateTally {
	switch {
	case o.Error != "":
		t.ConsecutiveErrors++
		t.Last = o.Error
		return t
	case o.Health == driver.Unhealthy:
		t.Unhealthy++
		t.Last = o.Message
	}
	t.ConsecutiveErrors = 0
	return t
}

// AssessGate reports why gate g has failed given its tally, or "" while it holds.
func AssessGate(g placement.Gate, t GateTally) string {
	failureLimit := max(g.FailureLimit, 1)
	errorLimit := g.ErrorLimit
	if errorLimit <= 0 {
		errorLimit = defaultErrorLimit
	}
	switch {
	case t.Unhealthy >= failureLimit:
		return fmt.Sprintf("gate %s unhealthy %d time(s) (limit %d): %s", gateName(g), t.Unhealthy, failureLimit, t.Last)
	case t.ConsecutiveErrors >= errorLimit:
		return fmt.Sprintf("gate %s could not be evaluated %d times in a row (limit %d): %s", gateName(g), t.ConsecutiveErrors, errorLimit, t.Last)
	}
	return ""
}

// gateTallies accumulates observations per (target, gate).
type gateTallies map[string]GateTally

// observe counts obs and returns the first failure, in the order of obs
// (which is deterministic: targets then gates, as the activity returns them).
func (ts gateTallies) observe(gates []placement.Gate, obs []GateObservation) string {
	byName := map[string]placement.Gate{}
	for _, g := range gates {
		byName[gateName(g)] = g
	}
	failure := ""
	for _, o := range obs {
		key := o.Target + "\x00" + o.Gate
		ts[key] = ts[key].Observe(o)
		if why := AssessGate(byName[o.Gate], ts[key]); why != "" && failure == "" {
			failure = o.Target + ": " + why
		}
	}
	return failure
}

// gateName is the gate's name, or a name derived from what it checks.
func gateName(g placement.Gate) string {
	switch {
	case g.Name != "":
		return g.Name
	case g.HTTP != nil:
		return "http:" + g.HTTP.Path
	case g.Alarm != nil:
		return "alarm:" + g.Alarm.Name
	case g.Metric != nil:
		return "metric:" + g.Metric.Name
	}
	return "gate"
}

// gateInterval is how often gates are evaluated during bake: the shortest
// gate Interval, one minute when none is set.
func gateInterval(gates []placement.Gate) placement.Duration {
	var shortest placement.Duration
	for _, g := range gates {
		if g.Interval > 0 && (shortest == 0 || g.Interval < shortest) {
			shortest = g.Interval
		}
	}
	return cmp.Or(shortest, placement.Duration(time.Minute))
}
