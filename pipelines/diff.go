package pipelines

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/meridian-deploy/meridian/placement"
)

// Kinds of change to a service, boundary, pipeline or stage.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Change is what a spec change does to the fleet, service by service: the
// body of a pull request comment.
type Change struct {
	Summary Summary `json:"summary"`
	// Boundaries lists changed boundary rules, sorted by cloud and boundary.
	Boundaries []BoundaryChange `json:"boundaries"`
	// Services lists every service that changed, sorted by name.
	Services []ServiceChange `json:"services"`
	// OnMerge lists the releases merging the change starts (or would start,
	// or defers to the next release), one per service, sorted by name: what
	// `meridian apply` does. See Release.
	OnMerge []Release `json:"onMerge"`
	// Frozen lists the stages of the On merge releases that would wait,
	// were they started now, for a freeze of the new spec (set by the
	// caller, which knows the time).
	Frozen []HeldStage `json:"frozen,omitempty"`
}

// Summary counts what changed.
type Summary struct {
	ServicesAdded    int `json:"servicesAdded"`
	ServicesRemoved  int `json:"servicesRemoved"`
	ServicesChanged  int `json:"servicesChanged"` // added and removed ones included
	TargetsAdded     int `json:"targetsAdded"`
	TargetsRemoved   int `json:"targetsRemoved"`
	PipelinesChanged int `json:"pipelinesChanged"` // added and removed ones included
	// Sovereign lists the non-public boundaries (cloud/boundary) the change
	// rolls into or out of, or whose rules it changes, sorted.
	Sovereign []string `json:"sovereign"`
}

// Empty reports whether nothing changed.
func (c *Change) Empty() bool { return len(c.Services) == 0 && len(c.Boundaries) == 0 }

// FieldChange is one value before and after; "" stands for absent.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// BoundaryChange is a change to one boundary's rules.
type BoundaryChange struct {
	Cloud    string        `json:"cloud"`
	Boundary string        `json:"boundary"`
	Kind     string        `json:"kind"`
	Fields   []FieldChange `json:"fields"`
}

// ServiceChange is everything that changed for one service.
type ServiceChange struct {
	Service string `json:"service"`
	Kind    string `json:"kind"`
	// Fields holds changes to owner, artifact, pipeline, instances, sharding
	// and gates (gates.<name>); Config those to the service's config, by
	// dotted path (config.db.pool).
	Fields         []FieldChange      `json:"fields,omitempty"`
	Config         []FieldChange      `json:"config,omitempty"`
	TargetsAdded   []placement.Target `json:"targetsAdded,omitempty"`
	TargetsRemoved []placement.Target `json:"targetsRemoved,omitempty"`
	Pipelines      []PipelineChange   `json:"pipelines,omitempty"`
	// Boundaries lists the cloud/boundary pairs the change rolls into or out
	// of, sorted.
	Boundaries []string `json:"boundaries"`
}

// PipelineChange is a change to the pipeline of one service in one
// (cloud, boundary).
type PipelineChange struct {
	Cloud    string        `json:"cloud"`
	Boundary string        `json:"boundary"`
	Kind     string        `json:"kind"`
	Fields   []FieldChange `json:"fields,omitempty"`
	// Stages lists changed stages: the new pipeline's order, then removed ones.
	Stages []StageChange `json:"stages,omitempty"`
}

// StageChange is a change to one stage, by name. Targets are written
// region[/cell]: cloud, boundary and environment are the stage's.
type StageChange struct {
	Name           string        `json:"name"`
	Environment    string        `json:"environment"`
	Kind           string        `json:"kind"`
	Fields         []FieldChange `json:"fields,omitempty"`
	TargetsAdded   []string      `json:"targetsAdded,omitempty"`
	TargetsRemoved []string      `json:"targetsRemoved,omitempty"`
}

