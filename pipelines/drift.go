package pipelines

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-deploy/meridian/placement"
)

// SyncState is a target's state against the spec, as a fleet survey
// (meridian fleet) assesses it.
type SyncState string

const (
	InSync   SyncState = "in-sync"  // runs the version and config the spec expects, ready
	Drifted  SyncState = "drifted"  // runs another version or config version
	Missing  SyncState = "missing"  // nothing runs
	Degraded SyncState = "degraded" // runs what the spec expects, not all of it ready
	Orphaned SyncState = "orphaned" // Meridian deployed it, the spec no longer has it
	Unknown  SyncState = "unknown"  // what runs could not be read
)

// SyncStates lists the states in the order reports count them.
var SyncStates = []SyncState{InSync, Drifted, Missing, Degraded, Orphaned, Unknown}

// VersionFromRelease is Expectation.VersionFrom for a service whose spec
// sets no version: the version of its last succeeded release is expected.
const VersionFromRelease = "last succeeded release"

// Expectation is what the spec expects to run on every target of a service.
type Expectation struct {
	Service string `json:"service"`
	// Version is the artifact version expected, "" when none is known (no
	// version in the spec and no succeeded release): versions are then
	// not compared. VersionFrom says where it comes from: "spec" or
	// VersionFromRelease.
	Version     string `json:"version,omitempty"`
	VersionFrom string `json:"versionFrom,omitempty"`
	// ConfigVersion is the spec's config (see ConfigVersion).
	ConfigVersion string `json:"configVersion"`
}

// Expect returns, for each service of the model in order, what its targets
// should run: the spec's version, else released[service] (the version of its
// last succeeded release, when it has one), and the spec's config version.
func Expect(model *placement.Model, released map[string]string) []Expectation {
	out := make([]Expectation, 0, len(model.Services))
	for _, svc := range model.Services {
		e := Expectation{Service: svc.Name, ConfigVersion: ConfigVersion(svc.Config)}
		switch v, ok := released[svc.Name]; {
		case svc.Artifact.Version != "":
			e.Version, e.VersionFrom = svc.Artifact.Version, "spec"
		case ok && v != "":
			e.Version, e.VersionFrom = v, VersionFromRelease
		}
		out = append(out, e)
	}
	return out
}

