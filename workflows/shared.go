package workflows

import (
	"encoding/json"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// ControlTaskQueue runs Release and ServiceLock workflows. They only
// orchestrate; every provider call runs on a boundary's task queue.
const ControlTaskQueue = placement.ControlTaskQueue

// Workflow, update, signal and query names.
const (
	ReleaseWorkflowName  = "Release"
	PipelineWorkflowName = "Pipeline"
	LockWorkflowName     = "ServiceLock"
	ApplyWorkflowName    = "Apply"
	FreezesWorkflowName  = "Freezes"

	QueryStatus = "status"

	UpdateFreeze   = "freeze"   // Freezes: declare an emergency freeze
	UpdateUnfreeze = "unfreeze" // Freezes: lift one, or all

	UpdateApprove  = "approve"
	UpdatePromote  = "promote"
	UpdatePause    = "pause"
	UpdateResume   = "resume"
	UpdateAbort    = "abort"
	UpdateRollback = "rollback"

	updateAcquire   = "acquire"   // ServiceLock: start or attach to a release
	signalEnqueue   = "enqueue"   // ServiceLock: start or queue a release, unanswered
	signalCommand   = "command"   // Release → Pipeline: an operator action
	signalProgress  = "progress"  // Pipeline → Release: status changes
	signalDequeue   = "dequeue"   // ServiceLock → queued Release: your turn
	signalSupersede = "supersede" // ServiceLock → queued Release: a newer change replaces you
	signalRelease   = "release"   // Release → Apply: the release's phase
	signalRefused   = "refused"   // ServiceLock → Apply: a release that could not start
	signalThaw      = "thaw"      // Freezes → frozen Pipeline: a freeze was lifted, look again

	actionClose = "close" // Release → open Pipeline: the release ended, end succeeded
	// actionOverrideFreeze is the event of a release let through freezes
	// (at its start, or by resume with OverrideFreeze).
	actionOverrideFreeze = "override-freeze"
)

// ChangeKind is what a release changes.
type ChangeKind string

const (
	KindVersion ChangeKind = "version" // roll a new artifact version out
	KindConfig  ChangeKind = "config"  // apply a new config version
	KindRestart ChangeKind = "restart" // restart every instance, shard-aware
	// KindApply makes a service's targets what a merged spec change says
	// (meridian apply): see Change.Parts.
	KindApply ChangeKind = "apply"
	// KindDecommission is the compensation of a decommissioned target: it
	// puts back what Remove took off (see Compensation.Removal).
	KindDecommission ChangeKind = "decommission"
	// KindRevert undoes an earlier release that has ended (meridian
	// rollback --since, --to): it makes Change.Restore's compensations,
	// the undone release's recorded changes, on their targets, where the
	// undone release's revision is still live (or Force).
	KindRevert ChangeKind = "revert"
)

// Change is one change to one service. It never carries credentials.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// ID identifies the change (a commit, a digest of spec and version);
	// the same ID always means the same release.
	ID      string `json:"id"`
	Version string `json:"version,omitempty"` // artifact version (version) or config version (config)
	Image   string `json:"image,omitempty"`
	// Config is the JSON config document of a config or apply change.
	Config  json.RawMessage `json:"config,omitempty"`
	Trigger string          `json:"trigger,omitempty"` // cli, ci, api…
	Who     string          `json:"who,omitempty"`

	// An apply change carries everything a merged spec change does to the
	// service (a pipelines.Release): Version and Image are the artifact the
	// service runs after it, Config and ConfigVersion its config document.
	// Each target of its forward pipelines gets the artifact when Parts has
	// version or newService, the config when Parts has config or
	// newService, and both when it is in Added; a target that gets nothing
	// is skipped, and so is a stage with no such target. Its decommission
	// pipelines remove their targets once every forward pipeline has
	// succeeded.
	ConfigVersion string                  `json:"configVersion,omitempty"`
	Parts         []pipelines.ReleasePart `json:"parts,omitempty"`
	Added         []string                `json:"added,omitempty"`
	// Supersedes lists the queued releases of the service this change
	// replaced (latest wins); an apply change carries their parts too.
	Supersedes []string `json:"supersedes,omitempty"`

	// A revert change names the release it undoes (Reverts) and carries,
	// oldest first, the changes of that release still in effect (Restore,
	// from its pipelines' results). Force restores a target even where
	// another release changed it since.
	Reverts string         `json:"reverts,omitempty"`
	Restore []Compensation `json:"restore,omitempty"`
	Force   bool           `json:"force,omitempty"`
}

