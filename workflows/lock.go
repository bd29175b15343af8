package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// ReleaseRef names a release workflow.
type ReleaseRef struct {
	ID    string `json:"id"`
	RunID string `json:"runId,omitempty"`
}

// acquired is the answer of the ServiceLock's acquire Update.
type acquired struct {
	Release  ReleaseRef `json:"release"`
	Attached bool       `json:"attached"`
}

// busyErrorType types the rejection of a different change mid-release.
const busyErrorType = "MeridianBusy"

// lockIdle is how long an idle lock lives before it ends.
const lockIdle = time.Minute

// ServiceLock serializes a service's releases, race-free: StartRelease sends
// it an acquire Update with update-with-start (workflow ID lock/<service>,
// conflict policy use-existing). The Update's handler starts the Release as
// a child (ID release/<service>/<change-id>, reuse policy reject-duplicate,
// parent-close policy abandon) and holds the lock until that child ends.
// The same change id again attaches to its release, even after it ended
// (StartRelease then refuses the attach when the release's change differs:
// see checkSameChange); a
// different change while one is running (including its rollback window)
// is rejected by the validator (so the rejection leaves no history).
// Refusing, rather than queueing, keeps an operator in charge of what rolls
// next.
func ServiceLock(ctx workflow.Context, service string) error {
	var holder ReleaseRef
	err := workflow.SetUpdateHandlerWithOptions(ctx, updateAcquire,
		func(ctx workflow.Context, req ReleaseRequest) (acquired, error) {
			id := ReleaseID(req.Service, req.Change.ID)
			if holder.ID == id {
				return acquired{Release: holder, Attached: true}, nil
			}
			holder = ReleaseRef{ID: id}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID:            id,
				TaskQueue:             ControlTaskQueue,
				WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
				ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_ABANDON,
				StaticSummary:         releaseSummary(req),
				StaticDetails:         releaseStaticDetails(req),
				TypedSearchAttributes: temporal.NewSearchAttributes(
					searchattr.Service.ValueSet(req.Service), searchattr.ChangeID.ValueSet(req.Change.ID),
					searchattr.Trigger.ValueSet(req.Change.Trigger), searchattr.Phase.ValueSet(string(PhaseRunning)),
				),
			})
			f := workflow.ExecuteChildWorkflow(cctx, Release, req)
			var exec workflow.Execution
			if err := f.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
				holder = ReleaseRef{}
				if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
					return acquired{Release: ReleaseRef{ID: id}, Attached: true}, nil
				}
				return acquired{}, err
			}
			holder.RunID = exec.RunID
			workflow.Go(ctx, func(ctx workflow.Context) {
				_ = f.Get(ctx, nil)
				holder = ReleaseRef{}
			})
			return acquired{Release: holder}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, req ReleaseRequest) error {
			if req.Service != service {
				return fmt.Errorf("lock of %s cannot start a release of %s", service, req.Service)
			}
			if err := req.Validate(); err != nil {
				return err
			}
			if id := ReleaseID(req.Service, req.Change.ID); holder.ID != "" && holder.ID != id {
				return temporal.NewApplicationError(fmt.Sprintf(
					"service %s is mid-release (%s); wait for it to end or abort it", service, holder.ID), busyErrorType, holder.ID)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	for {
		held, _ := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout: lockIdle, TimerOptions: workflow.TimerOptions{Summary: "idle: the lock ends unless a release starts"},
		}, func() bool { return holder.ID != "" })
		if !held && workflow.AllHandlersFinished(ctx) {
			return nil
		}
		_ = workflow.Await(ctx, func() bool { return holder.ID == "" && workflow.AllHandlersFinished(ctx) })
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, ServiceLock, service)
		}
	}
}
