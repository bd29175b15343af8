package placement

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"

	"github.com/meridian-deploy/meridian/regions"
)

// document is the spec as decoded from CUE, before checks and defaults that
// depend on the catalog. Field names follow the schema.
type document struct {
	Environments map[string]map[string]cloudRegions `json:"environments"`
	Boundaries   map[string]map[string]BoundaryRule `json:"boundaries"`
	Pipelines    map[string]struct {
		Stages   []StageDef `json:"stages"`
		Rollback string     `json:"rollback"`
	} `json:"pipelines"`
	Services map[string]serviceDoc `json:"services"`
	Freezes  map[string]freezeDoc  `json:"freezes"`
}

type cloudRegions struct {
	Regions []string            `json:"regions"`
	Cells   map[string][]string `json:"cells"`
}

type serviceDoc struct {
	Owner     string         `json:"owner"`
	Artifact  Artifact       `json:"artifact"`
	Placement PlacementRule  `json:"placement"`
	Pipeline  string         `json:"pipeline"`
	Instances int            `json:"instances"`
	Config    map[string]any `json:"config"`
	Health    struct {
		Gates []Gate `json:"gates"`
	} `json:"health"`
	Sharding   *Sharding         `json:"sharding"`
	Runtime    map[string]string `json:"runtime"`
	Kubernetes struct {
		Workload json.RawMessage `json:"workload"`
	} `json:"kubernetes"`
}

// Compile checks a loaded spec against the regions catalog and resolves it
// into a Model: defaults applied, placement resolved into targets, and
// everything sorted by name. Its error is always Errors, one per problem.
func Compile(spec *Spec, cat *regions.Catalog) (*Model, error) {
	doc, raw, err := decode(spec)
	if err != nil {
		return nil, err
	}
	c := &compiler{spec: spec, cat: cat, clouds: cat.Clouds(), doc: doc, envs: map[string]*environment{}, rules: map[boundaryKey]*BoundaryRule{}}
	m := &Model{
		Environments: c.environments(),
		Pipelines:    c.pipelines(),
	}
	c.boundaryRules()
	c.credentials(raw)
	c.secretRefs()
	m.Services = c.services()
	m.Boundaries = c.usedRules()
	m.Freezes = c.freezes(m)
	if err := c.errs.sorted(); err != nil {
		return nil, err
	}
	return m, nil
}

// decode reads the evaluated spec into a document, and returns it as JSON
// too (its concrete output). Going through JSON is several times faster
// than cue.Value.Decode on large specs; numbers in config stay exact
// (json.Number).
func decode(spec *Spec) (*document, []byte, error) {
	b, err := spec.value.MarshalJSON()
	if err != nil {
		return nil, nil, spec.pos.fromCUE(err).sorted()
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, Errors{{Msg: "decoding the evaluated spec: " + err.Error()}}
	}
	return &doc, b, nil
}

// compiler holds what the checks share while one spec compiles.
type compiler struct {
	spec   *Spec
	cat    *regions.Catalog
	clouds []string // sorted
	doc    *document
	errs   Errors

	envs  map[string]*environment
	pipes map[string]PipelineDef
	rules map[boundaryKey]*BoundaryRule
}

type boundaryKey struct{ cloud, boundary string }

// environment is an environment's regions resolved against the catalog,
// sorted by cloud, boundary, region.
type environment struct {
	regions []envRegion
	// invalid is set when a listed region or cloud was reported unknown.
	invalid bool
}

type envRegion struct {
	regions.Region
	cells []string
}

// errorf records an error at the value the path names.
func (c *compiler) errorf(path []cue.Selector, format string, args ...any) {
	c.errs = append(c.errs, c.spec.pos.at(c.spec.posOf(cue.MakePath(path...)), format, args...))
}

// errorAt records an error at pos.
func (c *compiler) errorAt(pos token.Pos, format string, args ...any) {
	c.errs = append(c.errs, c.spec.pos.at(pos, format, args...))
}

