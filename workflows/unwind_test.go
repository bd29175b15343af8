package workflows

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/enums/v1"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// A pipeline that succeeded stays open until its release ends and unwinds
// itself: its rollbacks run in its own history, and it ends rolled back in
// the Web UI, not succeeded.

func TestEndToEndSucceededPipelineUnwindsItselfWhenALaterBoundaryFails(t *testing.T) {
	ctx := withTimeout(t)
	public := newBoundary(t, "e2e-unwind-aws", nil)
	gov := newBoundary(t, "e2e-unwind-gov", nil)
	govPl := pipe("aws-us-gov", "automatic", stg("gov", govA))
	govPl.After = []string{"aws"}
	req := e2eRequest("e2e-unwind", "c1", map[string]*boundary{"aws": public, "aws-us-gov": gov},
		pipe("aws", "automatic", stg("one", prodA), stg("two", prodB)), govPl)
	gov.fake.SetFaults(req.Pipelines[1].Stages[0].Targets[0], fake.Faults{Health: driver.Unhealthy})

	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseRolledBack || st.Pipelines[0].Phase != PhaseRolledBack || st.Pipelines[1].Phase != PhaseRolledBack {
		t.Fatalf("release %s, pipelines %s and %s: want all rolled back (%s)", st.Phase, st.Pipelines[0].Phase, st.Pipelines[1].Phase, st.Reason)
	}
	for _, tg := range targetsOf(req.Pipelines[0]) {
		if rev, _ := public.fake.Live(tg); rev != "v1" {
			t.Errorf("%s runs %s, want v1", tg.ID(), rev)
		}
	}
	publicID := ref.ID + "/aws/aws"
	desc, err := tc.DescribeWorkflowExecution(ctx, publicID, "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_FAILED {
		t.Errorf("public pipeline: status %v (%v), want failed: it was rolled back", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	if n := activities(t, ctx, ref.ID, "Rollback"); n != 0 {
		t.Errorf("the release's history has %d Rollback activities: pipelines unwind themselves", n)
	}
	if n := activities(t, ctx, publicID, "Rollback"); n != 2 {
		t.Errorf("the public pipeline's history has %d Rollback activities, want 2", n)
	}
	if details := currentDetails(t, ctx, publicID); !regexp.MustCompile(`\| one \| 1 \| rolled back \|[\s\S]*\| two \| 1 \| rolled back \|`).MatchString(details) {
		t.Errorf("the public pipeline's details do not show both stages rolled back:\n%s", details)
	}
}

func TestEndToEndRollbackInTheWindowUnwindsTheOpenPipelines(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-window-aws", nil)
	req := e2eRequest("e2e-window", "c1", map[string]*boundary{"aws": b}, pipe("aws", "stage", stg("one", prodA), stg("two", prodB)))
	req.RollbackWindow = placement.Duration(time.Hour)
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the release to succeed", phaseIs(t, ctx, ref, PhaseSucceeded))
	pipelineID := ref.ID + "/aws/aws"
	if closed(ctx, tc, pipelineID) {
		t.Fatal("the pipeline ended while its release is in its rollback window")
	}
	st, err := Rollback(ctx, tc, ref.ID, Request{Who: "fay", Reason: "customer reports"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != PhaseRollingBack {
		t.Errorf("rollback answered %s, want rolling-back", st.Phase)
	}
	if st, err = Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseRolledBack || st.Pipelines[0].Phase != PhaseRolledBack {
		t.Fatalf("outcome %+v, %v: want the release and its pipeline rolled back", st, err)
	}
	for _, tg := range targetsOf(req.Pipelines[0]) {
		if rev, _ := b.fake.Live(tg); rev != "v1" {
			t.Errorf("%s runs %s, want v1", tg.ID(), rev)
		}
	}
	if n := activities(t, ctx, pipelineID, "Rollback"); n != 2 {
		t.Errorf("the pipeline's history has %d Rollback activities, want 2", n)
	}
}

// A release that ends closes its open pipelines: they complete succeeded.
func TestEndToEndSucceededReleaseClosesItsPipelines(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-close-aws", nil)
	req := e2eRequest("e2e-close", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA)))
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %+v, %v", st, err)
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, ref.ID+"/aws/aws", "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("pipeline: status %v (%v), want completed", desc.GetWorkflowExecutionInfo().GetStatus(), err)
	}
}

// The release's stage table (its Web UI details) counts a stage's targets
// as they are done, not only at phase changes.
func TestEndToEndReleaseDetailsCountTargetsLive(t *testing.T) {
	ctx := withTimeout(t)
	b := newBoundary(t, "e2e-counts-aws", &fake.Options{Progress: 10})
	req := e2eRequest("e2e-counts", "c1", map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", regionTargets(10)...)))
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`\| aws/aws \| one \| running \| (\d+)/10 \|`)
	waitFor(t, ctx, "the release's details to count some of the stage's targets", func() bool {
		m := row.FindStringSubmatch(currentDetails(t, ctx, ref.ID))
		if m == nil {
			return false
		}
		done, _ := strconv.Atoi(m[1])
		return done > 0 && done < 10
	})
	if st, err := Outcome(ctx, tc, ref.ID); err != nil || st.Phase != PhaseSucceeded {
		t.Fatalf("outcome %+v, %v", st, err)
	}
}

// activities counts the activities of type name scheduled in a workflow's
// history, every run included.
func activities(t *testing.T, ctx context.Context, id, name string) int {
	t.Helper()
	desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for run := desc.GetWorkflowExecutionInfo().GetFirstRunId(); run != ""; {
		it := tc.GetWorkflowHistory(ctx, id, run, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		run = ""
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
				n++
			}
			if a := e.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				run = a.GetNewExecutionRunId()
			}
		}
	}
	return n
}

// An abort that reaches a pipeline after it succeeded (the release sent it
// before it heard the pipeline was open) rolls it back under the automatic
// policy, as the release would have: it never ends succeeded with its
// changes in effect while its release rolls back.
func TestAbortThatReachesAnOpenPipelineRollsItBack(t *testing.T) {
	pl := pipe("aws", "automatic", stg("one", prodA), stg("two", prodB))
	f := newFixture(t, request(pl))
	f.env.OnActivity("EmergencyFreezes", mock.Anything).Return(nil, nil)
	f.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil) // progress to the release
	f.env.RegisterDelayedCallback(func() {
		f.env.SignalWorkflow(signalCommand, command{Action: UpdateAbort, Req: Request{Who: "meridian", Reason: "another pipeline failed"}})
	}, time.Hour)
	f.env.ExecuteWorkflow(Pipeline, PipelineInput{Release: "release/billing/c1", Service: "billing", Change: f.req.Change, Pipeline: pl})
	var res PipelineResult
	if err := decodeOutcome(f.env.GetWorkflowError(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Phase != PhaseAborted || len(res.Changed) != 0 {
		t.Fatalf("pipeline %s (%s), changes in effect %v: want aborted, every change unwound", res.Phase, res.Reason, res.Changed)
	}
	f.assertLive("v1", prodA, prodB)
}