// Diff compares two compiled specs and their plans. It is pure and
// deterministic; either side may be empty (a zero Model and Plan).
func Diff(before, after *placement.Model, beforePlan, afterPlan *Plan) *Change {
	c := &Change{Boundaries: diffBoundaries(before.Boundaries, after.Boundaries), Services: []ServiceChange{}, OnMerge: []Release{}}
	oldSvc := indexBy(before.Services, func(s placement.Service) string { return s.Name })
	newSvc := indexBy(after.Services, func(s placement.Service) string { return s.Name })
	oldPl := groupPipelines(beforePlan)
	newPl := groupPipelines(afterPlan)

	sovereign := map[string]bool{}
	for _, b := range c.Boundaries {
		if k := b.Cloud + "/" + b.Boundary; isSovereign(k) {
			sovereign[k] = true
		}
	}
	names := unionKeys(oldSvc, newSvc)
	changes := diffServices(names, oldSvc, newSvc, oldPl, newPl)
	for i, name := range names {
		o, hadOld := oldSvc[name]
		n, hasNew := newSvc[name]
		sc := changes[i]
		if r, ok := release(o, n, hadOld, hasNew, sc, c.Boundaries); ok {
			c.OnMerge = append(c.OnMerge, r)
		}
		switch {
		case !hadOld:
			sc.Kind = Added
			c.Summary.ServicesAdded++
		case !hasNew:
			sc.Kind = Removed
			c.Summary.ServicesRemoved++
		case len(sc.Fields)+len(sc.Config)+len(sc.TargetsAdded)+len(sc.TargetsRemoved)+len(sc.Pipelines) == 0:
			continue
		default:
			sc.Kind = Changed
		}
		c.Summary.ServicesChanged++
		c.Summary.TargetsAdded += len(sc.TargetsAdded)
		c.Summary.TargetsRemoved += len(sc.TargetsRemoved)
		c.Summary.PipelinesChanged += len(sc.Pipelines)
		for _, b := range sc.Boundaries {
			if isSovereign(b) {
				sovereign[b] = true
			}
		}
		c.Services = append(c.Services, sc)
	}
	c.Summary.Sovereign = slices.Sorted(maps.Keys(sovereign))
	if c.Summary.Sovereign == nil {
		c.Summary.Sovereign = []string{}
	}
	return c
}

// diffServices diffs each named service, the services split over the
// available cores: each diff is pure and depends on its service alone, so
// the result is the same as one after the other.
func diffServices(names []string, oldSvc, newSvc map[string]placement.Service, oldPl, newPl map[string][]Pipeline) []ServiceChange {
	changes := make([]ServiceChange, len(names))
	workers := min(runtime.GOMAXPROCS(0), len(names)/100+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(names); i += workers {
				name := names[i]
				changes[i] = diffService(oldSvc[name], newSvc[name], oldPl[name], newPl[name])
			}
		})
	}
	wg.Wait()
	return changes
}

// kubernetesTargets names the service's targets on Kubernetes clusters.
func kubernetesTargets(s placement.Service) string {
	var ids []string
	for _, t := range s.Targets {
		if t.Runtime == placement.RuntimeKubernetes {
			ids = append(ids, t.ID())
		}
	}
	return strings.Join(ids, ", ")
}

func diffService(o, n placement.Service, oldPl, newPl []Pipeline) ServiceChange {
	sc := ServiceChange{Service: cmp.Or(n.Name, o.Name)}
	rollout := false // whether a change rolls out to every pipeline of the service
	field := func(name, old, new string, rolls bool) {
		if old != new {
			sc.Fields = append(sc.Fields, FieldChange{name, old, new})
			rollout = rollout || rolls
		}
	}
	field("owner", o.Owner, n.Owner, false)
	field("artifact.image", o.Artifact.Image, n.Artifact.Image, true)
	field("artifact.version", o.Artifact.Version, n.Artifact.Version, true)
	field("pipeline", o.Pipeline, n.Pipeline, false)
	field("instances", intText(o.Instances), intText(n.Instances), true)
	field("sharding", jsonText(o.Sharding), jsonText(n.Sharding), true)
	field("runtime", kubernetesTargets(o), kubernetesTargets(n), true)
	field("kubernetes.workload", jsonText(o.Kubernetes), jsonText(n.Kubernetes), true)
	gates := diffGates(o.Gates, n.Gates)
	sc.Fields = append(sc.Fields, gates...)
	rollout = rollout || len(gates) > 0
	sc.Config = diffConfig(o.Config, n.Config)
	rollout = rollout || len(sc.Config) > 0

	oldT := indexBy(o.Targets, placement.Target.ID)
	newT := indexBy(n.Targets, placement.Target.ID)
	touched := map[string]bool{}
	for _, id := range unionKeys(oldT, newT) {
		t, had := oldT[id]
		if _, has := newT[id]; has == had {
			continue
		}
		if had {
			sc.TargetsRemoved = append(sc.TargetsRemoved, t)
		} else {
			t = newT[id]
			sc.TargetsAdded = append(sc.TargetsAdded, t)
		}
		touched[t.Cloud+"/"+t.Boundary] = true
	}
	slices.SortFunc(sc.TargetsAdded, placement.CompareTargets)
	slices.SortFunc(sc.TargetsRemoved, placement.CompareTargets)

	oldP := indexBy(oldPl, pipelineKey)
	newP := indexBy(newPl, pipelineKey)
	for _, k := range unionKeys(oldP, newP) {
		p, had := oldP[k]
		q, has := newP[k]
		if pc, ok := diffPipeline(p, q, had, has); ok {
			sc.Pipelines = append(sc.Pipelines, pc)
			touched[k] = true
		}
		if rollout && has {
			touched[k] = true
		}
	}
	sc.Boundaries = slices.Sorted(maps.Keys(touched))
	if sc.Boundaries == nil {
		sc.Boundaries = []string{}
	}
	return sc
}

