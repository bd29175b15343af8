// Package driver defines the interfaces a cloud driver implements, and
// this package's doc comments are the contract each driver keeps. Users
// use the portable type in package providers, which wraps these; drivers
// return their SDK's raw errors and classify them with ErrorCode.
//
// A driver is written per cloud service (awsecs, gcprun, …), not per cloud.
// Deployer is the one required capability; the others are optional and a
// driver may implement any subset, checked with a type assertion or composed
// by the portable type.
//
// The package is a leaf: it imports only the standard library, and its
// Target, Gate and Sharding are the driver's view of the spec's types,
// which the portable type converts once per call.
//
// Contracts every method keeps, beyond those written on it:
//   - revisions are opaque strings: a caller passes back exactly what
//     Deploy or ApplyConfig returned (or what Deployment.Previous named);
//   - a call whose context is done fails promptly, with an error that
//     wraps the context's error or that ErrorCode classifies as Canceled;
//   - a throttled backend is either retried inside the driver or surfaces
//     as code Throttled.
//
// Deadlines follow one rule. Canceled means the caller's context is done
// (canceled, or its deadline passed): the caller is stopping and another
// attempt belongs to whoever retries it. A deadline the driver or its SDK
// set itself (a per-request timeout, a server's DEADLINE_EXCEEDED) while
// the caller's context is live is Unavailable: the backend was too slow
// and the call may succeed if tried again. ErrorCode cannot see the
// caller's context, so it maps context.Canceled to Canceled and
// context.DeadlineExceeded to Unavailable; the portable type reports
// Canceled for any error returned once the caller's context is done.
package driver

import (
	"context"
	"fmt"
	"strings"
	"time"
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
	Canceled                     // the caller's context is done (see the package doc for deadlines)
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

// Target is where a driver call acts: one service in one environment, on
// one cloud boundary and region, and optionally one cell of it. Drivers
// name their resources after its fields (see Expand).
type Target struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Cloud       string `json:"cloud"`
	Boundary    string `json:"boundary"`
	Region      string `json:"region"`
	Cell        string `json:"cell,omitempty"`
	// Runtime is "kubernetes" for a target on a Kubernetes cluster (its
	// cell), "" where the cloud's managed service runs it; not part of ID.
	Runtime string `json:"runtime,omitempty"`
}

// ID is the target's stable, human-readable identity:
// service/environment/cloud/boundary/region[/cell].
func (t Target) ID() string {
	id := strings.Join([]string{t.Service, t.Environment, t.Cloud, t.Boundary, t.Region}, "/")
	if t.Cell != "" {
		id += "/" + t.Cell
	}
	return id
}

// Gate is a health check a GateEvaluator observes. Exactly one of HTTP,
// Alarm, Metric and Workload is set; a driver that cannot evaluate the
// kind it is given fails with code Invalid.
type Gate struct {
	Name     string
	HTTP     *HTTPGate
	Alarm    *AlarmGate
	Metric   *MetricGate
	Workload *WorkloadGate
}

// WorkloadGate is healthy while the target's own instances run without
// trouble: no container of the live revision restarted, crash-loops or
// was killed for its memory (a Kubernetes pod's status).
type WorkloadGate struct{}

// HTTPGate probes an HTTP path on every instance of the target.
type HTTPGate struct {
	Path   string
	Status int // expected status code (0: 200)
}

// AlarmGate is healthy while the named alarm is not firing. The name may
// hold Expand's placeholders.
type AlarmGate struct {
	Name string
}

// MetricGate compares a metric, aggregated over Window, against a
// threshold.
type MetricGate struct {
	Name      string
	Op        string // "<", "<=", ">", ">="
	Threshold float64
	Window    time.Duration
}

// HealthyWhen returns the test a metric value must pass to be healthy
// (value Op Threshold); ok is false when Op is not one of <, <=, >, >=.
func (m MetricGate) HealthyWhen() (healthy func(value float64) bool, ok bool) {
	t := m.Threshold
	switch m.Op {
	case "<":
		return func(v float64) bool { return v < t }, true
	case "<=":
		return func(v float64) bool { return v <= t }, true
	case ">":
		return func(v float64) bool { return v > t }, true
	case ">=":
		return func(v float64) bool { return v >= t }, true
	}
	return nil, false
}