// ReleaseRequest is the Release workflow's input: the change and the
// service's part of the plan.
type ReleaseRequest struct {
	Service   string               `json:"service"`
	Change    Change               `json:"change"`
	Pipelines []pipelines.Pipeline `json:"pipelines"`
	Gates     []placement.Gate     `json:"gates,omitempty"`
	Sharding  *placement.Sharding  `json:"sharding,omitempty"`
	Instances int                  `json:"instances,omitempty"`
	// Workload is the service's Kubernetes workload (placement.Kubernetes)
	// for its targets on Kubernetes clusters.
	Workload json.RawMessage `json:"workload,omitempty"`
	// RollbackWindow keeps a succeeded release open this long so that an
	// operator can still roll it back (0: the release ends at once).
	RollbackWindow placement.Duration `json:"rollbackWindow,omitempty"`
	// MaxHistory is the history length past which a pipeline continues as
	// new between stages (0: 10,000 events).
	MaxHistory int `json:"maxHistory,omitempty"`
	// Queue asks the service's lock to queue the change behind a running
	// release instead of refusing it; a newer queued change supersedes an
	// older queued one (latest wins). meridian apply always queues.
	Queue bool `json:"queue,omitempty"`
	// Behind is set by the lock on a queued release: the release it waits
	// for. The release starts nothing until the lock tells it to.
	Behind string `json:"behind,omitempty"`
	// Apply is the apply workflow this release belongs to, told of every
	// phase the release goes through.
	Apply string `json:"apply,omitempty"`
	// Freezes are the spec's freezes that may cover the service: a stage
	// they cover waits while they hold, as it does for emergency freezes
	// (meridian freeze, asked of the Freezes workflow before each stage).
	Freezes []placement.Freeze `json:"freezes,omitempty"`
	// OverrideFreeze, when set, is why the release goes through freezes;
	// it is recorded in the release's events with Change.Who.
	OverrideFreeze string `json:"overrideFreeze,omitempty"`
}

// ReleaseID is the workflow ID of a change to a service.
func ReleaseID(service, changeID string) string { return "release/" + service + "/" + changeID }

// LockID is the workflow ID of a service's release lock.
func LockID(service string) string { return "lock/" + service }

// Phase is where a release, pipeline or stage is.
type Phase string

const (
	PhasePending          Phase = "pending" // not started (waiting for After boundaries or Lag)
	PhaseRunning          Phase = "running"
	PhaseBaking           Phase = "baking" // pipelines only; a release reports running
	PhaseAwaitingApproval Phase = "awaiting-approval"
	PhasePaused           Phase = "paused"
	PhaseFrozen           Phase = "frozen" // waiting before a stage that a freeze holds
	PhaseRollingBack      Phase = "rolling-back"
	PhaseSucceeded        Phase = "succeeded"
	PhaseRolledBack       Phase = "rolled-back"
	PhaseFailed           Phase = "failed" // a rollback step failed: see LeftAsIs
	PhaseAborted          Phase = "aborted"
	PhaseSkipped          Phase = "skipped"    // a pipeline never started because the release ended
	PhaseQueued           Phase = "queued"     // waiting behind the service's running release
	PhaseSuperseded       Phase = "superseded" // queued, then replaced by a newer change
)

// Terminal reports whether nothing more will happen in phase p.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseSucceeded, PhaseRolledBack, PhaseFailed, PhaseAborted, PhaseSkipped, PhaseSuperseded:
		return true
	}
	return false
}

