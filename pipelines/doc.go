// Package pipelines turns a compiled placement model into the rollout plan:
// one Pipeline per (service, cloud, boundary), each an ordered list of stages
// of targets (Build), compares two plans for a pull request (Diff) and says
// what merging the change starts, one Release per service (Releases), and
// assesses a stage's health gates from their observations (AssessGate,
// GateTallies: a typed GateVerdict per gate and target), and assesses what
// runs on each target against what the spec expects (Expect, Assess: a
// typed SyncState per target, gathered in a FleetReport).
// Everything here is pure: no I/O, no clock, and the same model always gives
// the same plan.
package pipelines