func diffPipeline(p, q Pipeline, had, has bool) (PipelineChange, bool) {
	pc := PipelineChange{Cloud: cmp.Or(q.Cloud, p.Cloud), Boundary: cmp.Or(q.Boundary, p.Boundary), Kind: kindOf(had, has)}
	if pc.Kind == Changed {
		pc.Fields = fieldChanges(
			FieldChange{"taskQueue", p.TaskQueue, q.TaskQueue},
			FieldChange{"definition", p.Definition, q.Definition},
			FieldChange{"rollback", p.Rollback, q.Rollback},
			FieldChange{"after", strings.Join(p.After, ", "), strings.Join(q.After, ", ")},
			FieldChange{"lag", durationText(p.Lag), durationText(q.Lag)},
			FieldChange{"order", stageOrder(p.Stages, q.Stages), stageOrder(q.Stages, p.Stages)},
		)
	}
	oldS := indexBy(p.Stages, func(s Stage) string { return s.Name })
	for _, s := range q.Stages {
		o, had := oldS[s.Name]
		if st, ok := diffStage(o, s, had, true); ok {
			pc.Stages = append(pc.Stages, st)
		}
	}
	for _, o := range p.Stages {
		if !slices.ContainsFunc(q.Stages, func(s Stage) bool { return s.Name == o.Name }) {
			st, _ := diffStage(o, Stage{}, true, false)
			pc.Stages = append(pc.Stages, st)
		}
	}
	return pc, pc.Kind != Changed || len(pc.Fields)+len(pc.Stages) > 0
}

func diffStage(o, n Stage, had, has bool) (StageChange, bool) {
	st := StageChange{Name: cmp.Or(n.Name, o.Name), Environment: cmp.Or(n.Environment, o.Environment), Kind: kindOf(had, has)}
	if st.Kind == Changed {
		st.Fields = fieldChanges(
			FieldChange{"environment", o.Environment, n.Environment},
			FieldChange{"maxParallel", intText(o.MaxParallel), intText(n.MaxParallel)},
			FieldChange{"bake", durationText(o.Bake), durationText(n.Bake)},
			FieldChange{"approval", strconv.FormatBool(o.Approval), strconv.FormatBool(n.Approval)},
			FieldChange{"approvers", strconv.Itoa(max(o.Approvers, 1)), strconv.Itoa(max(n.Approvers, 1))},
			FieldChange{"allowedApprovers", strings.Join(o.AllowedApprovers, ", "), strings.Join(n.AllowedApprovers, ", ")},
		)
	}
	oldT := indexBy(o.Targets, placement.Target.ID)
	newT := indexBy(n.Targets, placement.Target.ID)
	for _, t := range n.Targets {
		if _, ok := oldT[t.ID()]; !ok {
			st.TargetsAdded = append(st.TargetsAdded, regionCell(t))
		}
	}
	for _, t := range o.Targets {
		if _, ok := newT[t.ID()]; !ok {
			st.TargetsRemoved = append(st.TargetsRemoved, regionCell(t))
		}
	}
	return st, st.Kind != Changed || len(st.Fields)+len(st.TargetsAdded)+len(st.TargetsRemoved) > 0
}

// kindOf names the change to something present before (had) and after (has).
func kindOf(had, has bool) string {
	switch {
	case !had:
		return Added
	case !has:
		return Removed
	default:
		return Changed
	}
}