func sel(parts ...any) []cue.Selector {
	out := make([]cue.Selector, len(parts))
	for i, p := range parts {
		switch p := p.(type) {
		case string:
			out[i] = cue.Str(p)
		case int:
			out[i] = cue.Index(p)
		}
	}
	return out
}

func (c *compiler) knownCloud(cloud string) bool {
	_, ok := slices.BinarySearch(c.clouds, cloud)
	return ok
}

func (c *compiler) environments() []Environment {
	var out []Environment
	for _, name := range slices.Sorted(maps.Keys(c.doc.Environments)) {
		env := &environment{}
		c.envs[name] = env
		out = append(out, Environment{Name: name, Regions: map[string][]EnvironmentRegion{}})
		model := &out[len(out)-1]
		for _, cloud := range slices.Sorted(maps.Keys(c.doc.Environments[name])) {
			cr := c.doc.Environments[name][cloud]
			if !c.knownCloud(cloud) {
				c.errorf(sel("environments", name, cloud), "environment %q: unknown cloud %q (want one of %s)", name, cloud, strings.Join(c.clouds, ", "))
				env.invalid = true
				continue
			}
			listed := map[string]bool{}
			for i, id := range cr.Regions {
				at := sel("environments", name, cloud, "regions", i)
				if listed[id] {
					c.errorf(at, "region %q is listed twice", id)
					continue
				}
				listed[id] = true
				r, ok := c.regionOf(at, cloud, id)
				if !ok {
					env.invalid = true
					continue
				}
				cells := slices.Sorted(slices.Values(cr.Cells[id]))
				if i := duplicateAt(cells); i >= 0 {
					c.errorf(sel("environments", name, cloud, "cells", id), "region %q: cell %q is listed twice", id, cells[i])
				}
				env.regions = append(env.regions, envRegion{Region: r, cells: cells})
				model.Regions[cloud] = append(model.Regions[cloud], EnvironmentRegion{ID: id, Cells: cells})
			}
			for _, id := range slices.Sorted(maps.Keys(cr.Cells)) {
				if !listed[id] {
					c.errorf(sel("environments", name, cloud, "cells", id), "cells for region %q, which environment %q does not list for %s", id, name, cloud)
				}
			}
			slices.SortFunc(model.Regions[cloud], func(a, b EnvironmentRegion) int { return cmp.Compare(a.ID, b.ID) })
		}
		slices.SortFunc(env.regions, func(a, b envRegion) int {
			return cmp.Or(cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary), cmp.Compare(a.ID, b.ID))
		})
	}
	return out
}

// regionOf looks a region up in one cloud, reporting an unknown region or
// one that belongs to another cloud.
func (c *compiler) regionOf(at []cue.Selector, cloud, id string) (regions.Region, bool) {
	if r, ok := c.cat.Region(cloud, id); ok {
		return r, true
	}
	if others := c.cat.ByID(id); len(others) > 0 {
		clouds := make([]string, len(others))
		for i, r := range others {
			clouds[i] = r.Cloud
		}
		c.errorf(at, "region %q is not a %s region (it is in %s)", id, cloud, strings.Join(clouds, ", "))
	} else {
		c.errorf(at, "unknown region %q for cloud %s", id, cloud)
	}
	return regions.Region{}, false
}

func duplicateAt(sorted []string) int {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return i
		}
	}
	return -1
}

// credentials reports every string of the spec's concrete output (raw, its
// JSON) that looks like a credential, and every provider setting and config
// key whose name says it holds one (see credentials.go). One error per
// value, at the value, naming its path and the kind, never the value. The
// name a secret reference holds is not a credential (secretRefs checks it).
func (c *compiler) credentials(raw []byte) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root any
	if dec.Decode(&root) != nil {
		return // decode reported it
	}
	c.walkCredentials(nil, root, "")
}

