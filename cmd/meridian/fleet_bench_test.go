package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// The baseline of BenchmarkFleetSurvey: noopWorkflows workflows, each
// running its share of the no-op activities noopParallel at a time (one
// workflow could not: 100,000 activities are 300,000 events, past
// Temporal's 50,000 per history).
const (
	noopQueue     = "bench-noop"
	noopWorkflows = 20
	noopParallel  = 50
)

// BenchmarkFleetSurvey surveys the BenchmarkPlanVsCueExport fleet (2,000
// services, ≈100,000 targets, every one running its spec's version on the
// instant fake provider) as meridian fleet does, on the package's embedded
// server with a worker for each of its boundaries, from the start of the
// survey to its report read from the history; and, in the same run, as
// many no-op activities on the same server. Target: the survey at most
// 1.5× the baseline. It logs whether it was met ("MISSED" if not) and
// passes either way.
func BenchmarkFleetSurvey(b *testing.B) {
	ctx := context.Background()
	specDir := filepath.Join(b.TempDir(), "spec")
	writeBenchFleet(b, specDir, *benchServices)
	model, _, err := planSpec(ctx, specDir, "", io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	c := steerClient(b)
	instant := fake.New(nil)
	set := providers.NewSet()
	targets := 0
	for _, s := range model.Services {
		for _, t := range s.Targets {
			instant.SetLive(t, s.Artifact.Version)
			targets++
		}
	}
	for _, r := range model.Boundaries {
		set.Add(r.Cloud, r.Boundary, providers.New(instant, nil))
	}
	ws, err := startWorkers(c, model.Boundaries, set, false, worker.WorkerDeploymentVersion{})
	if err != nil {
		b.Fatal(err)
	}
	defer stopWorkers(ws)
	noop := worker.New(c, noopQueue, worker.Options{})
	noop.RegisterWorkflow(noopActivities)
	noop.RegisterActivity(noopActivity)
	if err := noop.Start(); err != nil {
		b.Fatal(err)
	}
	defer noop.Stop()
	in, err := surveyInput(ctx, c, specDir, model, model.Services, func(placement.Target) bool { return true })
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fleet of %d services, %d targets, %d boundaries", len(model.Services), targets, len(model.Boundaries))

	var surveyTime, baseTime time.Duration
	for b.Loop() {
		start := time.Now()
		report, id, err := survey(ctx, c, in, 30*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		surveyTime += took
		if len(report.Targets) != targets || !report.InSync() {
			b.Fatalf("%s: %s, want %d targets in sync", id, report.CountLine(), targets)
		}

		start = time.Now()
		runs := make([]client.WorkflowRun, noopWorkflows)
		for i := range runs {
			share := targets/noopWorkflows + min(1, max(0, targets%noopWorkflows-i))
			if runs[i], err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: noopQueue}, noopActivities, share, noopParallel); err != nil {
				b.Fatal(err)
			}
		}
		for _, run := range runs {
			if err := run.Get(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		baseTime += time.Since(start)
		b.Logf("survey %s: %.1f s; %d no-op activities: %.1f s", id, took.Seconds(), targets, time.Since(start).Seconds())
	}
	n := float64(b.N)
	ratio := surveyTime.Seconds() / baseTime.Seconds()
	b.ReportMetric(surveyTime.Seconds()/n, "survey-s")
	b.ReportMetric(baseTime.Seconds()/n, "noop-activities-s")
	b.ReportMetric(ratio, "ratio")
	verdict := "met"
	if ratio > 1.5 {
		verdict = "MISSED"
	}
	b.Logf("%d targets: survey %.1f s, %d no-op activities %.1f s: ratio %.2f; target (≤1.5×) %s", targets, surveyTime.Seconds()/n, targets, baseTime.Seconds()/n, ratio, verdict)
}

// noopActivities runs n no-op activities, parallel at a time.
func noopActivities(ctx workflow.Context, n, parallel int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	inflight := 0
	for range n {
		_ = workflow.Await(ctx, func() bool { return inflight < parallel })
		inflight++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { inflight-- }()
			_ = workflow.ExecuteActivity(ctx, noopActivity).Get(ctx, nil)
		})
	}
	return workflow.Await(ctx, func() bool { return inflight == 0 })
}

func noopActivity(context.Context) error { return nil }
