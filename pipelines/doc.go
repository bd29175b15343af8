// Package pipelines turns a compiled placement model into the rollout plan:
// one Pipeline per (service, cloud, boundary), each an ordered list of stages
// of targets (Build), and compares two plans for a pull request (Diff).
// Everything here is pure: no I/O, no clock, and the same model always gives
// the same plan.
package pipelines