// walkCredentials checks every string under v. pair is the secret-like
// name of a name/value pair whose value v is (see pairName), else "".
func (c *compiler) walkCredentials(path []cue.Selector, v any, pair string) {
	switch v := v.(type) {
	case map[string]any:
		config := inConfig(path)
		hint := ""
		if config {
			hint = pairName(v)
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if config && k == SecretRefKey && IsSecretRefObject(v) {
				continue
			}
			h := ""
			if k == "value" {
				h = hint
			}
			c.walkCredentials(append(slices.Clip(path), cue.Str(k)), v[k], h)
		}
	case []any:
		for i, e := range v {
			c.walkCredentials(append(slices.Clip(path), cue.Index(i)), e, "")
		}
	case string:
		c.checkCredential(path, v, pair)
	}
}

// inConfig reports whether path lies in a service's config
// (services.NAME.config…).
func inConfig(path []cue.Selector) bool {
	return len(path) >= 3 && path[0].Type() == cue.StringLabel && path[0].Unquoted() == "services" &&
		path[2].Type() == cue.StringLabel && path[2].Unquoted() == "config"
}

// pairName is the name of a name/value pair of config ({name:
// "DB_PASSWORD", value: "…"}, or key and value, as environment lists are
// written), when the name is secret-like: the value then holds a secret
// whatever the field that holds it is called.
func pairName(m map[string]any) string {
	if _, ok := m["value"].(string); !ok {
		return ""
	}
	for _, k := range []string{"name", "key"} {
		if n, ok := m[k].(string); ok && secretName(n) != "" {
			return n
		}
	}
	return ""
}

// checkCredential checks one string value: by the name of its field in
// provider settings (boundaries.CLOUD.ID.provider.NAME) and in config
// (services.NAME.config…), or by pair, the secret-like name of the
// name/value pair it is the value of, then by its shape.
func (c *compiler) checkCredential(path []cue.Selector, value, pair string) {
	label := func(i int) string {
		if i < 0 || i >= len(path) || path[i].Type() != cue.StringLabel {
			return ""
		}
		return path[i].Unquoted()
	}
	provider := len(path) == 5 && label(0) == "boundaries" && label(3) == "provider"
	config := len(path) >= 4 && inConfig(path)
	advice := `reference a secret instead (see docs/spec.md "Secrets")`
	if provider {
		advice = "credentials come from the cloud SDK's default chain, never from the spec"
	}
	name := label(len(path) - 1)
	if provider && secretName(name) != "" {
		c.errorAt(c.literalPos(path), "provider setting %q looks like a credential; %s", name, advice)
		return
	}
	kind := credentialValue(name, value)
	if kind == "" && config && value != "" {
		switch {
		case secretName(name) != "":
			kind = secretName(name) + " in a secret-like field"
		case pair != "":
			kind = fmt.Sprintf("%s in the value of %q", secretName(pair), pair)
		}
	}
	if kind != "" {
		c.errorAt(c.literalPos(path), "%s: looks like a credential (%s); %s", cue.MakePath(path...), kind, advice)
	}
}

// literalPos is where the value at path was written: the literal itself
// when CUE places the value at its field's label.
func (c *compiler) literalPos(path []cue.Selector) token.Pos {
	p := cue.MakePath(path...)
	if f, ok := c.spec.value.LookupPath(p).Source().(*ast.Field); ok && c.spec.pos.inSpec(f.Value.Pos()) {
		return f.Value.Pos()
	}
	return c.spec.posOf(p)
}