// Status is the live status of a release, returned by the status Query.
type Status struct {
	Release  string     `json:"release"`
	Service  string     `json:"service"`
	ChangeID string     `json:"changeId"`
	Kind     ChangeKind `json:"kind"`
	Version  string     `json:"version,omitempty"`
	Trigger  string     `json:"trigger,omitempty"`
	Phase    Phase      `json:"phase"`
	Started  time.Time  `json:"started"`
	Ended    time.Time  `json:"ended,omitzero"`
	Reason   string     `json:"reason,omitempty"` // why the release failed or stopped
	// Behind is the release a queued release waits for; SupersededBy the
	// release that replaced it.
	Behind       string           `json:"behind,omitempty"`
	SupersededBy string           `json:"supersededBy,omitempty"`
	Pipelines    []PipelineStatus `json:"pipelines"`
	// LeftAsIs lists the targets a failed rollback left at the new revision.
	LeftAsIs []string `json:"leftAsIs,omitempty"`
	// LeftAlone lists, "target: why", the targets a revert did not touch
	// because another release changed them since.
	LeftAlone []string `json:"leftAlone,omitempty"`
	Events    []Event  `json:"events,omitempty"`
}

// PipelineStatus is one pipeline of a release.
type PipelineStatus struct {
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	// Decommission marks a pipeline that removes targets (see
	// pipelines.Pipeline.Decommission).
	Decommission bool   `json:"decommission,omitempty"`
	WorkflowID   string `json:"workflowId"`
	TaskQueue    string `json:"taskQueue"`
	Stage        string `json:"stage"` // the current (or last) stage; "" before the first
	Stages       int    `json:"stages"`
	Phase        Phase  `json:"phase"`
	Done         int    `json:"done"`  // targets of the current stage done
	Total        int    `json:"total"` // targets of the current stage
	Reason       string `json:"reason,omitempty"`
	// Approvals names who approved the stage awaiting approval, and
	// ApprovalsNeeded how many distinct approvals it still needs.
	Approvals       []string `json:"approvals,omitempty"`
	ApprovalsNeeded int      `json:"approvalsNeeded,omitempty"`
}

