package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// StartSurvey starts a survey of the input, ID SurveyID(at, digest of the
// input), on ControlTaskQueue.
func StartSurvey(ctx context.Context, c client.Client, in SurveyInput, at time.Time) (client.WorkflowRun, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	id := SurveyID(at, hex.EncodeToString(sum[:])[:12])
	targets := 0
	for _, s := range in.Services {
		targets += len(s.Places)
	}
	attrs := []temporal.SearchAttributeUpdate{searchattr.Phase.ValueSet(string(PhaseRunning)), searchattr.Trigger.ValueSet("fleet")}
	if len(in.Services) == 1 {
		attrs = append(attrs, searchattr.Service.ValueSet(in.Services[0].Service))
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             ControlTaskQueue,
		StaticSummary:         fmt.Sprintf("fleet survey of %s: %d targets of %d services", in.Spec, targets, len(in.Services)),
		StaticDetails:         surveyStaticDetails(in),
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
	}, SurveyWorkflowName, in)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return run, nil
}

// surveyStaticDetails lists what the survey expects, per service.
func surveyStaticDetails(in SurveyInput) string {
	var b strings.Builder
	printf(&b, "## Fleet survey of `%s`\n\n| service | version | from | config | targets |\n| --- | --- | --- | --- | --- |\n", in.Spec)
	for _, s := range in.Services {
		printf(&b, "| %s | %s | %s | %s | %d |\n", s.Service, orDash(s.Version), orDash(s.VersionFrom), s.ConfigVersion, len(s.Places))
	}
	return b.String()
}

// FleetReport reads an ended survey's report from its history: every
// target of each SurveyTargets activity, assessed against the survey's
// input as the workflow assessed it, and the regions where orphans were
// not looked for, from its result.
func FleetReport(ctx context.Context, c client.Client, id string) (pipelines.FleetReport, error) {
	var report pipelines.FleetReport
	var in SurveyInput
	expect := map[string]*pipelines.Expectation{}
	batches := map[int64]SurveyBatch{}
	queues := map[int64]string{}
	lookup := func(service string) *pipelines.Expectation { return expect[service] }
	dc, fc := converter.GetDefaultDataConverter(), temporal.GetDefaultFailureConverter()
	it := c.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return report, fmt.Errorf("history of %s: %w", id, err)
		}
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				return report, fmt.Errorf("%s: its input: %w", id, err)
			}
			for i := range in.Services {
				expect[in.Services[i].Service] = &in.Services[i].Expectation
			}
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "SurveyTargets" {
			var b SurveyBatch
			if err := dc.FromPayloads(a.GetInput(), &b); err != nil {
				return report, fmt.Errorf("%s: event %d: %w", id, e.GetEventId(), err)
			}
			batches[e.GetEventId()], queues[e.GetEventId()] = b, a.GetTaskQueue().GetName()
		}
		var failure error
		var scheduled int64
		var observed []pipelines.Observed
		switch {
		case e.GetActivityTaskCompletedEventAttributes() != nil:
			a := e.GetActivityTaskCompletedEventAttributes()
			scheduled = a.GetScheduledEventId()
			if _, ok := batches[scheduled]; ok {
				if err := dc.FromPayloads(a.GetResult(), &observed); err != nil {
					return report, fmt.Errorf("%s: event %d: %w", id, e.GetEventId(), err)
				}
			}
		case e.GetActivityTaskFailedEventAttributes() != nil:
			a := e.GetActivityTaskFailedEventAttributes()
			scheduled, failure = a.GetScheduledEventId(), fc.FailureToError(a.GetFailure())
		case e.GetActivityTaskTimedOutEventAttributes() != nil:
			a := e.GetActivityTaskTimedOutEventAttributes()
			scheduled, failure = a.GetScheduledEventId(), fc.FailureToError(a.GetFailure())
		}
		if b, ok := batches[scheduled]; ok {
			t := b.Targets[0]
			q := &surveyQueue{SurveyQueue: SurveyQueue{Cloud: t.Cloud, Boundary: t.Boundary, TaskQueue: queues[scheduled]}}
			report.Targets = append(report.Targets, AssessBatch(b, observed, surveyError(q, failure), lookup)...)
		}
		if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			var res SurveyResult
			if err := dc.FromPayloads(a.GetResult(), &res); err != nil {
				return report, fmt.Errorf("%s: its result: %w", id, err)
			}
			report.Unlisted = res.Unlisted
			report.Listed = res.Listed
		}
	}
	report.Sort()
	return report, nil
}
