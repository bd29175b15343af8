package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// SurveyWorkflowName is the workflow type of a fleet survey.
const SurveyWorkflowName = "Survey"

// The survey's verdicts, its MeridianPhase once it has ended.
const (
	SurveyInSync    = "in-sync"
	SurveyOutOfSync = "out-of-sync"
)

const (
	// SurveyBatchSize is how many targets one SurveyTargets activity reads.
	SurveyBatchSize = 250
	// SurveyLanes is how many survey activities run at once per task queue.
	SurveyLanes = 4
	// surveyStartTimeout is how long a read may wait for a worker of its
	// boundary before its targets are reported unknown.
	surveyStartTimeout = time.Minute
)

// SurveyID is the workflow ID of a survey started at `at` of the spec
// whose survey input has the given digest.
func SurveyID(at time.Time, digest string) string {
	return "survey/" + at.UTC().Format("20060102T150405Z") + "-" + digest
}

// SurveyInput is the Survey workflow's input: what the spec expects on
// which targets. A target is a service and a place; places are listed once
// and each service names its own by index, so that a fleet of 100,000
// targets fits a workflow input (≈5 bytes per target).
type SurveyInput struct {
	// Spec is the spec directory, as given, for the Web UI.
	Spec string `json:"spec"`
	// Places are the environment, cloud, boundary, region and cell of
	// targets (Service empty).
	Places   []placement.Target `json:"places"`
	Services []SurveyService    `json:"services"`
	// Queues are the task queues of the boundaries of the places.
	Queues []SurveyQueue `json:"queues"`
	// Narrowed is set when the survey covers some of the spec's services
	// only: orphans are then looked for among theirs only.
	Narrowed bool `json:"narrowed,omitempty"`
}

// NewSurveyInput is the survey of the spec in dir whose services expect
// expect[i] on targets[i] (every one of them that service's), with the
// boundaries' task queues.
func NewSurveyInput(dir string, expect []pipelines.Expectation, targets [][]placement.Target, queues []SurveyQueue) SurveyInput {
	in := SurveyInput{Spec: dir, Queues: queues}
	index := map[string]int{}
	for i, e := range expect {
		svc := SurveyService{Expectation: e, Places: make([]int, 0, len(targets[i]))}
		for _, t := range targets[i] {
			t.Service = ""
			p, ok := index[t.ID()]
			if !ok {
				p = len(in.Places)
				index[t.ID()] = p
				in.Places = append(in.Places, t)
			}
			svc.Places = append(svc.Places, p)
		}
		in.Services = append(in.Services, svc)
	}
	return in
}

// SurveyService is one service of a survey: what its targets should run,
// and where they are (indices into SurveyInput.Places).
type SurveyService struct {
	pipelines.Expectation
	Places []int `json:"places"`
}

// SurveyQueue is the task queue of a cloud boundary.
type SurveyQueue struct {
	Cloud     string `json:"cloud"`
	Boundary  string `json:"boundary"`
	TaskQueue string `json:"taskQueue"`
}

// SurveyBatch is the argument of the SurveyTargets activity: targets of
// one boundary. Orphans marks targets the spec does not have, found by
// SurveyManaged.
type SurveyBatch struct {
	Targets []placement.Target `json:"targets"`
	Orphans bool               `json:"orphans,omitempty"`
}

// SurveyScope is the argument of the SurveyManaged activity: a region
// with the cells the spec has there, listed by the provider of one
// runtime ("" for the boundary's managed services, or "kubernetes").
type SurveyScope struct {
	driver.Scope
	Runtime string `json:"runtime,omitempty"`
}

// SurveyResult is how a survey ended: its verdict (SurveyInSync or
// SurveyOutOfSync) and counts. The targets' lines are in the history (see
// FleetReport).
type SurveyResult struct {
	Verdict  string               `json:"verdict"`
	Summary  string               `json:"summary"`
	Listed   int                  `json:"listed"`
	Unlisted []pipelines.Unlisted `json:"unlisted,omitempty"`
}

