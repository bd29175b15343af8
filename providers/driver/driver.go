// Package driver defines the interfaces a cloud driver implements. Users
// use the portable types in package providers, which wrap these; drivers
// return their SDK's raw errors and classify them with ErrorCode.
//
// A driver is written per cloud service (awsecs, gcprun, …), not per cloud.
// Deployer is the one required capability; the others are optional and a
// driver may implement any subset, checked with a type assertion or composed
// by the portable type.
package driver

import (
	"context"
	"fmt"

	"github.com/meridian-deploy/meridian/placement"
)

// Code classifies a driver error. Callers branch on codes, never on text.
type Code int

const (
	Unknown          Code = iota // unclassified: retried
	NotFound                     // the target, revision or resource does not exist
	Conflict                     // a concurrent change is in progress: retried
	Throttled                    // rate limited: retried with backoff
	Unavailable                  // transient server error (5xx): retried
	PermissionDenied             // credentials lack a permission
	Invalid                      // the request can never succeed (bad image, bad config)
	Failed                       // the rollout itself failed (circuit breaker, unhealthy revision)
	Canceled                     // the context was canceled
)

var codeNames = [...]string{"unknown", "not-found", "conflict", "throttled", "unavailable", "permission-denied", "invalid", "failed", "canceled"}

func (c Code) String() string {
	if c < 0 || int(c) >= len(codeNames) {
		return "unknown"
	}
	return codeNames[c]
}

// Retryable reports whether an operation that failed with c may succeed if tried again.
func (c Code) Retryable() bool {
	switch c {
	case Unknown, Conflict, Throttled, Unavailable:
		return true
	}
	return false
}

// Error is an error a driver raises itself (not its SDK), with its code.
// A driver's ErrorCode returns the code of the first *Error in an error's
// chain.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with code c.
func Errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// ErrorCoder classifies the driver's own errors.
type ErrorCoder interface {
	ErrorCode(error) Code
}

// State is the rollout state of a revision on a target.
type State string

const (
	StateProgressing State = "progressing"
	StateReady       State = "ready"
	StateFailed      State = "failed"
)

// Status is a revision's rollout progress on a target.
type Status struct {
	Revision string `json:"revision"`
	State    State  `json:"state"`
	Ready    int    `json:"ready"`   // instances serving the revision and healthy
	Desired  int    `json:"desired"` // instances wanted
	Reason   string `json:"reason,omitempty"`
}

// DeployRequest asks for Image:Version to run on Target.
type DeployRequest struct {
	Target  placement.Target `json:"target"`
	Image   string           `json:"image"`
	Version string           `json:"version"`
	// ChangeID identifies the release; drivers may record it on the revision.
	ChangeID  string              `json:"changeId"`
	Instances int                 `json:"instances"`
	Sharding  *placement.Sharding `json:"sharding,omitempty"`
}

// Deployment is what Deploy changed.
type Deployment struct {
	// Revision is the revision now rolling out (or already live).
	Revision string `json:"revision"`
	// Previous is the revision that was live (serving) before, whoever
	// deployed it; "" only when nothing was running at all.
	Previous string `json:"previous"`
	// Changed is false when Revision was already live and nothing was done.
	Changed bool `json:"changed"`
}

// Deployer rolls versions out to targets. Deploy must be idempotent:
// deploying the version that is already live (or rolling out) changes
// nothing and reports the same revision.
type Deployer interface {
	ErrorCoder
	Deploy(ctx context.Context, req DeployRequest) (Deployment, error)
	// Status reports the progress of revision on the target.
	Status(ctx context.Context, t placement.Target, revision string) (Status, error)
	// Rollback makes revision live again; progress is read with Status.
	//
	// Rollback(ctx, t, "") undoes a first deploy: nothing was running on t
	// before (Deployment.Previous was ""), so it removes what Meridian
	// started there (stops the instances, scales to zero, deletes a service
	// Meridian created). Its progress is read with Status(ctx, t, ""),
	// which reports StateReady with Desired 0 once nothing runs; NotFound
	// (the target itself is gone) means the same. The next Deploy reports
	// Previous "". A driver that cannot remove what it started returns an
	// error with code Invalid, and the target is left as it is.
	Rollback(ctx context.Context, t placement.Target, revision string) error
}

// ConfigRequest asks for a config version to be applied to a target.
type ConfigRequest struct {
	Target  placement.Target `json:"target"`
	Version string           `json:"version"`
	Data    []byte           `json:"data"` // JSON document
}

// Configurer delivers config versions. ApplyConfig is idempotent like Deploy.
type Configurer interface {
	ErrorCoder
	ApplyConfig(ctx context.Context, req ConfigRequest) (Deployment, error)
	ConfigStatus(ctx context.Context, t placement.Target, version string) (Status, error)
	// RollbackConfig makes version the live config again.
	RollbackConfig(ctx context.Context, t placement.Target, version string) error
}

// Health is a gate observation's verdict.
type Health string

const (
	Healthy   Health = "healthy"
	Unhealthy Health = "unhealthy"
	// HealthUnknown means there is no data yet (an alarm with insufficient data).
	HealthUnknown Health = "unknown"
)

// Observation is one evaluation of a gate on a target.
type Observation struct {
	Health  Health  `json:"health"`
	Value   float64 `json:"value,omitempty"`
	Message string  `json:"message,omitempty"`
}

// GateEvaluator evaluates health gates (HTTP probes, alarms, metrics).
type GateEvaluator interface {
	ErrorCoder
	EvaluateGate(ctx context.Context, t placement.Target, g placement.Gate) (Observation, error)
}

// Instance is one running instance of a service on a target.
type Instance struct {
	ID       string `json:"id"`
	Address  string `json:"address,omitempty"` // host:port where it serves
	Revision string `json:"revision"`
	Ready    bool   `json:"ready"`
}

// Restarter lists and restarts individual instances, for shard-aware restarts.
type Restarter interface {
	ErrorCoder
	Instances(ctx context.Context, t placement.Target) ([]Instance, error)
	// RestartInstance restarts one instance in place; readiness is read with Instances.
	RestartInstance(ctx context.Context, t placement.Target, id string) error
}

// Sharder moves an auto-sharded service's shards off an instance before it
// restarts, and back after (a generic HTTP drain protocol, Dicer, …).
type Sharder interface {
	ErrorCoder
	// Drain asks the sharder to move every shard off the instance.
	Drain(ctx context.Context, t placement.Target, inst Instance) error
	// Owned reports how many shards the instance still owns.
	Owned(ctx context.Context, t placement.Target, inst Instance) (int, error)
	// Undrain lets the sharder assign shards to the instance again.
	Undrain(ctx context.Context, t placement.Target, inst Instance) error
}