func (c *compiler) boundaryRules() {
	known := map[string]bool{}
	for _, b := range c.cat.Boundaries() {
		known[b.ID] = true
	}
	for _, cloud := range slices.Sorted(maps.Keys(c.doc.Boundaries)) {
		if !c.knownCloud(cloud) {
			c.errorf(sel("boundaries", cloud), "unknown cloud %q (want one of %s)", cloud, strings.Join(c.clouds, ", "))
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(c.doc.Boundaries[cloud])) {
			at := sel("boundaries", cloud, id)
			if _, ok := c.cat.Boundary(cloud, id); !ok {
				c.errorf(at, "unknown boundary %q for cloud %s (want one of %s)", id, cloud, strings.Join(c.boundariesOf(cloud), ", "))
				continue
			}
			rule := c.doc.Boundaries[cloud][id]
			rule.Cloud, rule.Boundary = cloud, id
			if rule.TaskQueue == "" {
				rule.TaskQueue = DefaultTaskQueue(cloud, id)
			}
			for i, after := range rule.After {
				if !known[after] {
					c.errorf(append(at, sel("after", i)...), "unknown boundary %q in after", after)
				}
			}
			rule.After = sortedCopy(rule.After)
			rule.Registries = sortedCopy(rule.Registries)
			rule.AllowedApprovers = sortedCopy(rule.AllowedApprovers)
			if rule.Runtime == "managed" {
				rule.Runtime = "" // the default: kept out of the plan
			}
			if len(rule.Provider) == 0 {
				rule.Provider = nil
			}
			c.rules[boundaryKey{cloud, id}] = &rule
		}
	}
	c.ownQueues()
}

// ownQueues refuses a boundary task queue that is not the boundary's own:
// the control queue, or the queue of another boundary (its default, or the
// one its rules name). Otherwise one boundary's activities would run on
// another's workers, outside the boundary.
func (c *compiler) ownQueues() {
	owner := map[string]string{ControlTaskQueue: "the control workflows'"}
	for _, b := range c.cat.Boundaries() {
		owner[DefaultTaskQueue(b.Cloud, b.ID)] = "boundary " + b.Cloud + "/" + b.ID + "'s"
	}
	for _, k := range slices.SortedFunc(maps.Keys(c.rules), func(a, b boundaryKey) int {
		return strings.Compare(a.cloud+"/"+a.boundary, b.cloud+"/"+b.boundary)
	}) {
		r := c.rules[k]
		self := "boundary " + r.Cloud + "/" + r.Boundary + "'s"
		switch who, taken := owner[r.TaskQueue]; {
		case taken && who != self:
			c.errorf(sel("boundaries", r.Cloud, r.Boundary, "taskQueue"), "task queue %q is %s: a boundary's activities run only on its own queue, which no other boundary shares", r.TaskQueue, who)
		default:
			owner[r.TaskQueue] = self
		}
	}
}

// ControlTaskQueue is where Meridian's control workflows (releases, locks,
// applies, surveys) run; no boundary's activities do.
const ControlTaskQueue = "meridian-control"

// DefaultTaskQueue is the task queue of a boundary whose rules name none:
// only workers inside the boundary poll it.
func DefaultTaskQueue(cloud, boundary string) string { return "meridian-" + cloud + "-" + boundary }

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(s)))
}

func (c *compiler) boundariesOf(cloud string) []string {
	var ids []string
	for _, b := range c.cat.Boundaries() {
		if b.Cloud == cloud {
			ids = append(ids, b.ID)
		}
	}
	return ids
}

// rule returns the rule of a boundary, adding one with the defaults when
// the spec does not mention it.
func (c *compiler) rule(cloud, boundary string) *BoundaryRule {
	k := boundaryKey{cloud, boundary}
	r, ok := c.rules[k]
	if !ok {
		r = &BoundaryRule{Cloud: cloud, Boundary: boundary, TaskQueue: DefaultTaskQueue(cloud, boundary)}
		c.rules[k] = r
	}
	return r
}

// usedRules returns the rules of the spec and those of every boundary a
// target is in, sorted by cloud and boundary.
func (c *compiler) usedRules() []BoundaryRule {
	var out []BoundaryRule
	for _, r := range c.rules {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b BoundaryRule) int {
		return cmp.Or(cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary))
	})
	return out
}

