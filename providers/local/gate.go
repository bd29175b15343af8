package local

import (
	"context"
	"fmt"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// EvaluateGate probes an HTTP gate's path on every instance of the target:
// healthy when all answer the expected status, unhealthy when any does not
// (a crashed instance included), unknown when the target has no instances.
// Value is the share of instances that passed. Alarm and metric gates are
// not evaluated locally.
func (p *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	if err := ctx.Err(); err != nil {
		return driver.Observation{}, err
	}
	if g.HTTP == nil {
		return driver.Observation{}, fmt.Errorf("gate %q on %s: the local provider evaluates only http gates: %w", g.Name, t.ID(), errInvalid)
	}
	want := g.HTTP.Status
	if want == 0 {
		want = 200
	}
	p.mu.Lock()
	var ins []instance
	if ts := p.targetLocked(t, false); ts != nil {
		for _, in := range ts.Instances {
			ins = append(ins, *in)
		}
	}
	p.mu.Unlock()
	if len(ins) == 0 {
		return driver.Observation{Health: driver.HealthUnknown, Message: "no instances to probe"}, nil
	}
	ok, why := p.probeAll(ctx, ins, g.HTTP.Path, want)
	if err := ctx.Err(); err != nil {
		return driver.Observation{}, err
	}
	obs := driver.Observation{Health: driver.Healthy, Value: float64(ok) / float64(len(ins)),
		Message: fmt.Sprintf("%d/%d instances answered %d on %s", ok, len(ins), want, g.HTTP.Path)}
	if ok < len(ins) {
		obs.Health, obs.Message = driver.Unhealthy, obs.Message+"; "+why
	}
	return obs, nil
}
