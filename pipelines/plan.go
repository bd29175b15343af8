package pipelines

import "github.com/meridian-deploy/meridian/placement"

// Plan is the compiled rollout plan of a spec: one Pipeline per
// (service, cloud, boundary), sorted by service, cloud, boundary.
type Plan struct {
	Pipelines []Pipeline `json:"pipelines"`
	// Frozen lists the stages a change started now would wait before: the
	// spec's freezes that hold them (see FrozenStages; set by the caller,
	// which knows the time).
	Frozen []HeldStage `json:"frozen,omitempty"`
}

// Pipeline is the ordered stages that roll a change to one service out
// inside one (cloud, boundary).
type Pipeline struct {
	Service   string `json:"service"`
	Cloud     string `json:"cloud"`
	Boundary  string `json:"boundary"`
	TaskQueue string `json:"taskQueue"`
	// Definition names the spec's pipeline this one was built from.
	Definition string `json:"definition"`
	Rollback   string `json:"rollback"` // automatic | stage | manual
	// After and Lag come from the boundary's rules: this pipeline starts
	// only once the service's pipelines in the After boundaries have
	// succeeded, and Lag after that.
	After  []string           `json:"after,omitempty"`
	Lag    placement.Duration `json:"lag,omitempty"`
	Stages []Stage            `json:"stages"`
	// Decommission marks a pipeline that removes its targets instead of
	// deploying to them (see DecommissionPipelines): it runs once the
	// release's forward pipelines have succeeded, stages in reverse order.
	Decommission bool `json:"decommission,omitempty"`
}

// Stage is a set of targets rolled out together, then verified, baked and
// optionally approved.
type Stage struct {
	Name        string             `json:"name"`
	Environment string             `json:"environment"`
	MaxParallel int                `json:"maxParallel"`
	Bake        placement.Duration `json:"bake,omitempty"`
	Approval    bool               `json:"approval,omitempty"`
	// Approvers, above 1, is how many distinct people must approve the
	// stage; AllowedApprovers, when set, who may (the boundary's rules).
	Approvers        int                `json:"approvers,omitempty"`
	AllowedApprovers []string           `json:"allowedApprovers,omitempty"`
	Targets          []placement.Target `json:"targets"`
}