func (c *compiler) pipelines() []PipelineDef {
	c.pipes = map[string]PipelineDef{}
	var out []PipelineDef
	for _, name := range slices.Sorted(maps.Keys(c.doc.Pipelines)) {
		doc := c.doc.Pipelines[name]
		p := PipelineDef{Name: name, Stages: doc.Stages, Rollback: doc.Rollback}
		c.checkStages(name, p.Stages)
		c.pipes[name] = p
		out = append(out, p)
	}
	return out
}

// checkStages reports unknown environments, duplicate stage names, bad
// selections, stages that can never have targets, and environments whose
// stages can leave targets without the release.
func (c *compiler) checkStages(pipeline string, stages []StageDef) {
	names := map[string]bool{}
	takenAll := map[string]string{} // environment → stage that takes everything left
	coverage := map[string]*envCoverage{}
	var order []string // environments in the order of their first stage
	for i, st := range stages {
		at := sel("pipelines", pipeline, "stages", i)
		cov := coverage[st.Environment]
		if cov == nil {
			cov = &envCoverage{}
			coverage[st.Environment] = cov
			order = append(order, st.Environment)
		}
		cov.last = i
		if names[st.Name] {
			c.errorf(append(at, sel("name")...), "pipeline %q: stage name %q is used twice", pipeline, st.Name)
		}
		names[st.Name] = true
		env, ok := c.envs[st.Environment]
		if !ok {
			c.errorf(append(at, sel("environment")...), "stage %q: unknown environment %q (want one of %s)", st.Name, st.Environment, strings.Join(slices.Sorted(maps.Keys(c.envs)), ", "))
			continue
		}
		if st.Select.Limit > 0 && st.Select.Percent > 0 {
			c.errorf(append(at, sel("select")...), "stage %q: select sets both limit and percent; choose one", st.Name)
		}
		selectors, ok := c.selectors(append(at, sel("select", "regions")...), st.Select.Regions)
		if !ok {
			cov.unknown = true
			continue
		}
		// unlimited: the stage takes every target its selectors match that earlier stages left
		unlimited := st.Select.Limit == 0 && (st.Select.Percent == 0 || st.Select.Percent == 100)
		if unlimited {
			cov.full = append(cov.full, selectors)
		}
		switch {
		case env.invalid:
			// its regions are reported already
		case len(env.regions) == 0:
			c.errorf(at, "stage %q can never have targets: environment %q has no regions", st.Name, st.Environment)
		case takenAll[st.Environment] != "":
			c.errorf(at, "stage %q can never have targets: stage %q before it takes every target of environment %q", st.Name, takenAll[st.Environment], st.Environment)
		case len(selectors) > 0 && !slices.ContainsFunc(env.regions, func(r envRegion) bool { return matchesAny(selectors, r.Region) }):
			c.errorf(append(at, sel("select", "regions")...), "stage %q can never have targets: select.regions matches none of the regions of environment %q", st.Name, st.Environment)
		}
		if unlimited && len(selectors) == 0 && takenAll[st.Environment] == "" {
			takenAll[st.Environment] = st.Name
		}
	}
	for _, name := range order {
		env, cov := c.envs[name], coverage[name]
		if env == nil || env.invalid || cov.unknown {
			continue // reported already
		}
		if missed := cov.missed(env.regions); len(missed) > 0 {
			c.errorf(sel("pipelines", pipeline, "stages", cov.last),
				"pipeline %q: stage %q is the last stage of environment %q but takes only some targets (no stage without limit or percent takes the targets in %s); add a final stage without select so every target gets the release",
				pipeline, stages[cov.last].Name, name, summary(missed, 3))
		}
	}
}

