package placement

import (
	"cmp"
	"encoding/json"
	"fmt"
	"time"
)

// Model is a compiled spec: everything the planner needs, with defaults
// applied, sorted by name so that it is independent of file order.
type Model struct {
	Environments []Environment  `json:"environments"`
	Boundaries   []BoundaryRule `json:"boundaries"`
	Pipelines    []PipelineDef  `json:"pipelines"`
	Services     []Service      `json:"services"`
	// Freezes are the spec's freeze windows, sorted by name.
	Freezes []Freeze `json:"freezes,omitempty"`
}

// Environment is a user-defined environment (dev, staging, prod) and the
// regions it uses per cloud.
type Environment struct {
	Name string `json:"name"`
	// Regions maps a cloud to the region ids the environment uses there,
	// sorted; each region may carry cells.
	Regions map[string][]EnvironmentRegion `json:"regions"`
}

// EnvironmentRegion is one region of an environment, optionally split into cells.
type EnvironmentRegion struct {
	ID    string   `json:"id"`
	Cells []string `json:"cells,omitempty"`
}

// BoundaryRule holds the rules a sovereign boundary imposes on every
// pipeline inside it.
type BoundaryRule struct {
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	// TaskQueue is where this boundary's activities run:
	// meridian-<cloud>-<boundary> unless the spec says otherwise.
	TaskQueue string `json:"taskQueue"`
	// Approval makes every stage in the boundary wait for an operator.
	Approval bool `json:"approval,omitempty"`
	// Approvers is how many distinct people must approve each stage that
	// waits for approval (0 and 1: one); above 1 every stage of the
	// boundary waits. AllowedApprovers, when not empty, are the only names
	// whose approval counts.
	Approvers        int      `json:"approvers,omitempty"`
	AllowedApprovers []string `json:"allowedApprovers,omitempty"`
	// After names boundaries (of any cloud) whose pipelines must have
	// succeeded before this boundary starts; Lag is the wait after that.
	After []string `json:"after,omitempty"`
	Lag   Duration `json:"lag,omitempty"`
	// Registries, when non-empty, are the only artifact registries allowed.
	Registries []string `json:"registries,omitempty"`
	// Runtime is what runs the boundary's services unless they say
	// otherwise: "managed" (or "") or "kubernetes".
	Runtime string `json:"runtime,omitempty"`
	// Provider holds driver settings for this boundary (driver name, profile,
	// role ARN, subscription, project…). Never credentials.
	Provider map[string]string `json:"provider,omitempty"`
}

// PipelineDef is a named pipeline as written in the spec.
type PipelineDef struct {
	Name     string     `json:"name"`
	Stages   []StageDef `json:"stages"`
	Rollback string     `json:"rollback"` // automatic | stage | manual
}

// StageDef is one stage of a pipeline definition.
type StageDef struct {
	Name        string   `json:"name"`
	Environment string   `json:"environment"`
	Select      Select   `json:"select"`
	MaxParallel int      `json:"maxParallel"`
	Bake        Duration `json:"bake,omitempty"`
	Approval    bool     `json:"approval,omitempty"`
}

// Select says which of an environment's targets a stage takes, among those
// not taken by an earlier stage of the same environment. Zero value: all.
type Select struct {
	// Limit takes at most this many targets (0: no limit).
	Limit int `json:"limit,omitempty"`
	// Percent takes this share of the environment's targets, rounded up (0: no limit).
	Percent int `json:"percent,omitempty"`
	// Regions keeps only targets matching one of these region ids or
	// selectors (geo:europe, country:DE, cloud:aws, boundary:us-gov).
	Regions []string `json:"regions,omitempty"`
}

