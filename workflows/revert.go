package workflows

import (
	"context"
	"fmt"
	"slices"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Revert makes one change of an undone release undone on its target:
// Previous live again, as Rollback does, then the gates checked once. It
// first reads what runs there: when it is neither what the undone release
// put there nor already what the revert restores, another release changed
// the target since, and Revert leaves it alone (LeftAlone says why)
// unless Force. The result's Deployment is what the revert made, for its
// own compensation.
func (a *Activities) Revert(ctx context.Context, in RevertInput) (RolloutResult, error) {
	c := in.Undo
	p, err := a.Providers.For(c.Target)
	if err != nil {
		return RolloutResult{}, activityError(err)
	}
	if !in.Force {
		why, err := changedSince(ctx, p, c)
		switch {
		case err != nil:
			return RolloutResult{}, activityError(err)
		case why != "":
			return RolloutResult{LeftAlone: why}, nil
		}
	}
	if err := a.Rollback(ctx, c); err != nil {
		return RolloutResult{}, err
	}
	res := RolloutResult{Deployment: revertDeployment(c)}
	res.Observations, err = evaluateGates(ctx, p, c.Target, in.Gates)
	return keepChange(res, c.Target, err)
}

// changedSince says how the target no longer runs what the undone change
// made there ("" when it still does, or when the revert already ran).
func changedSince(ctx context.Context, p *providers.Provider, c Compensation) (string, error) {
	cur, err := p.Current(ctx, c.Target)
	if providers.Code(err) == driver.Invalid {
		return "its driver cannot tell what runs there: rerun with --force to restore it anyway", nil
	}
	if err != nil {
		return "", err
	}
	live, made, restored := cur.Revision, c.Revision, c.Previous
	switch c.Kind {
	case KindConfig:
		live = cur.ConfigRevision
	case KindDecommission:
		made, restored = "", ""
		if c.Removal != nil {
			restored = c.Removal.Revision
		}
	}
	if live == made || live == restored {
		return "", nil
	}
	return fmt.Sprintf("runs %s, not %s: changed since by another release (--force restores it anyway)", orDash(live), orDash(made)), nil
}

// revertDeployment is what a revert of c made live, as a deployment whose
// rollback undoes the revert: c.Revision back for a deploy or a config,
// the restored revision removed again for a decommission.
func revertDeployment(c Compensation) driver.Deployment {
	if c.Kind == KindDecommission {
		if c.Removal == nil {
			return driver.Deployment{}
		}
		return driver.Deployment{Revision: c.Removal.Revision, Changed: true}
	}
	return driver.Deployment{Revision: c.Previous, Previous: c.Revision, Changed: true}
}

// revertKind is the kind of change a revert of c made, as its own
// compensation names it.
func revertKind(c Compensation) ChangeKind {
	if c.Kind == KindConfig {
		return KindConfig
	}
	return KindVersion
}

// restoresOf are the compensations of c (a revert) on the targets of pl.
func restoresOf(c Change, pl pipelines.Pipeline) []Compensation {
	ids := map[string]bool{}
	for _, st := range pl.Stages {
		for _, t := range st.Targets {
			ids[t.ID()] = true
		}
	}
	var out []Compensation
	for _, r := range c.Restore {
		if ids[r.Target.ID()] {
			out = append(out, r)
		}
	}
	return out
}

// revertSteps are the changes of the undone release on t, newest first:
// the order to undo them in.
func revertSteps(c Change, t placement.Target) []Compensation {
	var steps []Compensation
	for _, r := range slices.Backward(c.Restore) {
		if r.Target.ID() == t.ID() {
			steps = append(steps, r)
		}
	}
	return steps
}
