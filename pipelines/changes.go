package pipelines

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meridian-deploy/meridian/placement"
)

// ReleasePart is one thing a merged spec change does to a service. A
// service's parts make one release (see Release); a caller switches on them.
type ReleasePart string

// The parts of a release, in the order Release.Parts lists them.
const (
	// PartNewService deploys a service new to the spec to all its targets.
	PartNewService ReleasePart = "newService"
	// PartVersion rolls the new artifact.version out to every target.
	PartVersion ReleasePart = "version"
	// PartConfig applies the new config document (Release.ConfigVersion)
	// to every target.
	PartConfig ReleasePart = "config"
	// PartTargetsAdded deploys the service's version and config to the added
	// targets only, through the stages they belong to.
	PartTargetsAdded ReleasePart = "targetsAdded"
	// PartDecommission removes the removed targets once the forward part is
	// done: drained first for sharded services, stage by stage in reverse
	// pipeline order, with the boundary's approval rules.
	PartDecommission ReleasePart = "decommission"
	// PartRemoveService decommissions every target of a service removed
	// from the spec; apply does it only with --prune.
	PartRemoveService ReleasePart = "removeService"
	// PartNextRelease marks a change that starts nothing (pipelines, stages,
	// gates, boundary rules, image, instances, sharding): it takes effect
	// on the service's next release.
	PartNextRelease ReleasePart = "nextRelease"
)

// Release is what merging a spec change will do to one service: the one
// release `meridian apply` starts for it, carrying every part of the change
// (a version bump, a config change and an added region are one release).
type Release struct {
	Service string        `json:"service"`
	Parts   []ReleasePart `json:"parts"`
	// Version is the artifact version deployed, when the release deploys
	// one (new service, version, added targets). CurrentVersion is set
	// instead when the spec pins no version: then it is the version of the
	// service's last succeeded release, known only when apply runs.
	Version        string `json:"version,omitempty"`
	CurrentVersion bool   `json:"currentVersion,omitempty"`
	// ConfigVersion names the config document the service runs with after
	// the release (see ConfigVersion), when the release deploys anything;
	// PreviousConfigVersion the one it replaces, with PartConfig. Config
	// values are never part of a Release.
	ConfigVersion         string `json:"configVersion,omitempty"`
	PreviousConfigVersion string `json:"previousConfigVersion,omitempty"`
	// TargetsAdded and TargetsRemoved are target ids (Target.ID): where the
	// service is deployed for the first time (all its targets when it is
	// new), and where it is decommissioned.
	TargetsAdded   []string `json:"targetsAdded,omitempty"`
	TargetsRemoved []string `json:"targetsRemoved,omitempty"`
	// Targets counts the service's targets after the change.
	Targets int `json:"targets"`
	// Drain is set when decommissioned targets are drained first (the
	// service is sharded).
	Drain bool `json:"drain,omitempty"`
	// NextRelease names what changed that takes effect only on the next
	// release (pipeline, pipeline stages, gates, boundary aws/us-gov…), with
	// PartNextRelease.
	NextRelease []string `json:"nextRelease,omitempty"`
	// Sovereign lists the non-public boundaries (cloud/boundary) the release
	// deploys to or decommissions from, sorted.
	Sovereign []string `json:"sovereign,omitempty"`
	// NeedsPrune is set for a removed service: apply decommissions it only
	// with --prune, and without it reports it and exits 1.
	NeedsPrune bool `json:"needsPrune,omitempty"`
	// Summary says it in one line.
	Summary string `json:"summary"`
}

// Has reports whether the release has the part p.
func (r Release) Has(p ReleasePart) bool { return slices.Contains(r.Parts, p) }

// Starts reports whether apply starts a release for the service without
// --prune: it deploys or decommissions something.
func (r Release) Starts() bool {
	return slices.ContainsFunc(r.Parts, func(p ReleasePart) bool { return p != PartNextRelease && p != PartRemoveService })
}

// Releases returns what merging the change from before to after will do,
// one Release per service that changed, sorted by service: the releases
// `meridian apply` starts. It is pure; either side may be empty.
func Releases(before, after *placement.Model, beforePlan, afterPlan *Plan) []Release {
	return Diff(before, after, beforePlan, afterPlan).OnMerge
}