// Event is an operator action or a notable engine event.
type Event struct {
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Who      string    `json:"who,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Pipeline string    `json:"pipeline,omitempty"` // cloud/boundary
	Stage    string    `json:"stage,omitempty"`
}

// Request is the argument of every operator Update.
type Request struct {
	// Stage names the stage to approve; empty approves whichever stage waits.
	Stage  string `json:"stage,omitempty"`
	Who    string `json:"who"`
	Reason string `json:"reason,omitempty"`
	// OverrideFreeze, on resume, lets the release through the freezes
	// that hold it (Reason says why).
	OverrideFreeze bool `json:"overrideFreeze,omitempty"`
}

// command is an operator action forwarded from a Release to its Pipelines.
type command struct {
	Action string  `json:"action"` // an Update name
	Req    Request `json:"req"`
}

// progress is a Pipeline's status change, reported to its Release.
type progress struct {
	Pipeline string `json:"pipeline"` // cloud/boundary
	// Seq numbers the pipeline's reports (0 in runs recorded before it):
	// the release ignores one older than what it has.
	Seq int `json:"seq,omitempty"`
	// Open marks a pipeline that succeeded and waits for the release to
	// close it or roll it back.
	Open   bool           `json:"open,omitempty"`
	Status PipelineStatus `json:"status"`
}

// PipelineInput is the Pipeline workflow's input.
type PipelineInput struct {
	Release   string              `json:"release"`
	Service   string              `json:"service"`
	Change    Change              `json:"change"`
	Pipeline  pipelines.Pipeline  `json:"pipeline"`
	Gates     []placement.Gate    `json:"gates,omitempty"`
	Sharding  *placement.Sharding `json:"sharding,omitempty"`
	Instances int                 `json:"instances,omitempty"`
	Workload  json.RawMessage     `json:"workload,omitempty"`
	// MaxHistory is the history length past which the pipeline continues
	// as new between stages (default 10,000 events).
	MaxHistory int `json:"maxHistory,omitempty"`
	// Freezes are the spec's freezes (see ReleaseRequest.Freezes);
	// OverrideFreeze lets the pipeline through every freeze.
	Freezes        []placement.Freeze `json:"freezes,omitempty"`
	OverrideFreeze bool               `json:"overrideFreeze,omitempty"`
	// State is the progress carried over by continue-as-new.
	State *PipelineState `json:"state,omitempty"`
}

// PipelineState carries a pipeline's progress across continue-as-new.
type PipelineState struct {
	Next     int              `json:"next"` // the stage to run next
	Changed  [][]Compensation `json:"changed"`
	Approved []string         `json:"approved,omitempty"`
	Paused   bool             `json:"paused,omitempty"`
	// Approvals lists, per stage, who approved it (a stage may need more
	// than one person).
	Approvals map[string][]string `json:"approvals,omitempty"`
	Reports   int                 `json:"reports,omitempty"` // progress reports sent so far
	LeftAlone []string            `json:"leftAlone,omitempty"`
}

// PipelineResult is how a pipeline ended.
type PipelineResult struct {
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Changed lists, oldest first, the changes still in effect, so that the
	// Release can roll a succeeded pipeline back.
	Changed   []Compensation `json:"changed,omitempty"`
	LeftAsIs  []string       `json:"leftAsIs,omitempty"`
	LeftAlone []string       `json:"leftAlone,omitempty"` // see Status.LeftAlone
}

// Compensation undoes one change: it makes Previous live again on Target.
// A decommission's compensation (KindDecommission) restores Removal and
// ConfigRemoval instead, and undrains the Drained instances.
type Compensation struct {
	Target        placement.Target      `json:"target"`
	Kind          ChangeKind            `json:"kind"`
	Revision      string                `json:"revision"`
	Previous      string                `json:"previous"`
	Removal       *driver.Removal       `json:"removal,omitempty"`
	ConfigRemoval *driver.ConfigRemoval `json:"configRemoval,omitempty"`
	Drained       []string              `json:"drained,omitempty"`
}

// RolloutInput is the argument of the Rollout activity: one target's change.
type RolloutInput struct {
	Target    placement.Target    `json:"target"`
	Change    Change              `json:"change"`
	Gates     []placement.Gate    `json:"gates,omitempty"`
	Sharding  *placement.Sharding `json:"sharding,omitempty"`
	Instances int                 `json:"instances,omitempty"`
	// Workload is set on Kubernetes targets: what their deploy applies.
	Workload json.RawMessage `json:"workload,omitempty"`
}

// RolloutResult is what the Rollout activity did on one target.
type RolloutResult struct {
	Deployment driver.Deployment `json:"deployment"`
	// Failure is set when the change was made but the target never became
	// ready: the deployment must still be compensated.
	Failure      string                      `json:"failure,omitempty"`
	Observations []pipelines.GateObservation `json:"observations,omitempty"`
	// LeftAlone says why a revert step changed nothing: another release
	// changed the target since.
	LeftAlone string `json:"leftAlone,omitempty"`
}

// RevertInput is the argument of the Revert activity: one change of an
// undone release to make undone on its target.
type RevertInput struct {
	Undo  Compensation     `json:"undo"`
	Force bool             `json:"force,omitempty"`
	Gates []placement.Gate `json:"gates,omitempty"`
}

// DecommissionInput is the argument of the Decommission activity.
type DecommissionInput struct {
	Target   placement.Target    `json:"target"`
	Sharding *placement.Sharding `json:"sharding,omitempty"`
}

// DecommissionResult is what the Decommission activity did on one target:
// Undo puts it back. Failure is set when the removal was made but nothing
// said it finished: it must still be compensated.
type DecommissionResult struct {
	Undo    Compensation `json:"undo"`
	Failure string       `json:"failure,omitempty"`
}

// GateCheck is the argument of the EvaluateGates activity.
type GateCheck struct {
	Targets []placement.Target `json:"targets"`
	Gates   []placement.Gate   `json:"gates"`
}