// Sharding says that a target's service is auto-sharded: which sharder
// moves its shards, and how long a drain may take.
type Sharding struct {
	Sharder        string
	MaxUnavailable int
	DrainTimeout   time.Duration // 0: the driver's default
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
	Target  Target `json:"target"`
	Image   string `json:"image"`
	Version string `json:"version"`
	// ChangeID identifies the release; drivers may record it on the revision.
	ChangeID  string    `json:"changeId"`
	Instances int       `json:"instances"`
	Sharding  *Sharding `json:"sharding,omitempty"`
	// Workload is the target's workload as the spec writes it, JSON, for
	// drivers that deploy one (a Kubernetes Deployment or StatefulSet);
	// nil for the others.
	Workload []byte `json:"workload,omitempty"`
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

// Deployer rolls versions out to targets.
type Deployer interface {
	ErrorCoder
	// Deploy starts rolling req.Image:req.Version out to req.Target and
	// returns without waiting for it to be ready; progress is read with
	// Status. It is idempotent: deploying the version that is already live
	// (or rolling out) changes nothing, reports the same revision and
	// Changed false. Previous is the revision that was live before,
	// whoever deployed it, "" only when nothing ran on the target.
	Deploy(ctx context.Context, req DeployRequest) (Deployment, error)
	// Status reports the progress of revision on the target. A revision
	// the target never had fails with code NotFound. A rollout that
	// failed reports StateFailed with a non-empty Reason; a ready one
	// reports StateReady with Ready == Desired > 0 (Desired 0 only for
	// revision "", below).
	Status(ctx context.Context, t Target, revision string) (Status, error)
	// Rollback makes revision (one Status knows) live again; progress is
	// read with Status. It is idempotent: rolling back to the live
	// revision changes nothing.
	//
	// Rollback(ctx, t, "") undoes a first deploy: nothing was running on t
	// before (Deployment.Previous was ""), so it removes what Meridian
	// started there (stops the instances, scales to zero, deletes a service
	// Meridian created). Its progress is read with Status(ctx, t, ""),
	// which reports StateReady with Desired 0 once nothing runs; NotFound
	// (the target itself is gone) means the same. The next Deploy reports
	// Previous "". A driver that cannot remove what it started returns an
	// error with code Invalid, and the target is left as it is.
	Rollback(ctx context.Context, t Target, revision string) error
}

// Removal is what Remove took off a target: what was live there, for
// Restore to put back.
type Removal struct {
	// Revision is the revision that was live (serving or rolling out) when
	// Remove was called, as Status names it; "" when nothing ran.
	Revision string `json:"revision"`
	// Image and Version are what Revision ran, as a DeployRequest names
	// them; "" when the driver cannot tell (an untagged image).
	Image   string `json:"image,omitempty"`
	Version string `json:"version,omitempty"`
	// Instances is how many instances were desired.
	Instances int `json:"instances,omitempty"`
	// Spec is the driver's own record of what it deleted (a service's or
	// app's definition) for Restore to recreate it. It is opaque like a
	// revision: a caller passes back exactly the Removal Remove returned.
	Spec string `json:"spec,omitempty"`
}

// Remover decommissions targets. It is an optional capability of a
// Deployer.
type Remover interface {
	ErrorCoder
	// Remove stops everything that runs on t, whoever deployed it, and
	// forgets it (stops the instances, deletes the service or app), and
	// returns without waiting; progress is read with Status(ctx, t, ""),
	// which reports StateReady with Desired 0 once nothing runs, or fails
	// with NotFound (the target itself is gone), which means the same. The
	// Removal names what was live, for Restore. Remove is idempotent:
	// removing a target on which nothing runs (never deployed, already
	// removed, a service that does not exist) succeeds and returns a zero
	// Removal; it never fails with NotFound.
	Remove(ctx context.Context, t Target) (Removal, error)
	// Restore is Remove's compensation: it redeploys r.Revision on t as it
	// was (recreating a deleted service or app from r.Spec, with
	// r.Instances instances) and returns without waiting; progress is read
	// with Status of the returned Deployment's Revision, which is
	// r.Revision. Previous is "" (nothing ran). It is idempotent:
	// restoring what runs already changes nothing and reports Changed
	// false, and restoring a zero Removal does nothing and returns a zero
	// Deployment. A Removal the driver cannot restore (another target's, a
	// Spec it did not write) fails with code Invalid.
	Restore(ctx context.Context, t Target, r Removal) (Deployment, error)
}

// ConfigRequest asks for a config version to be applied to a target.
type ConfigRequest struct {
	Target  Target `json:"target"`
	Version string `json:"version"`
	// Data is the JSON document the target's service reads.
	Data []byte `json:"data"`
	// Source, when set, is the document as the caller wrote it: Data
	// with its secret references ({"secretRef": "NAME"}) not yet replaced
	// by the secrets' values, which Data holds. Nil when Data has no
	// secret in it. A driver never returns Data's secret values to its
	// caller, so that they stay out of workflow histories: see
	// ConfigRemoval.
	Source []byte `json:"source,omitempty"`
}

// Configurer delivers config versions.
type Configurer interface {
	ErrorCoder
	// ApplyConfig starts delivering req.Version to req.Target and returns
	// the config revision, without waiting; progress is read with
	// ConfigStatus. It is idempotent like Deploy: applying the live
	// version changes nothing and reports Changed false. Previous is the
	// config revision live before, "" when the target had none.
	ApplyConfig(ctx context.Context, req ConfigRequest) (Deployment, error)
	// ConfigStatus reports the progress of a config revision on t, as
	// Status does for a deploy: NotFound for a revision t never had,
	// StateReady with Ready == Desired > 0 once it is live.
	ConfigStatus(ctx context.Context, t Target, version string) (Status, error)
	// RollbackConfig makes version the live config again; it is
	// idempotent and its progress is read with ConfigStatus.
	RollbackConfig(ctx context.Context, t Target, version string) error
}

// ConfigRemoval is what RemoveConfig took off a target.
type ConfigRemoval struct {
	// Revision is the config revision that was live, as ConfigStatus
	// names it; "" when the target had none.
	Revision string `json:"revision"`
	// Version and Data are the ConfigRequest that applied it, as its
	// caller wrote it: Data is the request's Source when it had one
	// (secret references, never their values), else its Data. ApplyConfig
	// of them (with the references resolved again) restores it.
	//
	// A driver that keeps every version it applied may leave Data nil for
	// a version whose Source it did not record: ApplyConfig of Version
	// alone then restores what the backend kept (AppConfig).
	Version string `json:"version,omitempty"`
	Data    []byte `json:"data,omitempty"`
}

// ConfigRemover removes a target's config. It is an optional capability
// of a Configurer.
type ConfigRemover interface {
	ErrorCoder
	// RemoveConfig removes t's config (the file, the key-values, the
	// configuration variables) and returns without waiting. The
	// ConfigRemoval names the config that was live, with its document as
	// the caller wrote it (never a resolved secret), so that ApplyConfig
	// of its Version and Data restores it. Once it is
	// removed, ConfigStatus of the removed revision fails with code
	// NotFound (or reports StateFailed, where the backend keeps its
	// history) and the next ApplyConfig reports Previous "".
	// RemoveConfig is idempotent: removing the config of a target that
	// has none (never configured, already removed, no such target)
	// succeeds and returns a zero ConfigRemoval; it never fails with
	// NotFound.
	RemoveConfig(ctx context.Context, t Target) (ConfigRemoval, error)
}

// SecretResolver reads secrets from the secret store of a target's
// boundary (AWS Secrets Manager, Azure Key Vault, GCP Secret Manager,
// files for the local cloud), for the secret references in config that the
// portable type replaces with their values right before ApplyConfig.
type SecretResolver interface {
	ErrorCoder
	// Resolve returns the current value of the secret name in t's store.
	// Names are those of the spec: words of letters and digits joined by
	// single dashes or slashes ("billing/db-password"); a store without
	// slashes in its names reads each as a dash. A secret that does not
	// exist, or has no current value, fails with code NotFound; a name
	// the store cannot hold, or a secret without a text value, with
	// Invalid; a throttled store surfaces Throttled (or is retried
	// inside). No error, and nothing the resolver logs, holds the value.
	Resolve(ctx context.Context, t Target, name string) (string, error)
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
	// EvaluateGate observes g on t once and reports what the backend says
	// now; it has no side effects. No data yet is HealthUnknown, not an
	// error. A gate the driver cannot evaluate (a kind it does not
	// evaluate, an unknown operator) fails with code Invalid; an alarm
	// that does not exist, with NotFound.
	EvaluateGate(ctx context.Context, t Target, g Gate) (Observation, error)
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
	// Instances lists the instances running on t, none (not an error)
	// when nothing runs.
	Instances(ctx context.Context, t Target) ([]Instance, error)
	// RestartInstance restarts one instance in place and returns without
	// waiting; readiness is read with Instances. An id Instances does not
	// list fails with code NotFound.
	RestartInstance(ctx context.Context, t Target, id string) error
}

// Sharder moves an auto-sharded service's shards off an instance before it
// restarts, and back after (a generic HTTP drain protocol, Dicer, …).
type Sharder interface {
	ErrorCoder
	// Drain asks the sharder to move every shard off the instance and
	// returns without waiting; progress is read with Owned. Draining a
	// drained instance changes nothing.
	Drain(ctx context.Context, t Target, inst Instance) error
	// Owned reports how many shards the instance still owns.
	Owned(ctx context.Context, t Target, inst Instance) (int, error)
	// Undrain lets the sharder assign shards to the instance again; it is
	// idempotent like Drain.
	Undrain(ctx context.Context, t Target, inst Instance) error
}

// Current is what runs on a target now, as its backend reports it: the
// deploy side from a Surveyor, the config side from a ConfigSurveyor
// (the portable type combines the two). Each string is "" when nothing
// of its kind runs or the driver cannot tell.
type Current struct {
	// Revision is the revision live on the target (serving, or the one a
	// rollout is moving to), as Status names it; "" when nothing runs.
	Revision string `json:"revision,omitempty"`
	// Image and Version are what Revision runs, as a DeployRequest names
	// them (repository and tag); "" when the driver cannot tell (an
	// untagged image).
	Image   string `json:"image,omitempty"`
	Version string `json:"version,omitempty"`
	// ChangeID is the DeployRequest.ChangeID of the release that made
	// Revision live (its deploy, or a later release's rollback to it,
	// depending on what the driver records); "" where the driver does not
	// record it, and for a revision Meridian did not deploy.
	ChangeID string `json:"changeId,omitempty"`
	// State, Ready, Desired and Reason are Revision's Status; Desired is
	// 0, and State "", when nothing runs.
	State   State  `json:"state,omitempty"`
	Ready   int    `json:"ready"`
	Desired int    `json:"desired"`
	Reason  string `json:"reason,omitempty"`
	// ConfigRevision and ConfigVersion are the live config, as
	// ConfigStatus and a ConfigRequest name them (see LiveConfig).
	ConfigRevision string `json:"configRevision,omitempty"`
	ConfigVersion  string `json:"configVersion,omitempty"`
}

// Surveyor reports what runs on a target. It is an optional capability
// of a Deployer.
type Surveyor interface {
	ErrorCoder
	// Current reports what runs on t now, whoever deployed it, with no
	// side effect; it leaves the config fields "" (a ConfigSurveyor
	// fills them). A target on which nothing runs (never deployed,
	// removed, a first deploy rolled back, a service that does not exist)
	// reports a zero Current with Desired 0 and no error: Current never
	// fails with NotFound.
	Current(ctx context.Context, t Target) (Current, error)
}

// LiveConfig is the config live on a target.
type LiveConfig struct {
	// Revision is the config revision, as ConfigStatus names it; Version
	// is the ConfigRequest.Version that applied it. Both are "" when the
	// target has no config.
	Revision string `json:"revision,omitempty"`
	Version  string `json:"version,omitempty"`
}

// ConfigSurveyor reports a target's live config. It is an optional
// capability of a Configurer.
type ConfigSurveyor interface {
	ErrorCoder
	// CurrentConfig reports the config live on t now (the one the last
	// ApplyConfig, RollbackConfig or RestoreConfig made live, once it is
	// delivered or while it is), with no side effect. A target without
	// config (never configured, removed, no such target) reports a zero
	// LiveConfig and no error, never NotFound.
	CurrentConfig(ctx context.Context, t Target) (LiveConfig, error)
}

// Scope is where a Lister looks for the targets Meridian manages: one
// region of one cloud boundary, narrowed to one service or environment
// when those are set.
type Scope struct {
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	Region   string `json:"region"`
	// Service and Environment, when set, narrow the scope to targets of
	// that service or environment.
	Service     string `json:"service,omitempty"`
	Environment string `json:"environment,omitempty"`
	// Cells are the region's cells the spec places targets in, where a
	// driver whose cells are backends of their own (Kubernetes clusters)
	// looks; other drivers list the whole region.
	Cells []string `json:"cells,omitempty"`
}

// Contains reports whether t is in the scope.
func (s Scope) Contains(t Target) bool {
	return t.Cloud == s.Cloud && t.Boundary == s.Boundary && t.Region == s.Region &&
		(s.Service == "" || t.Service == s.Service) &&
		(s.Environment == "" || t.Environment == s.Environment)
}

// Lister lists what Meridian manages, for finding targets the spec no
// longer has (orphans). It is an optional capability of a Deployer whose
// backend can tell what Meridian deployed (its tags, labels or state).
type Lister interface {
	ErrorCoder
	// Managed lists the targets in scope on which something Meridian
	// deployed runs now, sorted by ID, none (not an error) when there are
	// none. A target is listed from its first Deploy until a Remove (or
	// the Rollback that undoes its first deploy) takes it off; what
	// Meridian never deployed to is not listed.
	Managed(ctx context.Context, scope Scope) ([]Target, error)
}
