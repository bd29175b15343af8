package workflows

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// FreezesID is the workflow ID of the Freezes workflow: one per namespace.
const FreezesID = "freezes"

// freezesMemo is the memo field that holds the Freezes workflow's
// FreezeList, so that pipelines read it with DescribeWorkflowExecution,
// which needs no worker (a Query would need a control worker up).
const freezesMemo = "freezes"

// Bounds of the Freezes workflow's state, which lives in a memo.
const (
	maxActiveFreezes = 100
	maxFreezeLog     = 50
)

// FreezeList is the Freezes workflow's state: the emergency freezes in
// force and, oldest first, the last declarations and lifts.
type FreezeList struct {
	Active []placement.Freeze `json:"active"`
	Log    []FreezeEvent      `json:"log,omitempty"`
	// Declared counts the freezes declared so far (it names unnamed ones).
	Declared int `json:"declared,omitempty"`
}

// FreezeEvent is a declaration or a lift of an emergency freeze.
type FreezeEvent struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"` // freeze or unfreeze
	Name   string    `json:"name"`
	Who    string    `json:"who"`
	Reason string    `json:"reason"`
}

// Unfreeze is the argument of the unfreeze Update: the freeze to lift
// (every one when Name is empty), who lifts it and why.
type Unfreeze struct {
	Name   string `json:"name,omitempty"`
	Who    string `json:"who"`
	Reason string `json:"reason,omitempty"`
}

// Unfrozen is the unfreeze Update's answer: what was lifted, and how many
// frozen pipelines were told to look again.
type Unfrozen struct {
	Lifted []string   `json:"lifted"`
	Woken  int        `json:"woken"`
	List   FreezeList `json:"list"`
}

// freezeName is what an emergency freeze may be called.
var freezeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// Freezes keeps the emergency freezes (meridian freeze, unfreeze), on the
// control task queue under FreezesID. Each is declared with who and why
// by the freeze Update and lifted by the unfreeze Update; the list is the
// workflow's memo, which every pipeline reads before each stage (see
// Activities.EmergencyFreezes). Lifting a freeze tells the pipelines it
// holds to look again at once. Expired freezes are dropped at the next
// change; the workflow continues as new when its history grows.
func Freezes(ctx workflow.Context, list FreezeList) error {
	f := &freezesRun{list: list}
	if err := f.publish(ctx); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateFreeze, f.declare, workflow.UpdateHandlerOptions{Validator: f.canDeclare}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateUnfreeze, f.lift, workflow.UpdateHandlerOptions{Validator: f.canLift}); err != nil {
		return err
	}
	_ = workflow.Await(ctx, func() bool {
		return workflow.GetInfo(ctx).GetContinueAsNewSuggested() || workflow.GetInfo(ctx).GetCurrentHistoryLength() > 5000
	})
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return workflow.NewContinueAsNewError(ctx, Freezes, f.list)
}

type freezesRun struct{ list FreezeList }

// publish writes the list to the memo, and to the Web UI's current
// details as a table.
func (f *freezesRun) publish(ctx workflow.Context) error {
	workflow.SetCurrentDetails(ctx, freezesDetails(f.list))
	return workflow.UpsertMemo(ctx, map[string]any{freezesMemo: f.list})
}