// envCoverage is what the stages of one environment in a pipeline take.
//
// A region is covered when a stage of the environment without limit and
// percent (or percent 100) selects it: that stage takes every target in the
// region an earlier stage left. Build then leaves no target of a covered
// region without a stage, whatever the service's placement; a target in an
// uncovered region can be left when the stages' limits and percents run out.
type envCoverage struct {
	full    [][]regions.Selector // select.regions of each stage without limit or percent; empty means all
	last    int                  // index of the environment's last stage
	unknown bool                 // a stage's selectors did not parse
}

// missed returns the regions, as cloud:region, that no stage takes in full.
func (cov *envCoverage) missed(rs []envRegion) []string {
	var out []string
	for _, r := range rs {
		if !slices.ContainsFunc(cov.full, func(sels []regions.Selector) bool { return len(sels) == 0 || matchesAny(sels, r.Region) }) {
			out = append(out, r.Cloud+":"+r.ID)
		}
	}
	return out
}

// summary joins the first n items and says how many more there are.
func summary(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// selectors parses region selectors, reporting each bad one.
func (c *compiler) selectors(at []cue.Selector, written []string) ([]regions.Selector, bool) {
	out := make([]regions.Selector, 0, len(written))
	ok := true
	for i, s := range written {
		parsed, err := regions.ParseSelector(s)
		if err != nil {
			c.errorf(append(slices.Clip(at), cue.Index(i)), "%v", err)
			ok = false
			continue
		}
		if parsed.Kind == regions.KindRegion && len(c.cat.Select(parsed)) == 0 {
			if parsed.Cloud != "" {
				c.regionOf(append(slices.Clip(at), cue.Index(i)), parsed.Cloud, parsed.Value)
			} else {
				c.errorf(append(slices.Clip(at), cue.Index(i)), "unknown region %q", parsed.Value)
			}
			ok = false
			continue
		}
		out = append(out, parsed)
	}
	return out, ok
}

func matchesAny(sels []regions.Selector, r regions.Region) bool {
	for _, s := range sels {
		if s.Matches(r) {
			return true
		}
	}
	return false
}

func (c *compiler) services() []Service {
	var out []Service
	for _, name := range slices.Sorted(maps.Keys(c.doc.Services)) {
		if svc, ok := c.service(name, c.doc.Services[name]); ok {
			out = append(out, svc)
		}
	}
	return out
}

func (c *compiler) service(name string, doc serviceDoc) (Service, bool) {
	at := func(parts ...any) []cue.Selector { return sel(append([]any{"services", name}, parts...)...) }
	errs := len(c.errs)
	svc := Service{
		Name:      name,
		Owner:     doc.Owner,
		Artifact:  doc.Artifact,
		Pipeline:  doc.Pipeline,
		Instances: doc.Instances,
		Config:    doc.Config,
		Sharding:  doc.Sharding,
		Placement: PlacementRule{
			Clouds:     sortedCopy(doc.Placement.Clouds),
			Boundaries: sortedCopy(doc.Placement.Boundaries),
			Include:    doc.Placement.Include,
			Exclude:    doc.Placement.Exclude,
		},
	}
	if len(svc.Config) == 0 {
		svc.Config = nil
	}
	svc.Gates = c.gates(at("health", "gates"), doc.Health.Gates)

	pipe, ok := c.pipes[doc.Pipeline]
	if !ok {
		c.errorf(at("pipeline"), "service %q: unknown pipeline %q (want one of %s)", name, doc.Pipeline, strings.Join(slices.Sorted(maps.Keys(c.pipes)), ", "))
	}
	clouds := map[string]bool{}
	for i, cloud := range doc.Placement.Clouds {
		if !c.knownCloud(cloud) {
			c.errorf(at("placement", "clouds", i), "unknown cloud %q (want one of %s)", cloud, strings.Join(c.clouds, ", "))
		}
		clouds[cloud] = true
	}
	boundaries := map[string]bool{}
	for i, b := range doc.Placement.Boundaries {
		if !slices.ContainsFunc(svc.Placement.Clouds, func(cloud string) bool { _, ok := c.cat.Boundary(cloud, b); return ok }) {
			var have []string
			for _, cloud := range svc.Placement.Clouds {
				if c.knownCloud(cloud) {
					have = append(have, cloud+": "+strings.Join(c.boundariesOf(cloud), ", "))
				}
			}
			c.errorf(at("placement", "boundaries", i), "no cloud of the service has boundary %q (%s)", b, strings.Join(have, "; "))
		}
		boundaries[b] = true
	}
	for _, cloud := range slices.Sorted(maps.Keys(doc.Runtime)) {
		if !clouds[cloud] {
			c.errorf(at("runtime", cloud), "runtime for cloud %q, which the service does not use (placement.clouds: %s)", cloud, strings.Join(svc.Placement.Clouds, ", "))
		}
	}
	include, okInc := c.selectors(at("placement", "include"), doc.Placement.Include)
	exclude, okExc := c.selectors(at("placement", "exclude"), doc.Placement.Exclude)
	if okInc {
		c.checkInclude(at("placement", "include"), include, clouds, boundaries)
	}
	if len(c.errs) > errs || !okExc {
		return svc, false
	}

	seen := map[string]bool{}
	for _, st := range pipe.Stages {
		if seen[st.Environment] {
			continue
		}
		seen[st.Environment] = true
		env := c.envs[st.Environment]
		if env == nil {
			continue
		}
		for _, r := range env.regions {
			if !clouds[r.Cloud] || !boundaries[r.Boundary] || (len(include) > 0 && !matchesAny(include, r.Region)) || matchesAny(exclude, r.Region) {
				continue
			}
			t := Target{Service: name, Environment: st.Environment, Cloud: r.Cloud, Boundary: r.Boundary, Region: r.ID,
				Runtime: c.runtime(doc, r.Cloud, r.Boundary)}
			if t.Runtime == RuntimeKubernetes && len(r.cells) == 0 {
				c.errorf(c.runtimeAt(name, doc, r.Cloud, r.Boundary), "service %q runs on Kubernetes in %s:%s, which has no cells: list the region's clusters in environments.%s.%s.cells", name, r.Cloud, r.ID, st.Environment, r.Cloud)
				continue
			}
			if len(r.cells) == 0 {
				svc.Targets = append(svc.Targets, t)
			}
			for _, cell := range r.cells {
				t.Cell = cell
				svc.Targets = append(svc.Targets, t)
			}
		}
	}
	if len(c.errs) > errs {
		return svc, false
	}
	if slices.ContainsFunc(svc.Targets, func(t Target) bool { return t.Runtime == RuntimeKubernetes }) {
		svc.Kubernetes = &Kubernetes{Workload: doc.Kubernetes.Workload}
	}
	if len(svc.Targets) == 0 {
		c.errorf(at(), "service %q is placed nowhere: no region of the environments of pipeline %q is in its clouds and boundaries and matches its include and exclude", name, doc.Pipeline)
		return svc, false
	}
	slices.SortFunc(svc.Targets, CompareTargets)
	c.checkRegistry(at("artifact", "image"), svc)
	return svc, true
}

// runtime is what runs the service on cloud's boundary: the service's own
// runtime for the cloud, else the boundary's; "" for managed.
func (c *compiler) runtime(doc serviceDoc, cloud, boundary string) string {
	rt := doc.Runtime[cloud]
	if rt == "" {
		rt = c.rule(cloud, boundary).Runtime
	}
	if rt == "managed" {
		return ""
	}
	return rt
}

// runtimeAt is where the spec says a service runs on Kubernetes in cloud.
func (c *compiler) runtimeAt(service string, doc serviceDoc, cloud, boundary string) []cue.Selector {
	if doc.Runtime[cloud] != "" {
		return sel("services", service, "runtime", cloud)
	}
	return sel("boundaries", cloud, boundary, "runtime")
}

// checkInclude reports include entries that name a region, cloud or
// boundary the service can never run in.
func (c *compiler) checkInclude(at []cue.Selector, include []regions.Selector, clouds, boundaries map[string]bool) {
	for i, s := range include {
		switch s.Kind {
		case regions.KindRegion:
			candidates := c.cat.Select(s)
			if !slices.ContainsFunc(candidates, func(r regions.Region) bool { return clouds[r.Cloud] }) {
				c.errorf(append(slices.Clip(at), cue.Index(i)), "include %q names a region of no cloud the service uses (placement.clouds: %s)", s, strings.Join(slices.Sorted(maps.Keys(clouds)), ", "))
				continue
			}
			if !slices.ContainsFunc(candidates, func(r regions.Region) bool { return clouds[r.Cloud] && boundaries[r.Boundary] }) {
				c.errorf(append(slices.Clip(at), cue.Index(i)), "include %q names a region in boundary %q, which the service does not allow (placement.boundaries: %s)", s, candidates[0].Boundary, strings.Join(slices.Sorted(maps.Keys(boundaries)), ", "))
			}
		case regions.KindBoundary:
			if !boundaries[s.Value] {
				c.errorf(append(slices.Clip(at), cue.Index(i)), "include %q names boundary %q, which the service does not allow (placement.boundaries: %s)", s, s.Value, strings.Join(slices.Sorted(maps.Keys(boundaries)), ", "))
			}
		case regions.KindCloud:
			if !clouds[s.Value] {
				c.errorf(append(slices.Clip(at), cue.Index(i)), "include %q names cloud %q, which the service does not use (placement.clouds: %s)", s, s.Value, strings.Join(slices.Sorted(maps.Keys(clouds)), ", "))
			}
		}
	}
}

// checkRegistry reports every boundary of the service's targets whose rules
// do not allow the artifact's registry, adding default rules for boundaries
// the spec does not mention.
func (c *compiler) checkRegistry(at []cue.Selector, svc Service) {
	registry := Registry(svc.Artifact.Image)
	var last boundaryKey
	for _, t := range svc.Targets {
		k := boundaryKey{t.Cloud, t.Boundary}
		if k == last {
			continue
		}
		last = k
		rule := c.rule(t.Cloud, t.Boundary)
		if len(rule.Registries) > 0 && !slices.Contains(rule.Registries, registry) {
			c.errorf(at, "service %q: registry %q is not allowed in %s boundary %q (allowed: %s)", svc.Name, registry, t.Cloud, t.Boundary, strings.Join(rule.Registries, ", "))
		}
	}
}

// Registry returns the registry host of an image reference, the way Docker
// reads it: the first path element when it has a "." or ":" or is
// "localhost", else docker.io.
func Registry(image string) string {
	host, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(host, ".:") || host == "localhost") {
		return host
	}
	return "docker.io"
}

// gates checks that each gate has exactly one kind and names it.
func (c *compiler) gates(at []cue.Selector, gates []Gate) []Gate {
	if len(gates) == 0 {
		return nil
	}
	names := map[string]bool{}
	for i := range gates {
		g := &gates[i]
		kinds := 0
		var name string
		if g.HTTP != nil {
			kinds++
			name = "http:" + g.HTTP.Path
		}
		if g.Alarm != nil {
			kinds++
			name = "alarm:" + g.Alarm.Name
		}
		if g.Metric != nil {
			kinds++
			name = "metric:" + g.Metric.Name
		}
		if g.Workload != nil {
			kinds++
			name = "workload"
		}
		if kinds != 1 {
			c.errorf(append(slices.Clip(at), cue.Index(i)), "gate must have exactly one of http, alarm, metric and workload (it has %d)", kinds)
		}
		if g.Name == "" {
			g.Name = name
		}
		if names[g.Name] {
			c.errorf(append(slices.Clip(at), cue.Index(i)), "gate name %q is used twice; set name", g.Name)
		}
		names[g.Name] = true
	}
	return gates
}
