package pipelines

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meridian-deploy/meridian/placement"
)

// Markdown renders the plan for people: per service, per (cloud, boundary),
// a table of its stages and their targets.
func (p *Plan) Markdown() string {
	var b strings.Builder
	services, targets := 0, 0
	for i, pl := range p.Pipelines {
		if i == 0 || p.Pipelines[i-1].Service != pl.Service {
			services++
		}
		for _, st := range pl.Stages {
			targets += len(st.Targets)
		}
	}
	fmt.Fprintf(&b, "# Meridian plan\n\n%s · %s · %s\n", plural(services, "service"), plural(len(p.Pipelines), "pipeline"), plural(targets, "target"))
	for i, pl := range p.Pipelines {
		if i == 0 || p.Pipelines[i-1].Service != pl.Service {
			fmt.Fprintf(&b, "\n## %s\n", pl.Service)
		}
		fmt.Fprintf(&b, "\n### %s/%s\n\n", pl.Cloud, pl.Boundary)
		fmt.Fprintf(&b, "Pipeline %s, task queue %s, rollback %s", code(pl.Definition), code(pl.TaskQueue), pl.Rollback)
		if len(pl.After) > 0 {
			fmt.Fprintf(&b, "; starts %s after %s", cmp.Or(durationText(pl.Lag), "0s"), strings.Join(pl.After, ", "))
		}
		b.WriteString(".\n\n| stage | environment | targets | parallel | bake | approval |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, st := range pl.Stages {
			ids := make([]string, len(st.Targets))
			for i, t := range st.Targets {
				ids[i] = regionCell(t)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", st.Name, st.Environment, strings.Join(ids, ", "),
				st.MaxParallel, cmp.Or(durationText(st.Bake), "—"), yes(st.Approval))
		}
	}
	if len(p.Frozen) > 0 {
		b.WriteString("\n## Frozen now\n\n")
		writeFrozen(&b, p.Frozen)
	}
	return b.String()
}

// writeFrozen writes the stages freezes hold, one line each.
func writeFrozen(b *strings.Builder, held []HeldStage) {
	b.WriteString("| service | pipeline | stage | targets | held by |\n| --- | --- | --- | --- | --- |\n")
	for _, h := range held {
		fmt.Fprintf(b, "| %s | %s/%s | %s | %d | %s |\n", h.Service, h.Cloud, h.Boundary, h.Stage, h.Targets, h.Hold.Reason(h.Stage))
	}
}

// Markdown renders the change as a pull request comment: a summary, a loud
// line when a sovereign boundary is touched, a table of services, and the
// details of each service folded in a <details> block.
func (c *Change) Markdown() string {
	var b strings.Builder
	s := c.Summary
	if c.Empty() {
		b.WriteString("### Meridian: no change to the plan\n")
		return b.String()
	}
	fmt.Fprintf(&b, "### Meridian: %s changed (%d added, %d removed) · targets +%d / −%d · %s changed\n\n",
		plural(s.ServicesChanged, "service"), s.ServicesAdded, s.ServicesRemoved, s.TargetsAdded, s.TargetsRemoved, plural(s.PipelinesChanged, "pipeline"))
	if len(s.Sovereign) > 0 {
		fmt.Fprintf(&b, "> ⚠️ **Sovereign boundary touched: %s**\n\n", strings.Join(s.Sovereign, ", "))
	}
	if len(c.Boundaries) > 0 {
		b.WriteString("**Boundary rules**\n\n| boundary | change | field | before | after |\n| --- | --- | --- | --- | --- |\n")
		for _, bc := range c.Boundaries {
			for _, f := range bc.Fields {
				fmt.Fprintf(&b, "| %s/%s | %s | %s | %s | %s |\n", bc.Cloud, bc.Boundary, bc.Kind, f.Field, value(f.Old), value(f.New))
			}
		}
		b.WriteString("\n")
	}
	if len(c.Services) == 0 {
		writeOnMerge(&b, c.OnMerge)
		writeFrozenOnMerge(&b, c.Frozen)
		return b.String()
	}
	b.WriteString("| service | change | targets | pipelines | settings | boundaries |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, sc := range c.Services {
		fmt.Fprintf(&b, "| %s | %s | +%d / −%d | %d | %s | %s |\n", sc.Service, sc.Kind, len(sc.TargetsAdded), len(sc.TargetsRemoved),
			len(sc.Pipelines), settings(sc), boundaries(sc.Boundaries))
	}
	if len(c.OnMerge) > 0 {
		b.WriteString("\n")
		writeOnMerge(&b, c.OnMerge)
	}
	writeFrozenOnMerge(&b, c.Frozen)
	for _, sc := range c.Services {
		writeService(&b, sc)
	}
	return b.String()
}

// writeFrozenOnMerge writes, loud, the stages of the On merge releases
// that a freeze would hold.
func writeFrozenOnMerge(b *strings.Builder, held []HeldStage) {
	if len(held) == 0 {
		return
	}
	fmt.Fprintf(b, "\n> ❄️ **Frozen: merged now, the releases would wait before %s**\n\n", plural(len(held), "stage"))
	writeFrozen(b, held)
}

