package workflows

import (
	"context"
	"sync"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// surveyReads is how many targets SurveyTargets reads at once.
const surveyReads = 16

// SurveyTargets reports what runs on each target of the batch, in order,
// surveyReads at a time, heartbeating while it reads. A target that
// cannot be read is reported with its error, not as the activity's: only a
// canceled activity fails (and is retried).
func (a *Activities) SurveyTargets(ctx context.Context, b SurveyBatch) ([]pipelines.Observed, error) {
	out := make([]pipelines.Observed, len(b.Targets))
	stop := a.keepAlive(ctx)
	defer stop()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(surveyReads, len(b.Targets)) {
		wg.Go(func() {
			for i := range next {
				out[i] = a.observe(ctx, b.Targets[i])
			}
		})
	}
	for i := range b.Targets {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// observe reads what runs on t through its provider.
func (a *Activities) observe(ctx context.Context, t placement.Target) pipelines.Observed {
	p, err := a.Providers.For(t)
	if err != nil {
		return pipelines.Observed{Error: err.Error()}
	}
	c, err := p.Current(ctx, t)
	if err != nil {
		return pipelines.Observed{Error: err.Error()}
	}
	return pipelines.Observed{
		Running: c.Revision != "", Version: c.Version, ConfigVersion: c.ConfigVersion, ChangeID: c.ChangeID,
		Ready: c.Ready, Desired: c.Desired, Failed: c.State == driver.StateFailed, Reason: c.Reason,
	}
}

// SurveyManaged lists the targets in scope on which something Meridian
// deployed runs, through the provider of the scope's runtime, which the
// targets keep. A driver that cannot list (code invalid) fails it for
// good.
func (a *Activities) SurveyManaged(ctx context.Context, scope SurveyScope) ([]placement.Target, error) {
	p, err := a.Providers.For(placement.Target{Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region, Runtime: scope.Runtime})
	if err != nil {
		return nil, activityError(err)
	}
	ts, err := p.Managed(ctx, scope.Scope)
	for i := range ts {
		ts[i].Runtime = scope.Runtime
	}
	return ts, activityError(err)
}
