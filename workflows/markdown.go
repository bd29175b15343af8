package workflows

import (
	"fmt"
	"strings"

	"github.com/meridian-deploy/meridian/pipelines"
)

// The Web UI is a product surface: every workflow has a one-line
// StaticSummary, a StaticDetails page (what changes, where, which stages)
// and live current details (a stage table). These functions render them.

func changeLine(svc string, c Change) string {
	switch c.Kind {
	case KindConfig:
		return fmt.Sprintf("config %s of %s", c.Version, svc)
	case KindRestart:
		return fmt.Sprintf("shard-aware restart of %s", svc)
	case KindRevert:
		return fmt.Sprintf("rollback of %s to before %s", svc, c.Reverts)
	case KindApply:
		parts := make([]string, len(c.Parts))
		for i, p := range c.Parts {
			parts[i] = string(p)
		}
		return fmt.Sprintf("apply of %s %s, config %s (%s)", svc, orDash(c.Version), orDash(c.ConfigVersion), strings.Join(parts, ", "))
	}
	return fmt.Sprintf("%s %s", svc, c.Version)
}

func releaseSummary(req ReleaseRequest) string {
	keys := make([]string, 0, len(req.Pipelines))
	for _, pl := range req.Pipelines {
		keys = append(keys, pipelineKey(pl))
	}
	return fmt.Sprintf("%s → %s (change %s)", changeLine(req.Service, req.Change), strings.Join(keys, ", "), req.Change.ID)
}

func releaseStaticDetails(req ReleaseRequest) string {
	var b strings.Builder
	printf(&b, "## Release of %s\n\n", changeLine(req.Service, req.Change))
	printf(&b, "- change: `%s` (%s, triggered by %s", req.Change.ID, req.Change.Kind, orDash(req.Change.Trigger))
	if req.Change.Who != "" {
		printf(&b, ", %s", req.Change.Who)
	}
	b.WriteString(")\n")
	if req.Change.Image != "" {
		printf(&b, "- artifact: `%s:%s`\n", req.Change.Image, req.Change.Version)
	}
	if req.RollbackWindow > 0 {
		printf(&b, "- rollback window after success: %s\n", req.RollbackWindow)
	}
	b.WriteString("\n| pipeline | task queue | rollback | after | stages |\n| --- | --- | --- | --- | --- |\n")
	for _, pl := range req.Pipelines {
		after := "—"
		if len(pl.After) > 0 {
			after = strings.Join(pl.After, ", ")
			if pl.Lag > 0 {
				after += " + " + pl.Lag.String()
			}
		}
		printf(&b, "| %s | %s | %s | %s | %s |\n", pipelineKey(pl), pipelineQueue(pl), pl.Rollback, after, stageList(pl))
	}
	return b.String()
}

func stageList(pl pipelines.Pipeline) string {
	names := make([]string, 0, len(pl.Stages))
	for _, s := range pl.Stages {
		names = append(names, fmt.Sprintf("%s (%d)", s.Name, len(s.Targets)))
	}
	return strings.Join(names, " → ")
}

func releaseDetails(st Status) string {
	var b strings.Builder
	printf(&b, "**%s** — %s\n\n", st.Phase, orDash(st.Reason))
	b.WriteString("| pipeline | stage | phase | targets | note |\n| --- | --- | --- | --- | --- |\n")
	for _, ps := range st.Pipelines {
		key := ps.Cloud + "/" + ps.Boundary
		if ps.Decommission {
			key += " (decommission)"
		}
		printf(&b, "| %s | %s | %s | %d/%d | %s |\n", key, orDash(ps.Stage), ps.Phase, ps.Done, ps.Total, orDash(ps.Reason))
	}
	if len(st.LeftAlone) > 0 {
		printf(&b, "\n**left alone** (changed since by another release): %s\n", strings.Join(st.LeftAlone, "; "))
	}
	if len(st.LeftAsIs) > 0 {
		printf(&b, "\n**left as they are** (rollback failed): %s\n", strings.Join(st.LeftAsIs, ", "))
	}
	if len(st.Events) > 0 {
		b.WriteString("\n| time | action | who | reason |\n| --- | --- | --- | --- |\n")
		for _, e := range st.Events {
			printf(&b, "| %s | %s %s | %s | %s |\n", e.Time.Format("15:04:05"), e.Action, e.Stage, e.Who, orDash(e.Reason))
		}
	}
	return b.String()
}

func pipelineSummary(req ReleaseRequest, pl pipelines.Pipeline) string {
	return fmt.Sprintf("%s in %s: %s", changeLine(req.Service, req.Change), pipelineKey(pl), stageList(pl))
}

func pipelineStaticDetails(req ReleaseRequest, pl pipelines.Pipeline) string {
	var b strings.Builder
	printf(&b, "## %s in %s\n\npipeline `%s`, rollback **%s**\n\n", changeLine(req.Service, req.Change), pipelineKey(pl), pl.Definition, pl.Rollback)
	b.WriteString("| # | stage | environment | targets | max parallel | bake | approval |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for i, s := range pl.Stages {
		printf(&b, "| %d | %s | %s | %d | %d | %s | %v |\n", i+1, s.Name, s.Environment, len(s.Targets), s.MaxParallel, s.Bake, s.Approval)
	}
	return b.String()
}

// pipelineDetails renders the stage table; unwound marks the stages whose
// changes were rolled back.
func pipelineDetails(in PipelineInput, st PipelineStatus, unwound []bool) string {
	var b strings.Builder
	printf(&b, "%s in %s (pipeline `%s`, rollback %s)\n\n", changeLine(in.Service, in.Change), pipelineKey(in.Pipeline), in.Pipeline.Definition, in.Pipeline.Rollback)
	printf(&b, "**%s** — %s\n\n| stage | targets | state |\n| --- | --- | --- |\n", st.Phase, orDash(st.Reason))
	current := -1
	for i, s := range in.Pipeline.Stages {
		if s.Name == st.Stage {
			current = i
		}
	}
	for i, s := range in.Pipeline.Stages {
		state := "pending"
		switch {
		case i <= current && unwound[i]:
			state = "rolled back"
		case i < current || (i == current && st.Phase == PhaseSucceeded):
			state = "done"
		case i == current:
			state = fmt.Sprintf("%s, %d/%d done", st.Phase, st.Done, st.Total)
		}
		printf(&b, "| %s | %d | %s |\n", s.Name, len(s.Targets), state)
	}
	return b.String()
}

// printf appends to b (fmt.Fprintf to a writer is what workflowcheck
// cannot tell from I/O).
func printf(b *strings.Builder, format string, args ...any) {
	b.WriteString(fmt.Sprintf(format, args...))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