// Observed is what runs on a target, as its driver reports it (the
// workflows convert a driver.Current), or why it could not be read.
type Observed struct {
	// Running is false when nothing runs (no live revision).
	Running bool `json:"running,omitempty"`
	// Version and ConfigVersion are what runs; "" when the driver cannot
	// tell (an untagged image, a driver that does not report config).
	Version       string `json:"version,omitempty"`
	ConfigVersion string `json:"configVersion,omitempty"`
	// ChangeID is the change of the release that made it live, where the
	// driver records it.
	ChangeID string `json:"changeId,omitempty"`
	Ready    int    `json:"ready,omitempty"`
	Desired  int    `json:"desired,omitempty"`
	// Failed is set when the live revision's rollout failed; Reason says
	// why, or why it is not ready.
	Failed bool   `json:"failed,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Error is why the target could not be read.
	Error string `json:"error,omitempty"`
}

// Assess compares what runs on a target with what the spec expects (nil:
// the spec does not have the target) and says why when it is not in sync.
//
// Versions are compared when the expectation has one; config versions when
// the target reports one (a driver reports none for a target without
// config, and a driver that cannot tell reports none either). A target the
// spec does not have is orphaned while anything runs there; Assess reports
// it in sync once nothing does.
func Assess(e *Expectation, o Observed) (SyncState, string) {
	running := o.Running && o.Desired > 0
	switch {
	case o.Error != "":
		return Unknown, o.Error
	case e == nil && running:
		return Orphaned, "not in the spec"
	case e == nil:
		return InSync, ""
	case !running:
		return Missing, "nothing runs"
	case e.Version != "" && o.Version != e.Version:
		return Drifted, fmt.Sprintf("version %s, want %s (%s)", orNone(o.Version), e.Version, e.VersionFrom)
	case o.ConfigVersion != "" && o.ConfigVersion != e.ConfigVersion:
		return Drifted, fmt.Sprintf("config %s, want %s", o.ConfigVersion, e.ConfigVersion)
	case o.Failed || o.Ready < o.Desired:
		why := fmt.Sprintf("%d/%d ready", o.Ready, o.Desired)
		if o.Reason != "" {
			why += ": " + o.Reason
		}
		return Degraded, why
	}
	return InSync, ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// FleetTarget is one target's line of a fleet report.
type FleetTarget struct {
	Target   placement.Target `json:"target"`
	State    SyncState        `json:"state"`
	Reason   string           `json:"reason,omitempty"`
	Observed Observed         `json:"observed"`
}

// Unlisted is a region where orphans were not looked for, and why (its
// driver cannot list what Meridian deployed, or the listing failed).
type Unlisted struct {
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	Region   string `json:"region"`
	Reason   string `json:"reason"`
}

// FleetReport is what a fleet survey found: every target it read, sorted
// by ID, and the regions where orphans were not looked for.
type FleetReport struct {
	Targets  []FleetTarget `json:"targets"`
	Listed   int           `json:"listed"` // listings where orphans were looked for: one per region and runtime
	Unlisted []Unlisted    `json:"unlisted,omitempty"`
}

// Sort puts the targets in ID order (service, environment, cloud,
// boundary, region, cell) and the unlisted regions in theirs.
func (r *FleetReport) Sort() {
	slices.SortFunc(r.Targets, func(a, b FleetTarget) int { return compareTargets(a.Target, b.Target) })
	slices.SortFunc(r.Unlisted, func(a, b Unlisted) int {
		return cmp.Or(cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary), cmp.Compare(a.Region, b.Region))
	})
}

func compareTargets(a, b placement.Target) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Cloud, b.Cloud),
		cmp.Compare(a.Boundary, b.Boundary), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Cell, b.Cell))
}

// InSync reports whether every target is in sync and orphans were looked
// for everywhere.
func (r *FleetReport) InSync() bool {
	return len(r.Unlisted) == 0 && !slices.ContainsFunc(r.Targets, func(t FleetTarget) bool { return t.State != InSync })
}

// Counts returns how many targets are in each state, in SyncStates order.
func (r *FleetReport) Counts() []int {
	counts := make([]int, len(SyncStates))
	for _, t := range r.Targets {
		counts[slices.Index(SyncStates, t.State)]++
	}
	return counts
}

// CountLine is the report in one line: "12 targets: 10 in-sync, 2 drifted".
func (r *FleetReport) CountLine() string {
	parts := []string{}
	for i, n := range r.Counts() {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, SyncStates[i]))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to survey")
	}
	return fmt.Sprintf("%d targets: %s", len(r.Targets), strings.Join(parts, ", "))
}

// MaxMarkdownTargets bounds the targets Markdown lists one by one.
const MaxMarkdownTargets = 100

// Markdown renders the report for a pull request, an issue or the Web UI:
// a table of the state counts per service and boundary, then the targets
// not in sync (at most MaxMarkdownTargets), then the regions where orphans
// were not looked for. The report must be sorted. (It writes with
// WriteString, not fmt.Fprintf, which workflowcheck cannot tell from I/O:
// the Survey workflow renders it too.)
func (r *FleetReport) Markdown() string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%s** — %s\n\n", r.verdict(), r.CountLine()))
	b.WriteString("| service | boundary | targets | " + strings.Join(stateNames(), " | ") + " |\n")
	b.WriteString("| --- | --- | --- |" + strings.Repeat(" --- |", len(SyncStates)) + "\n")
	for _, g := range r.groups() {
		b.WriteString(fmt.Sprintf("| %s | %s | %d |", g.service, g.boundary, g.targets))
		for _, n := range g.counts {
			b.WriteString(" " + countCell(n) + " |")
		}
		b.WriteString("\n")
	}
	var off []FleetTarget
	for _, t := range r.Targets {
		if t.State != InSync {
			off = append(off, t)
		}
	}
	if len(off) > 0 {
		b.WriteString("\n| state | target | version | config | ready | release | why |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, t := range off[:min(len(off), MaxMarkdownTargets)] {
			b.WriteString(fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", t.State, t.Target.ID(), cmp.Or(t.Observed.Version, "—"),
				cmp.Or(t.Observed.ConfigVersion, "—"), cmp.Or(t.ReadyCell(), "—"), cmp.Or(t.Release(), "—"), strings.ReplaceAll(t.Reason, "|", "\\|")))
		}
		if len(off) > MaxMarkdownTargets {
			b.WriteString(fmt.Sprintf("\n… and %d more targets not in sync (meridian fleet -o table lists them all)\n", len(off)-MaxMarkdownTargets))
		}
	}
	for _, u := range r.Unlisted {
		b.WriteString(fmt.Sprintf("\norphans not looked for in %s/%s/%s: %s\n", u.Cloud, u.Boundary, u.Region, u.Reason))
	}
	return b.String()
}

func stateNames() []string {
	names := make([]string, len(SyncStates))
	for i, s := range SyncStates {
		names[i] = string(s)
	}
	return names
}

func (r *FleetReport) verdict() string {
	if r.InSync() {
		return "in sync"
	}
	return "out of sync"
}

// fleetGroup is one service × boundary line of the markdown table.
type fleetGroup struct {
	service, boundary string
	targets           int
	counts            []int
}

// groups counts the (sorted) targets per service and cloud/boundary.
func (r *FleetReport) groups() []fleetGroup {
	var out []fleetGroup
	first := 0 // the first group of the current service
	for _, t := range r.Targets {
		boundary := t.Target.Cloud + "/" + t.Target.Boundary
		if len(out) > 0 && out[first].service != t.Target.Service {
			first = len(out)
		}
		i := first + slices.IndexFunc(out[first:], func(g fleetGroup) bool { return g.boundary == boundary })
		if i < first {
			out = append(out, fleetGroup{service: t.Target.Service, boundary: boundary, counts: make([]int, len(SyncStates))})
			i = len(out) - 1
		}
		out[i].targets++
		out[i].counts[slices.Index(SyncStates, t.State)]++
	}
	return out
}

func countCell(n int) string {
	if n == 0 {
		return "·"
	}
	return strconv.Itoa(n)
}

// ReadyCell is "ready/desired", "" when nothing runs or it is unknown.
func (t FleetTarget) ReadyCell() string {
	if !t.Observed.Running {
		return ""
	}
	return fmt.Sprintf("%d/%d", t.Observed.Ready, t.Observed.Desired)
}

// Release is the workflow ID of the release that made what runs live,
// "" where the driver does not record it.
func (t FleetTarget) Release() string {
	if t.Observed.ChangeID == "" {
		return ""
	}
	return "release/" + t.Target.Service + "/" + t.Observed.ChangeID
}
