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
func RegisterWorkflows(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(Release, workflow.RegisterOptions{Name: ReleaseWorkflowName})
	w.RegisterWorkflowWithOptions(Pipeline, workflow.RegisterOptions{Name: PipelineWorkflowName})
	w.RegisterWorkflowWithOptions(ServiceLock, workflow.RegisterOptions{Name: LockWorkflowName})
	w.RegisterWorkflowWithOptions(Apply, workflow.RegisterOptions{Name: ApplyWorkflowName})
	w.RegisterWorkflowWithOptions(Survey, workflow.RegisterOptions{Name: SurveyWorkflowName})
	w.RegisterWorkflowWithOptions(Freezes, workflow.RegisterOptions{Name: FreezesWorkflowName})
	w.RegisterWorkflowWithOptions(FleetRollback, workflow.RegisterOptions{Name: FleetRollbackWorkflowName})
}

// RegisterSearchAttributes adds Meridian's search attributes
// (searchattr.All) to a namespace; ones already registered are left alone.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	return searchattr.Register(ctx, c.OperatorService(), namespace, searchattr.Types())
}