// freezesDetails is the list as markdown: the freezes in force, then the
// latest declarations and lifts, newest first.
func freezesDetails(list FreezeList) string {
	var b strings.Builder
	b.WriteString("**Emergency freezes in force**\n\n| name | scope | since | until | who | reason |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, fz := range list.Active {
		until := "lifted"
		if !fz.End.IsZero() {
			until = fz.End.UTC().Format(time.RFC3339)
		}
		printf(&b, "| %s | %s | %s | %s | %s | %s |\n", fz.Name, fz.Scope, fz.Start.UTC().Format(time.RFC3339), until, fz.Who, fz.Reason)
	}
	b.WriteString("\n**Latest**\n\n| time | action | name | who | reason |\n| --- | --- | --- | --- | --- |\n")
	for _, e := range slices.Backward(list.Log) {
		printf(&b, "| %s | %s | %s | %s | %s |\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Name, e.Who, orDash(e.Reason))
	}
	return b.String()
}

// inForce are the freezes of list that have not ended at now.
func inForce(list []placement.Freeze, now time.Time) []placement.Freeze {
	return slices.DeleteFunc(slices.Clone(list), func(fz placement.Freeze) bool { return !fz.End.IsZero() && !now.Before(fz.End) })
}

func (f *freezesRun) logEvent(ctx workflow.Context, action, name, who, reason string) {
	f.list.Log = append(f.list.Log, FreezeEvent{Time: workflow.Now(ctx), Action: action, Name: name, Who: who, Reason: reason})
	if n := len(f.list.Log); n > maxFreezeLog {
		f.list.Log = slices.Clone(f.list.Log[n-maxFreezeLog:])
	}
}

func (f *freezesRun) canDeclare(ctx workflow.Context, fz placement.Freeze) error {
	now := workflow.Now(ctx)
	active := inForce(f.list.Active, now)
	switch {
	case strings.TrimSpace(fz.Who) == "":
		return errors.New("who is required: say who freezes")
	case strings.TrimSpace(fz.Reason) == "":
		return errors.New("a freeze needs a reason")
	case fz.Name != "" && !freezeName.MatchString(fz.Name):
		return fmt.Errorf("freeze name %q: use lower-case letters, digits, '.', '_' and '-', at most 63", fz.Name)
	case slices.ContainsFunc(active, func(a placement.Freeze) bool { return a.Name == fz.Name }):
		return fmt.Errorf("freeze %s is already in force: lift it first or choose another name", fz.Name)
	case !fz.End.IsZero() && !fz.End.After(now):
		return fmt.Errorf("freeze until %s: that time has passed", fz.End.UTC().Format(time.RFC3339))
	case len(active) >= maxActiveFreezes:
		return fmt.Errorf("%d freezes are in force already: lift some first", len(active))
	}
	return nil
}

func (f *freezesRun) declare(ctx workflow.Context, fz placement.Freeze) (FreezeList, error) {
	f.list.Active = inForce(f.list.Active, workflow.Now(ctx))
	f.list.Declared++
	if fz.Name == "" {
		fz.Name = fmt.Sprintf("freeze-%d", f.list.Declared)
	}
	fz.Start, fz.Weekly = workflow.Now(ctx), nil
	f.list.Active = append(f.list.Active, fz)
	f.logEvent(ctx, UpdateFreeze, fz.Name, fz.Who, fz.Reason)
	return f.list, f.publish(ctx)
}

// lifted are the names of the freezes in active that u lifts.
func lifted(active []placement.Freeze, u Unfreeze) []string {
	var names []string
	for _, fz := range active {
		if u.Name == "" || u.Name == fz.Name {
			names = append(names, fz.Name)
		}
	}
	return names
}

func (f *freezesRun) canLift(ctx workflow.Context, u Unfreeze) error {
	active := inForce(f.list.Active, workflow.Now(ctx))
	switch {
	case strings.TrimSpace(u.Who) == "":
		return errors.New("who is required: say who lifts the freeze")
	case len(active) == 0:
		return errors.New("no emergency freeze is in force")
	case len(lifted(active, u)) == 0:
		var names []string
		for _, fz := range active {
			names = append(names, fz.Name)
		}
		return fmt.Errorf("no freeze %s is in force (in force: %s)", u.Name, strings.Join(names, ", "))
	}
	return nil
}

func (f *freezesRun) lift(ctx workflow.Context, u Unfreeze) (Unfrozen, error) {
	f.list.Active = inForce(f.list.Active, workflow.Now(ctx))
	names := lifted(f.list.Active, u)
	f.list.Active = slices.DeleteFunc(f.list.Active, func(fz placement.Freeze) bool { return slices.Contains(names, fz.Name) })
	for _, n := range names {
		f.logEvent(ctx, UpdateUnfreeze, n, u.Who, u.Reason)
	}
	if err := f.publish(ctx); err != nil {
		return Unfrozen{}, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             "tell frozen pipelines to look again",
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var woken int
	// The pipelines look again on their own within frozenRecheck anyway.
	_ = workflow.ExecuteActivity(actx, (*Activities).WakeFrozen).Get(ctx, &woken)
	return Unfrozen{Lifted: names, Woken: woken, List: f.list}, nil
}

// emergencyFreezesActivity is the registered name of EmergencyFreezes.
const emergencyFreezesActivity = "EmergencyFreezes"

// EmergencyFreezes returns the emergency freezes in force, from the
// Freezes workflow's memo (none when it never ran). Pipelines run it as a
// local activity before each stage.
func (a *Activities) EmergencyFreezes(ctx context.Context) ([]placement.Freeze, error) {
	list, err := readFreezes(ctx, activity.GetClient(ctx))
	return list.Active, err
}

// WakeFrozen signals every frozen pipeline to look at the freezes again,
// and returns how many it told. It runs on the control task queue for the
// Freezes workflow.
func (a *Activities) WakeFrozen(ctx context.Context) (int, error) {
	c := activity.GetClient(ctx)
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = '%s'", PipelineWorkflowName, searchattr.Phase.GetName(), PhaseFrozen)
	woken := 0
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return woken, err
		}
		for _, e := range resp.GetExecutions() {
			if c.SignalWorkflow(ctx, e.GetExecution().GetWorkflowId(), "", signalThaw, nil) == nil {
				woken++
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return woken, nil
		}
	}
}

// readFreezes reads the Freezes workflow's list from its memo: empty when
// it never ran.
func readFreezes(ctx context.Context, c client.Client) (FreezeList, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, FreezesID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return FreezeList{}, nil
	case err != nil:
		return FreezeList{}, fmt.Errorf("read the emergency freezes: %w", err)
	}
	var list FreezeList
	if p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[freezesMemo]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &list); err != nil {
			return FreezeList{}, fmt.Errorf("read the emergency freezes: %w", err)
		}
	}
	return list, nil
}

