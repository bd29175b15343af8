package workflows

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/pipelines"
)

// ApplyID is the workflow ID of the apply of a merged change.
func ApplyID(changeID string) string { return "apply/" + changeID }

// ApplyInput is the Apply workflow's input: what one merged spec change
// does, one release per service (see pipelines.Releases). It carries no
// targets and no config, only what the Web UI and status show; each
// release carries its own.
type ApplyInput struct {
	ChangeID string `json:"changeId"`
	// Base is the git ref the change is applied against, as given, and
	// BaseCommit the commit it named.
	Base       string `json:"base"`
	BaseCommit string `json:"baseCommit,omitempty"`
	Trigger    string `json:"trigger,omitempty"`
	Who        string `json:"who,omitempty"`
	// Releases are the releases the apply starts, sorted by service.
	Releases []ApplyRelease `json:"releases"`
	// Later names the services whose change starts nothing: it takes
	// effect on their next release.
	Later []ApplyRelease `json:"later,omitempty"`
}

// ApplyRelease is one service's part of an apply: its release and what it
// does.
type ApplyRelease struct {
	Service string                  `json:"service"`
	Release string                  `json:"release,omitempty"`
	Parts   []pipelines.ReleasePart `json:"parts"`
	Summary string                  `json:"summary"`
	// Sovereign lists the non-public boundaries the release touches.
	Sovereign []string `json:"sovereign,omitempty"`
}

// ApplyStatus is the live status of an apply, returned by its status
// Query, and its result.
type ApplyStatus struct {
	Apply    string               `json:"apply"`
	ChangeID string               `json:"changeId"`
	Base     string               `json:"base"`
	Phase    Phase                `json:"phase"` // running, succeeded or failed
	Reason   string               `json:"reason,omitempty"`
	Started  time.Time            `json:"started"`
	Ended    time.Time            `json:"ended,omitzero"`
	Releases []ApplyReleaseStatus `json:"releases"`
	Later    []ApplyRelease       `json:"later,omitempty"`
}

// ApplyReleaseStatus is where one release of an apply is.
type ApplyReleaseStatus struct {
	ApplyRelease
	// Phase is pending until the release has started.
	Phase        Phase  `json:"phase"`
	Reason       string `json:"reason,omitempty"`
	SupersededBy string `json:"supersededBy,omitempty"`
}

// releasePhase is a release's phase change, signaled to its apply.
type releasePhase struct {
	Release      string `json:"release"`
	Seq          int    `json:"seq,omitempty"` // the release's phases in order, from 1
	Phase        Phase  `json:"phase"`
	Reason       string `json:"reason,omitempty"`
	SupersededBy string `json:"supersededBy,omitempty"`
}

// Apply is one merged spec change in the Web UI and the CLI: it follows
// the releases meridian apply started for it (each release tells its apply
// of every phase it goes through; a service's lock tells it of a release
// it could not start) and ends once every release has ended: succeeded when
// each succeeded or was superseded by a newer change (which carries its
// parts), failed otherwise. It starts nothing itself: the releases carry
// their services' pipelines, which for a whole fleet would exceed a
// workflow input's 2 MB, so the CLI starts them.
func Apply(ctx workflow.Context, in ApplyInput) (ApplyStatus, error) {
	st := ApplyStatus{Apply: workflow.GetInfo(ctx).WorkflowExecution.ID, ChangeID: in.ChangeID, Base: in.Base,
		Phase: PhaseRunning, Started: workflow.Now(ctx), Later: in.Later}
	row := map[string]int{}
	seq := make([]int, len(in.Releases)) // the last phase signaled per release
	for i, r := range in.Releases {
		st.Releases = append(st.Releases, ApplyReleaseStatus{ApplyRelease: r, Phase: PhasePending})
		row[r.Release] = i
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (ApplyStatus, error) { return st, nil }); err != nil {
		return ApplyStatus{}, err
	}
	namespace := workflow.GetInfo(ctx).Namespace
	publish := func() { workflow.SetCurrentDetails(ctx, applyDetails(st, namespace)) }
	done := func() bool {
		for _, r := range st.Releases {
			if !r.Phase.Terminal() {
				return false
			}
		}
		return true
	}
	phases := workflow.GetSignalChannel(ctx, signalRelease)
	refused := workflow.GetSignalChannel(ctx, signalRefused)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(phases, func(c workflow.ReceiveChannel, _ bool) {
		var p releasePhase
		c.Receive(ctx, &p)
		if i, ok := row[p.Release]; ok && p.Seq > seq[i] {
			seq[i] = p.Seq
			st.Releases[i].Phase, st.Releases[i].Reason, st.Releases[i].SupersededBy = p.Phase, p.Reason, p.SupersededBy
		}
	})
	sel.AddReceive(refused, func(c workflow.ReceiveChannel, _ bool) {
		var p releasePhase
		c.Receive(ctx, &p)
		if i, ok := row[p.Release]; ok && st.Releases[i].Phase == PhasePending {
			st.Releases[i].Phase, st.Releases[i].Reason = PhaseAborted, "not started: "+p.Reason
		}
	})
	publish()
	for !done() {
		sel.Select(ctx)
		for sel.HasPending() { // one rendering per batch of signals
			sel.Select(ctx)
		}
		publish()
	}
	st.Phase, st.Ended = PhaseSucceeded, workflow.Now(ctx)
	var failed []string
	for _, r := range st.Releases {
		if r.Phase != PhaseSucceeded && r.Phase != PhaseSuperseded {
			failed = append(failed, fmt.Sprintf("%s %s", r.Service, r.Phase))
		}
	}
	if len(failed) > 0 {
		st.Phase = PhaseFailed
		st.Reason = fmt.Sprintf("%d of %d releases did not succeed: %s", len(failed), len(st.Releases), strings.Join(failed, ", "))
	}
	publish()
	return st, failedOutcome(ctx, st.Phase, st.Reason, st)
}

// applyDetails is the apply's page in the Web UI: every service, what
// changes, its release (linked) and phase.
func applyDetails(st ApplyStatus, namespace string) string {
	var b strings.Builder
	printf(&b, "## Apply of change `%s` (base `%s`)\n\n**%s** — %s\n\n", st.ChangeID, st.Base, st.Phase, orDash(st.Reason))
	b.WriteString("| service | change | release | phase | note |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range st.Releases {
		note := r.Reason
		if r.SupersededBy != "" {
			note = "superseded by " + workflowLink(namespace, r.SupersededBy)
		}
		printf(&b, "| %s | %s | %s | %s | %s |\n", r.Service, mdCell(r.Summary), workflowLink(namespace, r.Release), r.Phase, mdCell(orDash(note)))
	}
	for _, r := range st.Later {
		printf(&b, "| %s | %s | — | — | nothing starts |\n", r.Service, mdCell(r.Summary))
	}
	return b.String()
}

// workflowLink is a markdown link to a workflow's page in the Web UI.
func workflowLink(namespace, id string) string {
	return fmt.Sprintf("[%s](/namespaces/%s/workflows/%s)", id, url.PathEscape(namespace), url.PathEscape(id))
}

// mdCell makes s safe in a markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
