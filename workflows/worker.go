package workflows

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// Register registers every workflow and the activities on w. A worker for
// ControlTaskQueue runs Release, ServiceLock, Apply, Survey, Freezes and FleetRollback; a worker for a
// boundary's task queue runs Pipeline (whose stages run inline, in its own
// history) and the activities with that boundary's providers (a survey's
// reads among them). Registering
// everything everywhere is harmless.
func Register(w worker.Registry, acts *Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(acts)
}

// RegisterWorkflows registers the workflows only (for a replayer).
//
// On a versioned worker (worker deployment versioning), a workflow that
// runs one change (a release, its pipelines, an apply, a survey, a fleet
// rollback) stays pinned to the build that started it, so an upgrade of
// Meridian never changes the code under a running release; a pipeline
// that continues as new moves to the current build then. The long-lived
// ones that only hold a queue (the service locks and the freezes) move to
// the current build at their next task: what they run is small and
// guarded by the replay test. An unversioned worker ignores both.
func RegisterWorkflows(w worker.WorkflowRegistry) {
	pinned, upgrade := workflow.VersioningBehaviorPinned, workflow.VersioningBehaviorAutoUpgrade
	w.RegisterWorkflowWithOptions(Release, workflow.RegisterOptions{Name: ReleaseWorkflowName, VersioningBehavior: pinned})
	w.RegisterWorkflowWithOptions(Pipeline, workflow.RegisterOptions{Name: PipelineWorkflowName, VersioningBehavior: pinned})
	w.RegisterWorkflowWithOptions(ServiceLock, workflow.RegisterOptions{Name: LockWorkflowName, VersioningBehavior: upgrade})
	w.RegisterWorkflowWithOptions(Apply, workflow.RegisterOptions{Name: ApplyWorkflowName, VersioningBehavior: pinned})
	w.RegisterWorkflowWithOptions(Survey, workflow.RegisterOptions{Name: SurveyWorkflowName, VersioningBehavior: pinned})
	w.RegisterWorkflowWithOptions(Freezes, workflow.RegisterOptions{Name: FreezesWorkflowName, VersioningBehavior: upgrade})
	w.RegisterWorkflowWithOptions(FleetRollback, workflow.RegisterOptions{Name: FleetRollbackWorkflowName, VersioningBehavior: pinned})
}

// RegisterSearchAttributes adds Meridian's search attributes
// (searchattr.All) to a namespace; ones already registered are left alone.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	return searchattr.Register(ctx, c.OperatorService(), namespace, searchattr.Types())
}