func diffBoundaries(before, after []placement.BoundaryRule) []BoundaryChange {
	key := func(r placement.BoundaryRule) string { return r.Cloud + "/" + r.Boundary }
	oldB, newB := indexBy(before, key), indexBy(after, key)
	out := []BoundaryChange{}
	for _, k := range unionKeys(oldB, newB) {
		o, had := oldB[k]
		n, has := newB[k]
		bc := BoundaryChange{Cloud: cmp.Or(n.Cloud, o.Cloud), Boundary: cmp.Or(n.Boundary, o.Boundary), Kind: kindOf(had, has)}
		bc.Fields = fieldChanges(
			FieldChange{"taskQueue", o.TaskQueue, n.TaskQueue},
			FieldChange{"approval", strconv.FormatBool(o.Approval), strconv.FormatBool(n.Approval)},
			FieldChange{"after", strings.Join(o.After, ", "), strings.Join(n.After, ", ")},
			FieldChange{"lag", durationText(o.Lag), durationText(n.Lag)},
			FieldChange{"registries", strings.Join(o.Registries, ", "), strings.Join(n.Registries, ", ")},
			FieldChange{"provider", jsonText(o.Provider), jsonText(n.Provider)},
		)
		if len(bc.Fields) > 0 {
			out = append(out, bc)
		}
	}
	return out
}

// diffGates compares gates by name ("gates.<name>").
func diffGates(before, after []placement.Gate) []FieldChange {
	text := func(gates []placement.Gate) map[string]string {
		m := make(map[string]string, len(gates))
		for i, g := range gates {
			var fields map[string]any
			if b, err := json.Marshal(g); err == nil && json.Unmarshal(b, &fields) == nil {
				delete(fields, "name")
			}
			m["gates."+cmp.Or(g.Name, strconv.Itoa(i))] = jsonText(fields)
		}
		return m
	}
	return diffValues(text(before), text(after))
}

// diffConfig compares two configs leaf by leaf, by dotted path.
func diffConfig(before, after map[string]any) []FieldChange {
	o, n := map[string]string{}, map[string]string{}
	flatten("config", before, o)
	flatten("config", after, n)
	return diffValues(o, n)
}

// diffValues compares two sets of values by key, in key order.
func diffValues(o, n map[string]string) []FieldChange {
	var out []FieldChange
	for _, k := range unionKeys(o, n) {
		if o[k] != n[k] {
			out = append(out, FieldChange{k, o[k], n[k]})
		}
	}
	return out
}

// flatten writes every leaf of v under prefix as its JSON text; lists are
// leaves. A secret reference is a leaf too, written "secretRef NAME": the
// name of the secret, which is all a spec holds of it.
func flatten(prefix string, v any, out map[string]string) {
	if name, ok := placement.SecretRef(v); ok {
		out[prefix] = placement.SecretRefKey + " " + name
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = jsonText(v)
		return
	}
	for k, x := range m {
		flatten(prefix+"."+k, x, out)
	}
}

// fieldChanges keeps the fields whose values differ.
func fieldChanges(fields ...FieldChange) []FieldChange {
	var out []FieldChange
	for _, f := range fields {
		if f.Old != f.New {
			out = append(out, f)
		}
	}
	return out
}

// stageOrder returns the order of the stages of a that b also has, when it
// differs from b's order; "" otherwise.
func stageOrder(a, b []Stage) string {
	common := func(x, y []Stage) []string {
		var names []string
		for _, s := range x {
			if slices.ContainsFunc(y, func(t Stage) bool { return t.Name == s.Name }) {
				names = append(names, s.Name)
			}
		}
		return names
	}
	ab, ba := common(a, b), common(b, a)
	if slices.Equal(ab, ba) {
		return ""
	}
	return strings.Join(ab, ", ")
}

func groupPipelines(p *Plan) map[string][]Pipeline {
	out := map[string][]Pipeline{}
	if p != nil {
		for _, pl := range p.Pipelines {
			out[pl.Service] = append(out[pl.Service], pl)
		}
	}
	return out
}

// isSovereign reports whether a cloud/boundary pair is outside the public boundary.
func isSovereign(cloudBoundary string) bool { return !strings.HasSuffix(cloudBoundary, "/public") }

func pipelineKey(p Pipeline) string { return p.Cloud + "/" + p.Boundary }

func regionCell(t placement.Target) string {
	if t.Cell != "" {
		return t.Region + "/" + t.Cell
	}
	return t.Region
}

func indexBy[K comparable, T any](items []T, key func(T) K) map[K]T {
	m := make(map[K]T, len(items))
	for _, it := range items {
		m[key(it)] = it
	}
	return m
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys[A, B any](a map[string]A, b map[string]B) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// intText writes n, with 0 (unset) as absent.
func intText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func durationText(d placement.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// jsonText writes v as compact JSON with sorted keys; nil, empty lists and
// empty maps are absent ("").
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	switch s := string(b); s {
	case "null", "[]", "{}":
		return ""
	default:
		return s
	}
}