// Survey reads what runs on every target of the input and assesses it
// against the spec (pipelines.Assess). It runs on ControlTaskQueue and
// reads nothing itself: each boundary's reads are activities on that
// boundary's task queue, SurveyBatchSize targets per SurveyTargets
// activity and SurveyLanes activities per queue at once, so that no
// process outside a sovereign boundary reads its targets. In every region
// it also lists what Meridian deployed (SurveyManaged); what the spec does
// not have is read in a second round, as orphans. Its current details are
// the report's markdown, and its MeridianPhase the verdict.
func Survey(ctx workflow.Context, in SurveyInput) (SurveyResult, error) {
	s := newSurvey(in)
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("surveying %d targets of %d services…", s.total, len(in.Services)))
	s.run(ctx, s.firstRound())
	s.run(ctx, s.orphanRound())
	s.report.Sort()
	md := s.report.Markdown()
	workflow.SetCurrentDetails(ctx, md)
	res := SurveyResult{Verdict: SurveyOutOfSync, Summary: s.report.CountLine(), Listed: s.report.Listed, Unlisted: s.report.Unlisted}
	if s.report.InSync() {
		res.Verdict = SurveyInSync
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, searchattr.Phase.ValueSet(res.Verdict))
	return res, nil
}

// survey is one run of the Survey workflow.
type survey struct {
	in     SurveyInput
	total  int
	expect map[string]*pipelines.Expectation // by service; looked up, never ranged over
	inSpec map[string]bool                   // target IDs
	queues []*surveyQueue                    // in the order of the input's places
	report pipelines.FleetReport
}

// surveyQueue is the work of one boundary's task queue.
type surveyQueue struct {
	SurveyQueue
	targets []placement.Target // of the spec, in input order
	scopes  []SurveyScope      // regions to list what Meridian deployed in, per runtime
	orphans []placement.Target
}

// surveyWork is one activity of a round: a batch to read or a region to list.
type surveyWork struct {
	queue *surveyQueue
	batch *SurveyBatch
	scope *SurveyScope
}

func newSurvey(in SurveyInput) *survey {
	s := &survey{in: in, expect: map[string]*pipelines.Expectation{}, inSpec: map[string]bool{}}
	queueOf := map[string]SurveyQueue{}
	for _, q := range in.Queues {
		queueOf[q.Cloud+"/"+q.Boundary] = q
	}
	byKey := map[string]*surveyQueue{}
	listed := map[string]int{} // scope index by runtime and region
	for i := range in.Services {
		svc := &in.Services[i]
		s.expect[svc.Service] = &svc.Expectation
		for _, p := range svc.Places {
			t := in.Places[p]
			t.Service = svc.Service
			key := t.Cloud + "/" + t.Boundary
			q, ok := byKey[key]
			if !ok {
				sq, found := queueOf[key]
				if !found {
					sq = SurveyQueue{Cloud: t.Cloud, Boundary: t.Boundary, TaskQueue: placement.DefaultTaskQueue(t.Cloud, t.Boundary)}
				}
				q = &surveyQueue{SurveyQueue: sq}
				byKey[key] = q
				s.queues = append(s.queues, q)
			}
			q.targets = append(q.targets, t)
			s.inSpec[t.ID()] = true
			s.total++
			region := t.Runtime + ":" + key + "/" + t.Region
			i, ok := listed[region]
			if !ok {
				i = len(q.scopes)
				listed[region] = i
				q.scopes = append(q.scopes, SurveyScope{Scope: driver.Scope{Cloud: t.Cloud, Boundary: t.Boundary, Region: t.Region}, Runtime: t.Runtime})
			}
			if sc := &q.scopes[i]; t.Cell != "" && !slices.Contains(sc.Cells, t.Cell) {
				sc.Cells = append(sc.Cells, t.Cell)
			}
		}
	}
	return s
}

// firstRound lists what Meridian deployed in every region and reads every
// target of the spec.
func (s *survey) firstRound() [][]surveyWork {
	rounds := make([][]surveyWork, len(s.queues))
	for i, q := range s.queues {
		for j := range q.scopes {
			rounds[i] = append(rounds[i], surveyWork{queue: q, scope: &q.scopes[j]})
		}
		rounds[i] = append(rounds[i], batches(q, q.targets, false)...)
	}
	return rounds
}

// orphanRound reads the targets the listings found that the spec does not
// have.
func (s *survey) orphanRound() [][]surveyWork {
	rounds := make([][]surveyWork, len(s.queues))
	for i, q := range s.queues {
		rounds[i] = batches(q, q.orphans, true)
	}
	return rounds
}

func batches(q *surveyQueue, targets []placement.Target, orphans bool) []surveyWork {
	var out []surveyWork
	for i := 0; i < len(targets); i += SurveyBatchSize {
		out = append(out, surveyWork{queue: q, batch: &SurveyBatch{Targets: targets[i:min(i+SurveyBatchSize, len(targets))], Orphans: orphans}})
	}
	return out
}