// release is the Release of one service, from its two versions (had and
// has say whether it exists before and after), its diff and the boundary
// rules that changed; false when the change releases nothing (none, or the
// owner only).
func release(o, n placement.Service, had, has bool, sc ServiceChange, rules []BoundaryChange) (Release, bool) {
	r := Release{Service: sc.Service, Targets: len(n.Targets)}
	everywhere := false // the release deploys to every target
	switch {
	case !had:
		r.Parts = append(r.Parts, PartNewService)
		r.TargetsAdded = targetIDs(n.Targets)
		everywhere = true
	case !has:
		r.Parts = append(r.Parts, PartRemoveService)
		r.TargetsRemoved = targetIDs(o.Targets)
		r.NeedsPrune, r.Drain = true, o.Sharding != nil
	default:
		if n.Artifact.Version != "" && n.Artifact.Version != o.Artifact.Version {
			r.Parts = append(r.Parts, PartVersion)
			everywhere = true
		}
		if oc, nc := ConfigVersion(o.Config), ConfigVersion(n.Config); oc != nc {
			r.Parts = append(r.Parts, PartConfig)
			r.PreviousConfigVersion = oc
			everywhere = true
		}
		if len(sc.TargetsAdded) > 0 {
			r.Parts = append(r.Parts, PartTargetsAdded)
			r.TargetsAdded = targetIDs(sc.TargetsAdded)
		}
		if len(sc.TargetsRemoved) > 0 {
			r.Parts = append(r.Parts, PartDecommission)
			r.TargetsRemoved = targetIDs(sc.TargetsRemoved)
			r.Drain = o.Sharding != nil
		}
	}
	forward := everywhere || len(r.TargetsAdded) > 0
	if forward {
		r.Version, r.CurrentVersion = n.Artifact.Version, n.Artifact.Version == ""
		r.ConfigVersion = ConfigVersion(n.Config)
	}
	if has && had && !forward {
		r.NextRelease = nextRelease(n, sc, rules)
		if len(r.NextRelease) > 0 {
			r.Parts = append(r.Parts, PartNextRelease)
		}
	}
	if len(r.Parts) == 0 {
		return Release{}, false
	}

	sovereign := map[string]bool{}
	mark := func(ts []placement.Target) {
		for _, t := range ts {
			if k := t.Cloud + "/" + t.Boundary; isSovereign(k) {
				sovereign[k] = true
			}
		}
	}
	if everywhere {
		mark(n.Targets)
	}
	mark(sc.TargetsAdded)
	if !has {
		mark(o.Targets)
	} else {
		mark(sc.TargetsRemoved)
	}
	r.Sovereign = slices.Sorted(maps.Keys(sovereign))
	r.Summary = releaseSummary(r, o, n)
	return r, true
}

