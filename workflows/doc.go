// Package workflows runs releases as Temporal workflows.
//
// A Release (one change to one service, ID release/<service>/<change-id>,
// on ControlTaskQueue) starts one child Pipeline per (cloud, boundary) on
// that boundary's task queue, honouring the boundaries' After and Lag
// rules. A Pipeline runs its stages in order, inline in its own history:
// it rolls the change out to a stage's targets with bounded parallelism
// (one Rollout activity per target: deploy or apply config or restart,
// wait until ready, check the gates once), then bakes the stage (an
// EvaluateGates activity every gate interval, assessed by the pure
// functions of package pipelines) and waits for approval when the stage
// asks.
// Failures, aborts and rollback requests unwind the changes saga-style,
// newest first, in a disconnected context, per the pipeline's rollback
// policy (automatic, stage or manual). A pipeline that succeeded stays
// open until its Release ends, so that it unwinds itself when the Release
// later rolls back.
//
// Freezes hold forward stages, never compensations: before each stage a
// Pipeline asks whether a freeze of the spec (carried in its input) or an
// emergency freeze (the Freezes workflow's memo, read by a local activity)
// covers one of its targets, and waits in phase frozen until it ends, is
// lifted (unfreeze signals frozen pipelines) or is overridden.
//
// A FleetRollback (rollback/<time>) undoes releases newest first, one at
// a time: the rollback Update for a running one, a revert release
// (KindRevert) for an ended one, which restores the revisions its
// pipelines' results recorded where nothing changed them since.
//
// Releases are serialized per service by a ServiceLock workflow: a
// repeated trigger of the same change attaches to its release, and a
// different change mid-release is refused, or queued when asked (apply
// always asks): the newest queued change supersedes an older one (see
// StartRelease and ServiceLock).
//
// An apply change (KindApply) is what a merged spec change does to one
// service: config and version to every target, or both to added targets
// only, through the stages those belong to, then decommission pipelines
// that remove the removed targets once every forward pipeline succeeded
// (stages in reverse order; the compensation puts back what ran). The
// Apply workflow (apply/<change-id>) is one merge in the Web UI: its
// releases tell it of every phase they go through.
//
// A Survey (survey/<time>-<digest>, on ControlTaskQueue) reads what runs
// on every target of a spec for meridian fleet: batches of targets read by
// SurveyTargets activities on each boundary's own task queue, a
// SurveyManaged listing per region for orphans, each target assessed
// against the spec by pipelines.Assess; FleetReport reads the report from
// its history.
//
// Histories stay small: a Pipeline records about 4 events per target and a
// handful per stage and bake round, and continues as new between stages
// once its history passes MaxHistory events (10,000 by default); a Release
// holds a handful of events per pipeline and status report.
//
// Workflow code must stay deterministic and replay-compatible: guard any
// change in its commands with workflow.GetVersion, and refresh the recorded
// histories in testdata/histories (go test ./workflows -run TestRecordHistories -record)
// only when the change is meant to be incompatible with running releases.
package workflows
