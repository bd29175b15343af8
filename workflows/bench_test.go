package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

const (
	benchStages   = 10
	benchPerStage = 50
	benchParallel = 10
)

// baseline runs the same number of no-op activities as a release of
// stages×perStage targets, with the same parallelism, stage after stage.
func baseline(ctx workflow.Context, stages, perStage, parallel int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for range stages {
		inflight := 0
		for range perStage {
			_ = workflow.Await(ctx, func() bool { return inflight < parallel })
			inflight++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { inflight-- }()
				_ = workflow.ExecuteActivity(ctx, noop).Get(ctx, nil)
			})
		}
		_ = workflow.Await(ctx, func() bool { return inflight == 0 })
	}
	return nil
}

func noop(context.Context) error { return nil }

func benchPipeline(service string, stages, perStage int) pipelines.Pipeline {
	pl := pipe("aws", "automatic")
	pl.Service = service
	for s := range stages {
		st := pipelines.Stage{Name: fmt.Sprintf("s%02d", s), Environment: "prod", MaxParallel: benchParallel}
		for i := range perStage {
			st.Targets = append(st.Targets, placement.Target{Service: service, Environment: "prod", Cloud: "aws", Boundary: "aws", Region: fmt.Sprintf("r%02d-%03d", s, i)})
		}
		pl.Stages = append(pl.Stages, st)
	}
	return pl
}

// BenchmarkRelease500 compares a release over 500 targets (10 stages of 50,
// 10 at a time, instant fake provider, no bake) with a baseline workflow
// running 500 no-op activities with the same parallelism, on the same
// server, and reports Meridian's overhead as a ratio.
func BenchmarkRelease500(b *testing.B) {
	ctx := context.Background()
	bd := newBoundaryWith(b, "bench-aws", nil, func(r worker.Registry) {
		r.RegisterWorkflow(baseline)
		r.RegisterActivity(noop)
	})
	var releaseTime, baseTime time.Duration
	var events map[string]int
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: bd.queue}, baseline, benchStages, benchPerStage, benchParallel)
		if err == nil {
			err = run.Get(ctx, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
		baseTime += time.Since(start)

		req := request(benchPipeline("bench", benchStages, benchPerStage))
		req.Service, req.Change.ID, req.Change.Version = "bench", fmt.Sprintf("bench-%d", i), fmt.Sprintf("v%d", i+2)
		req.Pipelines[0].TaskQueue = bd.queue
		start = time.Now()
		ref, _, err := StartRelease(ctx, tc, req)
		if err != nil {
			b.Fatal(err)
		}
		var st Status
		if st, err = Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseSucceeded {
			b.Fatalf("release %s: %s (%s) %v", ref.ID, st.Phase, st.Reason, err)
		}
		releaseTime += time.Since(start)
		events = map[string]int{"release": historyLength(b, ref.ID), "pipeline": historyLength(b, ref.ID+"/aws/aws")}
	}
	n := float64(b.N)
	b.ReportMetric(releaseTime.Seconds()/n, "release-s")
	b.ReportMetric(baseTime.Seconds()/n, "baseline-s")
	b.ReportMetric(releaseTime.Seconds()/baseTime.Seconds(), "ratio")
	for k, v := range events {
		b.ReportMetric(float64(v), k+"-events")
	}
}

// BenchmarkGateFailureToRollback measures the time from the provider
// answering "unhealthy" to the first rollback call reaching it.
func BenchmarkGateFailureToRollback(b *testing.B) {
	ctx := context.Background()
	bd := newBoundary(b, "bench-gate-aws", nil)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		service := fmt.Sprintf("gate-bench-%d", i)
		pl := benchPipeline(service, 2, 5)
		req := request(pl)
		req.Service, req.Change.ID = service, "c1"
		req.Pipelines[0].TaskQueue = bd.queue
		for _, s := range pl.Stages {
			for _, t := range s.Targets {
				bd.fake.SetLive(t, "v1")
			}
		}
		bad := pl.Stages[1].Targets[2]
		bd.fake.SetFaults(bad, fake.Faults{Health: driver.Unhealthy})
		ref, _, err := StartRelease(ctx, tc, req)
		if err != nil {
			b.Fatal(err)
		}
		var st Status
		if st, err = Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseRolledBack {
			b.Fatalf("release %s: %s (%s) %v", ref.ID, st.Phase, st.Reason, err)
		}
		var failedAt, rollbackAt time.Time
		for _, c := range bd.fake.Calls() {
			switch {
			case c.Op == "evaluate-gate" && c.Target == bad.ID() && failedAt.IsZero():
				failedAt = c.At
			case c.Op == "rollback" && c.At.After(failedAt) && !failedAt.IsZero() && rollbackAt.IsZero():
				rollbackAt = c.At
			}
		}
		total += rollbackAt.Sub(failedAt)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms-to-rollback")
}

func historyLength(b *testing.B, id string) int {
	it := tc.GetWorkflowHistory(context.Background(), id, "", false, 0)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}