// ListFreezes returns the emergency freezes in force (expired ones
// dropped) and the log of declarations and lifts.
func ListFreezes(ctx context.Context, c client.Client) (FreezeList, error) {
	list, err := readFreezes(ctx, c)
	list.Active = inForce(list.Active, time.Now())
	return list, err
}

// DeclareFreeze declares an emergency freeze (starting the Freezes
// workflow when it does not run) and returns the freezes then in force.
func DeclareFreeze(ctx context.Context, c client.Client, fz placement.Freeze) (FreezeList, error) {
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       FreezesID,
		TaskQueue:                ControlTaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "emergency freezes (meridian freeze, unfreeze)",
	}, FreezesWorkflowName, FreezeList{})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: UpdateFreeze, Args: []any{fz}, WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	var list FreezeList
	if err == nil {
		err = h.Get(ctx, &list)
	}
	return list, freezeError("freeze", err)
}

// LiftFreeze lifts an emergency freeze, or all of them.
func LiftFreeze(ctx context.Context, c client.Client, u Unfreeze) (Unfrozen, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: FreezesID, UpdateName: UpdateUnfreeze, Args: []any{u}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res Unfrozen
	if err == nil {
		err = h.Get(ctx, &res)
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return Unfrozen{}, errors.New("unfreeze: no emergency freeze is in force")
	}
	return res, freezeError("unfreeze", err)
}

// freezeError is err on one line: an Update's refusal says only why.
func freezeError(what string, err error) error {
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &app):
		return fmt.Errorf("%s: %s", what, app.Message())
	}
	return fmt.Errorf("%s: %w", what, err)
}
