package pipelines

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// Build turns a compiled model into its plan: for every service, one
// Pipeline per (cloud, boundary) among its targets, built from the service's
// pipeline definition.
//
// Each stage takes, among the service's targets in that (cloud, boundary)
// and in the stage's environment, those no earlier stage of the same
// environment took; keeps the ones whose region matches one of
// select.regions (all when empty); then keeps the first select.limit of
// them and the first select.percent of the environment's targets in the
// pipeline (rounded up), in region, cell order. Stages left without targets
// are omitted. The boundary's rules apply to every pipeline inside it: its
// task queue, its After and Lag, and its approval, which every stage then
// requires.
//
// Build is pure and deterministic: pipelines are sorted by service, cloud
// and boundary, stages keep their definition order, targets are sorted by
// region and cell. It fails when the model names an unknown pipeline, a
// selector does not parse, or a target is left that no stage takes (it would
// never be rolled out).
func Build(m *placement.Model) (*Plan, error) {
	defs := indexBy(m.Pipelines, func(d placement.PipelineDef) string { return d.Name })
	rules := indexBy(m.Boundaries, func(r placement.BoundaryRule) cloudBoundary { return cloudBoundary{r.Cloud, r.Boundary} })
	sel := selectors{catalog: regions.Default(), parsed: map[string]regions.Selector{}}

	plan := &Plan{Pipelines: []Pipeline{}}
	for _, svc := range m.Services {
		def, ok := defs[svc.Pipeline]
		if !ok {
			return nil, fmt.Errorf("service %s: unknown pipeline %q", svc.Name, svc.Pipeline)
		}
		for _, group := range groupByCloudBoundary(svc.Targets) {
			p, err := buildPipeline(svc.Name, def, rules[group.key], group.key, group.targets, &sel)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", svc.Name, err)
			}
			plan.Pipelines = append(plan.Pipelines, p)
		}
	}
	slices.SortStableFunc(plan.Pipelines, func(a, b Pipeline) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary))
	})
	return plan, nil
}

type cloudBoundary struct{ cloud, boundary string }

type targetGroup struct {
	key     cloudBoundary
	targets []placement.Target
}

// groupByCloudBoundary splits targets by (cloud, boundary), groups sorted by
// cloud and boundary, targets in each sorted by environment, region, cell.
func groupByCloudBoundary(targets []placement.Target) []targetGroup {
	var groups []targetGroup
	index := map[cloudBoundary]int{}
	for _, t := range targets {
		k := cloudBoundary{t.Cloud, t.Boundary}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, targetGroup{key: k})
		}
		groups[i].targets = append(groups[i].targets, t)
	}
	slices.SortFunc(groups, func(a, b targetGroup) int {
		return cmp.Or(cmp.Compare(a.key.cloud, b.key.cloud), cmp.Compare(a.key.boundary, b.key.boundary))
	})
	for _, g := range groups {
		slices.SortFunc(g.targets, placement.CompareTargets)
	}
	return groups
}

func buildPipeline(service string, def placement.PipelineDef, rule placement.BoundaryRule, key cloudBoundary, targets []placement.Target, sel *selectors) (Pipeline, error) {
	p := Pipeline{
		Service:    service,
		Cloud:      key.cloud,
		Boundary:   key.boundary,
		TaskQueue:  cmp.Or(rule.TaskQueue, placement.DefaultTaskQueue(key.cloud, key.boundary)),
		Definition: def.Name,
		Rollback:   def.Rollback,
		After:      slices.Clone(rule.After),
		Lag:        rule.Lag,
		Stages:     []Stage{},
	}
	taken := make([]bool, len(targets))
	for _, sd := range def.Stages {
		var envTotal int
		var picked []int
		for i, t := range targets {
			if t.Environment != sd.Environment {
				continue
			}
			envTotal++
			if taken[i] {
				continue
			}
			ok, err := sel.any(sd.Select.Regions, t)
			if err != nil {
				return Pipeline{}, fmt.Errorf("pipeline %s, stage %s: %w", def.Name, sd.Name, err)
			}
			if ok {
				picked = append(picked, i)
			}
		}
		if n := sd.Select.Limit; n > 0 && len(picked) > n {
			picked = picked[:n]
		}
		if pct := sd.Select.Percent; pct > 0 {
			if n := (envTotal*pct + 99) / 100; len(picked) > n {
				picked = picked[:n]
			}
		}
		if len(picked) == 0 {
			continue
		}
		st := Stage{
			Name:        sd.Name,
			Environment: sd.Environment,
			MaxParallel: sd.MaxParallel,
			Bake:        sd.Bake,
			Approval:    sd.Approval || rule.Approval || rule.Approvers > 1,
			Targets:     make([]placement.Target, 0, len(picked)),
		}
		if st.Approval && rule.Approvers > 1 {
			st.Approvers = rule.Approvers
		}
		if st.Approval {
			st.AllowedApprovers = rule.AllowedApprovers
		}
		for _, i := range picked {
			taken[i] = true
			st.Targets = append(st.Targets, targets[i])
		}
		p.Stages = append(p.Stages, st)
	}
	for i, t := range targets {
		if !taken[i] {
			return Pipeline{}, fmt.Errorf("pipeline %s has no stage for target %s", def.Name, t.ID())
		}
	}
	return p, nil
}

// selectors matches targets against stage region selectors, parsing each
// selector once and resolving regions against the catalog.
type selectors struct {
	catalog *regions.Catalog
	parsed  map[string]regions.Selector
}

// any reports whether the target's region matches one of the selectors;
// no selectors match everything.
func (s *selectors) any(list []string, t placement.Target) (bool, error) {
	if len(list) == 0 {
		return true, nil
	}
	r, ok := s.catalog.Region(t.Cloud, t.Region)
	if !ok {
		r = regions.Region{Cloud: t.Cloud, Boundary: t.Boundary, ID: t.Region}
	}
	for _, text := range list {
		sel, ok := s.parsed[text]
		if !ok {
			var err error
			if sel, err = regions.ParseSelector(text); err != nil {
				return false, err
			}
			s.parsed[text] = sel
		}
		if sel.Matches(r) {
			return true, nil
		}
	}
	return false, nil
}