// writeOnMerge writes the "On merge" section: the release apply starts per
// service, with a loud line for removed services (they need --prune) and
// one for the sovereign boundaries the releases touch. It names config
// versions, never config values.
func writeOnMerge(b *strings.Builder, releases []Release) {
	if len(releases) == 0 {
		return
	}
	b.WriteString("**On merge** (the releases `meridian apply` starts, one per service)\n\n")
	var prune []string
	bySovereign := map[string][]string{}
	for _, r := range releases {
		if r.NeedsPrune {
			prune = append(prune, fmt.Sprintf("%s (%s)", r.Service, plural(len(r.TargetsRemoved), "target")))
		}
		for _, cb := range r.Sovereign {
			bySovereign[cb] = append(bySovereign[cb], r.Service)
		}
	}
	if len(prune) > 0 {
		fmt.Fprintf(b, "> ⚠️ **Removed services are decommissioned only with `--prune`: %s; without it apply removes nothing and exits 1**\n\n", strings.Join(prune, ", "))
	}
	if len(bySovereign) > 0 {
		var touched []string
		for _, cb := range slices.Sorted(maps.Keys(bySovereign)) {
			touched = append(touched, fmt.Sprintf("%s (%s)", cb, strings.Join(bySovereign[cb], ", ")))
		}
		fmt.Fprintf(b, "> ⚠️ **Releases on merge touch sovereign boundaries: %s**\n\n", strings.Join(touched, ", "))
	}
	for _, r := range releases {
		fmt.Fprintf(b, "- **%s**: %s\n", r.Service, r.Summary)
	}
}

func writeService(b *strings.Builder, sc ServiceChange) {
	fmt.Fprintf(b, "\n<details>\n<summary><b>%s</b> %s: +%d / −%d targets, %s</summary>\n\n",
		sc.Service, sc.Kind, len(sc.TargetsAdded), len(sc.TargetsRemoved), plural(len(sc.Pipelines), "pipeline"))
	if fields := slices.Concat(sc.Fields, sc.Config); len(fields) > 0 {
		b.WriteString("| field | before | after |\n| --- | --- | --- |\n")
		for _, f := range fields {
			fmt.Fprintf(b, "| %s | %s | %s |\n", f.Field, value(f.Old), value(f.New))
		}
		b.WriteString("\n")
	}
	writeTargets(b, "Targets added", sc.TargetsAdded)
	writeTargets(b, "Targets removed", sc.TargetsRemoved)
	if len(sc.Pipelines) > 0 {
		b.WriteString("**Pipelines**\n\n")
		for _, pc := range sc.Pipelines {
			fmt.Fprintf(b, "- %s/%s %s", pc.Cloud, pc.Boundary, pc.Kind)
			writeFields(b, pc.Fields)
			b.WriteString("\n")
			for _, st := range pc.Stages {
				fmt.Fprintf(b, "  - stage %s (%s) %s", code(st.Name), st.Environment, st.Kind)
				writeFields(b, st.Fields)
				writeIDs(b, "+", st.TargetsAdded)
				writeIDs(b, "−", st.TargetsRemoved)
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("</details>\n")
}

func writeTargets(b *strings.Builder, title string, ts []placement.Target) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintf(b, "**%s**\n\n| environment | cloud | boundary | region | cell |\n| --- | --- | --- | --- | --- |\n", title)
	for _, t := range ts {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", t.Environment, t.Cloud, t.Boundary, t.Region, t.Cell)
	}
	b.WriteString("\n")
}

func writeFields(b *strings.Builder, fields []FieldChange) {
	for _, f := range fields {
		fmt.Fprintf(b, "; %s %s → %s", f.Field, value(f.Old), value(f.New))
	}
}

func writeIDs(b *strings.Builder, sign string, ids []string) {
	if len(ids) > 0 {
		fmt.Fprintf(b, "; %s%s", sign, strings.Join(ids, ", "+sign))
	}
}

// settings names the service settings that changed: owner, artifact.version,
// gates, config…; none for a service added or removed.
func settings(sc ServiceChange) string {
	if sc.Kind != Changed {
		return ""
	}
	var names []string
	for _, f := range slices.Concat(sc.Fields, sc.Config) {
		name := f.Field
		if top, _, ok := strings.Cut(name, "."); ok && top != "artifact" {
			name = top
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// boundaries writes cloud/boundary pairs, flagging sovereign ones.
func boundaries(list []string) string {
	out := make([]string, len(list))
	for i, cb := range list {
		out[i] = cb
		if isSovereign(cb) {
			out[i] = "⚠️ " + cb
		}
	}
	return strings.Join(out, ", ")
}

// value writes a field value as inline code, or "—" when absent.
func value(s string) string {
	if s == "" {
		return "—"
	}
	return code(s)
}

// code writes s as inline code that is safe inside a table cell.
func code(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