// nextRelease names the changes to a service that take effect on its next
// release: every setting but the owner, its pipelines, and the rules of the
// boundaries it runs in.
func nextRelease(n placement.Service, sc ServiceChange, rules []BoundaryChange) []string {
	var names []string
	for _, f := range slices.Concat(sc.Fields, sc.Config) {
		name := f.Field
		if top, _, ok := strings.Cut(name, "."); ok && (top == "config" || top == "gates") {
			name = top
		}
		if name != "owner" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if slices.ContainsFunc(sc.Pipelines, func(pc PipelineChange) bool { return !onlyTargets(pc, sc) }) {
		names = append(names, "pipeline stages")
	}
	for _, bc := range rules {
		if slices.ContainsFunc(n.Targets, func(t placement.Target) bool { return t.Cloud == bc.Cloud && t.Boundary == bc.Boundary }) {
			names = append(names, "boundary "+bc.Cloud+"/"+bc.Boundary)
		}
	}
	return names
}

// onlyTargets reports whether a pipeline changed only because the service's
// targets were added or removed; not when a setting changed, or a target
// moved from one stage to another.
func onlyTargets(pc PipelineChange, sc ServiceChange) bool {
	key := func(env, rc string) string { return env + "/" + pc.Cloud + "/" + pc.Boundary + "/" + rc }
	added, removed := map[string]bool{}, map[string]bool{}
	for _, t := range sc.TargetsAdded {
		added[key(t.Environment, regionCell(t))] = true
	}
	for _, t := range sc.TargetsRemoved {
		removed[key(t.Environment, regionCell(t))] = true
	}
	if len(pc.Fields) > 0 {
		return false
	}
	for _, st := range pc.Stages {
		if len(st.Fields) > 0 ||
			slices.ContainsFunc(st.TargetsAdded, func(rc string) bool { return !added[key(st.Environment, rc)] }) ||
			slices.ContainsFunc(st.TargetsRemoved, func(rc string) bool { return !removed[key(st.Environment, rc)] }) {
			return false
		}
	}
	return true
}

// releaseSummary says what the release does in one line.
func releaseSummary(r Release, o, n placement.Service) string {
	var parts []string
	version := r.Version
	if r.CurrentVersion {
		version = "current (last succeeded release)"
	}
	switch {
	case r.Has(PartNewService):
		parts = append(parts, fmt.Sprintf("new service: version %s, config %s, to all %s", version, r.ConfigVersion, plural(r.Targets, "target")))
	case r.Has(PartVersion) || r.Has(PartConfig):
		var what []string
		if r.Has(PartVersion) {
			what = append(what, "version "+arrow(o.Artifact.Version, n.Artifact.Version))
		}
		if r.Has(PartConfig) {
			what = append(what, "config "+arrow(r.PreviousConfigVersion, r.ConfigVersion))
		}
		s := fmt.Sprintf("%s on every target (%d", strings.Join(what, " and "), r.Targets)
		if len(r.TargetsAdded) > 0 {
			s += fmt.Sprintf(", %d of them added", len(r.TargetsAdded))
		}
		s += ")"
		parts = append(parts, s)
	case r.Has(PartTargetsAdded):
		parts = append(parts, fmt.Sprintf("%s added: version %s, config %s", plural(len(r.TargetsAdded), "target"), version, r.ConfigVersion))
	}
	drained := ""
	if r.Drain {
		drained = ", drained first"
	}
	if r.Has(PartDecommission) {
		parts = append(parts, fmt.Sprintf("%s to decommission%s", plural(len(r.TargetsRemoved), "target"), drained))
	}
	if r.Has(PartRemoveService) {
		parts = append(parts, fmt.Sprintf("service removed: %s to decommission%s, only with --prune", plural(len(r.TargetsRemoved), "target"), drained))
	}
	if r.Has(PartNextRelease) {
		if !r.Starts() {
			parts = append(parts, "nothing starts")
		}
		parts = append(parts, "takes effect on the next release: "+strings.Join(r.NextRelease, ", "))
	}
	return strings.Join(parts, "; ")
}

func arrow(old, new string) string {
	if old == "" {
		return new
	}
	return old + " → " + new
}

func targetIDs(ts []placement.Target) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID()
	}
	return ids
}

// DecommissionPipelines are the pipelines that decommission the targets
// removed (by Target.ID) from service in the plan it ran under: each of
// its pipelines cut down to those targets, stages with none dropped, the
// rest in reverse order (production first), marked Decommission. After
// and Lag are dropped: a decommission runs once every forward pipeline
// of its release has succeeded.
func DecommissionPipelines(plan *Plan, service string, removed []string) []Pipeline {
	gone := map[string]bool{}
	for _, id := range removed {
		gone[id] = true
	}
	var out []Pipeline
	for _, pl := range plan.Pipelines {
		if pl.Service != service {
			continue
		}
		var stages []Stage
		for _, st := range slices.Backward(pl.Stages) {
			st.Targets = slices.DeleteFunc(slices.Clone(st.Targets), func(t placement.Target) bool { return !gone[t.ID()] })
			if len(st.Targets) > 0 {
				stages = append(stages, st)
			}
		}
		if len(stages) > 0 {
			pl.Stages, pl.After, pl.Lag, pl.Decommission = stages, nil, 0, true
			out = append(out, pl)
		}
	}
	return out
}
