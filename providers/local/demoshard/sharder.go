package demoshard

import (
	"context"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/httpdrain"
)

// Sharder is the demo fleet's Sharder driver: it speaks the HTTP drain
// protocol to the instance and then has the target's Assigner reconcile at
// once, so the shards move without waiting for the Assigner's next tick.
type Sharder struct {
	*httpdrain.Sharder
	assigner func(driver.Target) *Assigner
}

var _ driver.Sharder = (*Sharder)(nil)

// NewSharder returns a Sharder; assigner returns the Assigner of a target's
// fleet, or nil when the target is not sharded.
func NewSharder(assigner func(driver.Target) *Assigner) *Sharder {
	return &Sharder{Sharder: httpdrain.New(nil), assigner: assigner}
}

// Drain marks the instance draining and moves its shards to live members.
func (s *Sharder) Drain(ctx context.Context, t driver.Target, inst driver.Instance) error {
	if err := s.Sharder.Drain(ctx, t, inst); err != nil {
		return err
	}
	return s.reconcile(ctx, t)
}

// Undrain marks the instance live again and gives it its share of shards.
func (s *Sharder) Undrain(ctx context.Context, t driver.Target, inst driver.Instance) error {
	if err := s.Sharder.Undrain(ctx, t, inst); err != nil {
		return err
	}
	return s.reconcile(ctx, t)
}

// reconcile has the target's assigner move shards now. An unsharded
// target has no assigner: its instances own no shards, so a drain is done
// as soon as it is asked.
func (s *Sharder) reconcile(ctx context.Context, t driver.Target) error {
	if a := s.assigner(t); a != nil {
		return a.Reconcile(ctx)
	}
	return nil
}