// run does each queue's work, SurveyLanes activities at once per queue,
// every queue at once, and returns when all is done.
func (s *survey) run(ctx workflow.Context, work [][]surveyWork) {
	wg := workflow.NewWaitGroup(ctx)
	for _, items := range work {
		for lane := range min(SurveyLanes, len(items)) {
			wg.Add(1)
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer wg.Done()
				for i := lane; i < len(items); i += SurveyLanes {
					if items[i].scope != nil {
						s.list(ctx, items[i].queue, *items[i].scope)
					} else {
						s.read(ctx, items[i].queue, *items[i].batch)
					}
				}
			})
		}
	}
	wg.Wait(ctx)
}

// read runs one SurveyTargets activity and adds its targets to the report;
// a batch that could not be read is unknown, with the reason.
func (s *survey) read(ctx workflow.Context, q *surveyQueue, b SurveyBatch) {
	what := "read"
	if b.Orphans {
		what = "read orphans:"
	}
	opts := surveyOptions(q.TaskQueue, fmt.Sprintf("%s %d targets in %s/%s from %s", what, len(b.Targets), q.Cloud, q.Boundary, b.Targets[0].ID()))
	var observed []pipelines.Observed
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), (*Activities).SurveyTargets, b).Get(ctx, &observed)
	s.report.Targets = append(s.report.Targets, AssessBatch(b, observed, surveyError(q, err), s.expectation)...)
}

// list runs one SurveyManaged activity and keeps what the spec does not
// have as orphans to read.
func (s *survey) list(ctx workflow.Context, q *surveyQueue, scope SurveyScope) {
	where := fmt.Sprintf("%s/%s/%s", scope.Cloud, scope.Boundary, scope.Region)
	if scope.Runtime != "" {
		where += " on " + scope.Runtime
	}
	opts := surveyOptions(q.TaskQueue, "list what Meridian deployed in "+where)
	var managed []placement.Target
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), (*Activities).SurveyManaged, scope).Get(ctx, &managed); err != nil {
		s.report.Unlisted = append(s.report.Unlisted, pipelines.Unlisted{Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region, Reason: surveyError(q, err)})
		return
	}
	s.report.Listed++
	for _, t := range managed {
		if !s.inSpec[t.ID()] && (!s.in.Narrowed || s.expect[t.Service] != nil) {
			q.orphans = append(q.orphans, t)
		}
	}
}

func (s *survey) expectation(service string) *pipelines.Expectation { return s.expect[service] }

// AssessBatch assesses the targets of a batch from what SurveyTargets
// observed; every target is unknown for failure when the activity failed
// (failure not empty). Orphans have no expectation; the spec's targets
// that of their service.
func AssessBatch(b SurveyBatch, observed []pipelines.Observed, failure string, expect func(service string) *pipelines.Expectation) []pipelines.FleetTarget {
	out := make([]pipelines.FleetTarget, 0, len(b.Targets))
	for i, t := range b.Targets {
		var o pipelines.Observed
		switch {
		case failure != "":
			o.Error = failure
		case i < len(observed):
			o = observed[i]
		default:
			o.Error = "not read"
		}
		var e *pipelines.Expectation
		if !b.Orphans {
			e = expect(t.Service)
		}
		state, reason := pipelines.Assess(e, o)
		if b.Orphans && state == pipelines.InSync {
			continue // removed since it was listed
		}
		out = append(out, pipelines.FleetTarget{Target: t, State: state, Reason: reason, Observed: o})
	}
	return out
}

// surveyOptions are the options of the survey's activities: short, a few
// attempts, and unknown soon when no worker serves the boundary.
func surveyOptions(taskQueue, summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              taskQueue,
		ScheduleToStartTimeout: surveyStartTimeout,
		StartToCloseTimeout:    10 * time.Minute,
		HeartbeatTimeout:       heartbeatTimeout,
		Summary:                summary,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	}
}

// surveyError words why a survey activity of queue q failed, "" for nil.
func surveyError(q *surveyQueue, err error) string {
	var timeout *temporal.TimeoutError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		return fmt.Sprintf("no worker took the read within %s: is a meridian worker serving %s/%s (task queue %s)?", surveyStartTimeout, q.Cloud, q.Boundary, q.TaskQueue)
	}
	return rootMessage(err)
}
