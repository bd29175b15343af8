package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// A survey over two boundaries reads each boundary's targets on that
// boundary's task queue and finds every state: in sync, drifted, missing,
// degraded, orphaned (listed by the driver, not in the spec) and unknown.
func TestSurveyAssessesEveryTarget(t *testing.T) {
	ctx := withTimeout(t)
	run, want, pub, gov := startSurvey(t, ctx, "survey")
	var res SurveyResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != SurveyOutOfSync || res.Listed != 5 || len(res.Unlisted) != 0 {
		t.Errorf("result %+v, want out of sync, 5 regions listed", res)
	}
	report, err := FleetReport(ctx, tc, run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Targets) != len(want) {
		t.Errorf("%d targets reported, want %d: %+v", len(report.Targets), len(want), report.Targets)
	}
	for _, ft := range report.Targets {
		if ft.State != want[ft.Target.ID()] {
			t.Errorf("%s: %s (%s), want %s", ft.Target.ID(), ft.State, ft.Reason, want[ft.Target.ID()])
		}
	}
	if got := report.CountLine(); got != res.Summary {
		t.Errorf("the report read from the history says %q, the workflow %q", got, res.Summary)
	}

	// Each boundary's reads ran on its own task queue.
	it := tc.GetWorkflowHistory(ctx, run.GetID(), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	queues := map[string]string{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			queues[a.GetTaskQueue().GetName()] += a.GetActivityType().GetName() + " "
		}
	}
	if queues[pub.queue] == "" || queues[gov.queue] == "" || len(queues) != 2 {
		t.Errorf("activities by task queue: %v, want on %s and %s only", queues, pub.queue, gov.queue)
	}
}

// startSurvey starts a survey of service surveyed over two boundaries
// (task queues prefix-aws and prefix-gov, each its own fake) whose
// targets are in every state; want is the state of each target by ID.
func startSurvey(t *testing.T, ctx context.Context, prefix string) (run client.WorkflowRun, want map[string]pipelines.SyncState, pub, gov *boundary) {
	t.Helper()
	pub, gov = newBoundary(t, prefix+"-aws", nil), newBoundary(t, prefix+"-gov", nil)
	target := func(boundary, region string) placement.Target {
		return placement.Target{Service: "surveyed", Environment: "prod", Cloud: "aws", Boundary: boundary, Region: region}
	}
	inSync, drifted, missing := target("public", "us-east-1"), target("public", "eu-west-1"), target("public", "eu-central-1")
	degraded, unknown := target("us-gov", "us-gov-west-1"), target("us-gov", "us-gov-east-1")
	orphan := target("public", "us-east-1")
	orphan.Service = "retired"
	pub.fake.SetLive(inSync, "v2")
	pub.fake.SetLive(drifted, "v1")
	gov.fake.SetFaults(degraded, fake.Faults{Ready: true})
	for _, d := range []struct {
		fake   *fake.Driver
		target placement.Target
	}{{gov.fake, degraded}, {pub.fake, orphan}} {
		if _, err := d.fake.Deploy(ctx, driver.DeployRequest{Target: driver.Target(d.target), Image: "img", Version: "v2", ChangeID: "c2"}); err != nil {
			t.Fatal(err)
		}
	}
	gov.fake.SetFaults(unknown, fake.Faults{Status: driver.PermissionDenied})

	expect := []pipelines.Expectation{{Service: "surveyed", Version: "v2", VersionFrom: "spec", ConfigVersion: "cfg-1"}}
	in := NewSurveyInput("testdata/surveyed", expect, [][]placement.Target{{inSync, drifted, missing, degraded, unknown}}, []SurveyQueue{
		{Cloud: "aws", Boundary: "public", TaskQueue: pub.queue}, {Cloud: "aws", Boundary: "us-gov", TaskQueue: gov.queue},
	})
	if len(in.Places) != 5 {
		t.Errorf("%d places for 5 targets of one service", len(in.Places))
	}
	run, err := StartSurvey(ctx, tc, in, time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]pipelines.SyncState{
		inSync.ID(): pipelines.InSync, drifted.ID(): pipelines.Drifted, missing.ID(): pipelines.Missing,
		degraded.ID(): pipelines.Degraded, unknown.ID(): pipelines.Unknown, orphan.ID(): pipelines.Orphaned,
	}
	return run, want, pub, gov
}