// Service is one service with its placement resolved to targets.
type Service struct {
	Name      string         `json:"name"`
	Owner     string         `json:"owner"`
	Artifact  Artifact       `json:"artifact"`
	Pipeline  string         `json:"pipeline"`
	Placement PlacementRule  `json:"placement"`
	Config    map[string]any `json:"config,omitempty"`
	Gates     []Gate         `json:"gates,omitempty"`
	Sharding  *Sharding      `json:"sharding,omitempty"`
	// Instances is how many instances run per target (used by the local provider).
	Instances int `json:"instances"`
	// Kubernetes is set when some of the service's targets run on
	// Kubernetes (Target.Runtime).
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`
	// Targets, sorted by environment, cloud, boundary, region, cell.
	Targets []Target `json:"targets"`
}

// Kubernetes is how a service runs on its Kubernetes targets.
type Kubernetes struct {
	// Workload is the Deployment or StatefulSet the spec writes, JSON,
	// which the Kubernetes driver completes and applies.
	Workload json.RawMessage `json:"workload"`
}

// RuntimeKubernetes is the Target.Runtime of a target on a Kubernetes
// cluster (its cell).
const RuntimeKubernetes = "kubernetes"

// Artifact is what a release deploys: an image, tagged with the release's version.
type Artifact struct {
	Image   string `json:"image"`
	Version string `json:"version,omitempty"`
}

// PlacementRule is a service's placement as written in the spec.
type PlacementRule struct {
	Clouds     []string `json:"clouds"`
	Boundaries []string `json:"boundaries"`
	Include    []string `json:"include,omitempty"`
	Exclude    []string `json:"exclude,omitempty"`
}

// Gate is a health check evaluated after a deploy and throughout bake.
// Exactly one of HTTP, Alarm and Metric is set.
type Gate struct {
	Name   string      `json:"name"`
	HTTP   *HTTPGate   `json:"http,omitempty"`
	Alarm  *AlarmGate  `json:"alarm,omitempty"`
	Metric *MetricGate `json:"metric,omitempty"`
	// Workload checks the target's own instances (Kubernetes pods).
	Workload *WorkloadGate `json:"workload,omitempty"`
	// Interval between evaluations during bake.
	Interval Duration `json:"interval"`
	// FailureLimit is how many failed observations fail the gate (default 1).
	FailureLimit int `json:"failureLimit"`
	// ErrorLimit is how many consecutive errors (no observation) fail the gate.
	ErrorLimit int `json:"errorLimit"`
	// SuccessLimit is how many healthy observations in a row make the gate
	// hold (default 1). Above 1, a stage does not pass until the gate holds
	// on every target of the stage (see pipelines.GateWaitRounds).
	SuccessLimit int `json:"successLimit"`
}

// HTTPGate probes an HTTP path on every instance of the target.
type HTTPGate struct {
	Path   string `json:"path"`
	Status int    `json:"status"` // expected status code (default 200)
}

// AlarmGate is healthy while the named alarm is not firing.
type AlarmGate struct {
	Name string `json:"name"`
}

// WorkloadGate is healthy while no instance of the target's live
// revision restarted, crash-loops or was OOM-killed.
type WorkloadGate struct{}

// MetricGate compares a metric against a threshold.
type MetricGate struct {
	Name      string   `json:"name"`
	Op        string   `json:"op"` // "<", "<=", ">", ">="
	Threshold float64  `json:"threshold"`
	Window    Duration `json:"window"`
}

// Sharding marks a stateful sharded service: its instances are drained
// through the sharder before they restart.
type Sharding struct {
	Sharder        string   `json:"sharder"`
	MaxUnavailable int      `json:"maxUnavailable"`
	DrainTimeout   Duration `json:"drainTimeout"`
}

// Target is the unit one provider call deploys to.
type Target struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Cloud       string `json:"cloud"`
	Boundary    string `json:"boundary"`
	Region      string `json:"region"`
	Cell        string `json:"cell,omitempty"`
	// Runtime is RuntimeKubernetes when the target is a Kubernetes
	// cluster (its cell), "" when the cloud's managed service runs it.
	// It is not part of the target's ID.
	Runtime string `json:"runtime,omitempty"`
}

// ID is the target's stable, human-readable identity:
// service/environment/cloud/boundary/region[/cell].
func (t Target) ID() string {
	id := t.Service + "/" + t.Environment + "/" + t.Cloud + "/" + t.Boundary + "/" + t.Region
	if t.Cell != "" {
		id += "/" + t.Cell
	}
	return id
}

// CompareTargets orders targets by environment, cloud, boundary, region and
// cell, the order of Service.Targets.
func CompareTargets(a, b Target) int {
	return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Cell, b.Cell))
}

// Duration is a time.Duration written as a Go duration string ("1h30m") in JSON.
type Duration time.Duration

// String formats the duration the way Go does, without zero units ("15m", "1h30m").
func (d Duration) String() string {
	s := time.Duration(d).String()
	for _, z := range []string{"m0s", "h0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z {
			s = s[:len(s)-len(z)+1]
		}
	}
	return s
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string ("15m") or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string such as \"15m\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
