package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// applyOptions are the arguments and flags of `meridian apply`.
type applyOptions struct {
	*remote
	dir, base, changeID, as string
	wait, prune, dryRun     bool
	override                freezeOverride
}

func newApplyCmd() *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply DIR --base GITREF --change-id ID [--wait] [--prune] [--dry-run]",
		Short: "Roll out what a merged spec change implies, one release per service",
		Long: "Compile the spec in DIR and at the git ref --base (the commit before the\n" +
			"merge), and start, for every service that changed, one release for change ID\n" +
			"(release/<service>/<ID>) carrying all the change does to it: a new version or\n" +
			"config on every target, the current version and config on added targets,\n" +
			"then the decommission of removed targets, stage by stage, rolled back as one.\n" +
			"A change only to pipelines, stages, gates or boundary rules starts nothing.\n" +
			"The apply itself is the workflow apply/<ID>: the same ID applied again\n" +
			"attaches to it. A release for a service mid-release is queued behind it; a\n" +
			"newer queued change supersedes an older one. A service removed from the spec\n" +
			"is decommissioned only with --prune (without it, apply says what it would\n" +
			"remove and exits 1). --dry-run prints the releases and starts nothing. With\n" +
			"--wait, follow the releases and exit 0 when every one succeeded.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			o.dir = args[0]
			if err := o.override.check(); err != nil {
				return err
			}
			if err := checkIDs("", o.changeID); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	o.override.add(cmd)
	cmd.Flags().StringVar(&o.base, "base", "", "the git ref the change is applied against: the commit before the merge (required)")
	cmd.Flags().StringVar(&o.changeID, "change-id", "", "id of the change, such as the merged commit (required)")
	_ = cmd.MarkFlagRequired("base")
	_ = cmd.MarkFlagRequired("change-id")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the releases until they end and exit with the outcome")
	cmd.Flags().BoolVar(&o.prune, "prune", false, "decommission every target of services removed from the spec")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the releases apply would start, and start nothing")
	cmd.Flags().StringVar(&o.as, "as", "", "who applies (default $USER)")
	return cmd
}

// applied is one release of the apply, handed to its service's lock, or
// not and why.
type applied struct {
	Service string `json:"service"`
	Release string `json:"release"`
	Summary string `json:"summary"`
	Error   string `json:"error,omitempty"`
}

// applyPlan is what a merge does: the releases apply starts, the
// services whose change takes effect later, and the two specs.
type applyPlan struct {
	releases   []pipelines.Release // all, as diff's On merge lists them
	start      []pipelines.Release
	later      []pipelines.Release
	prune      []string // removed services that need --prune, with their targets
	base, head *compiled
}

func (o *applyOptions) run(ctx context.Context) error {
	p, err := o.plan(ctx)
	if err != nil {
		return err
	}
	if o.dryRun {
		if err := o.printPlan(p.releases); err != nil {
			return err
		}
	}
	if len(p.prune) > 0 {
		return fmt.Errorf("services removed from the spec are decommissioned only with --prune: %s; nothing was started", strings.Join(p.prune, ", "))
	}
	if o.dryRun {
		return nil
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	reqs, err := o.requests(ctx, c, p)
	if err != nil {
		return err
	}
	attached, results, err := o.launch(ctx, c, p, reqs)
	if err != nil {
		return err
	}
	if err := o.printApplied(attached, results, p.later); err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Error != "" {
			failed = append(failed, r.Service)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s is incomplete: %d of %d releases did not start (%s); run the same command again to finish", workflows.ApplyID(o.changeID), len(failed), len(results), strings.Join(failed, ", "))
	}
	if o.wait {
		return o.follow(ctx, c)
	}
	return nil
}

// plan compiles the spec at the head and at the base and sorts out what
// the merge does.
func (o *applyOptions) plan(ctx context.Context) (*applyPlan, error) {
	head, base := compileBoth(ctx, "", o.base, o.dir)
	if head.err != nil {
		o.errOut.Write(head.errOut.Bytes())
		return nil, head.err
	}
	if base.err != nil {
		o.errOut.Write(base.errOut.Bytes())
		if errors.As(base.err, new(silentError)) {
			return nil, fmt.Errorf("the spec at --base %s does not compile, and apply never takes a broken base for an empty fleet (that would redeploy everything): pass --base of an earlier commit whose spec compiles, such as %s~1", o.base, o.base)
		}
		return nil, base.err
	}
	p := &applyPlan{releases: pipelines.Releases(base.model, head.model, base.plan, head.plan), base: base, head: head}
	for _, r := range p.releases {
		switch {
		case r.NeedsPrune && !o.prune:
			p.prune = append(p.prune, fmt.Sprintf("%s (%s)", r.Service, plural(len(r.TargetsRemoved), "target")))
		case r.Starts() || r.NeedsPrune:
			p.start = append(p.start, r)
		default:
			p.later = append(p.later, r)
		}
	}
	return p, nil
}

// launch starts the apply workflow (or attaches to it), then every
// release of the plan.
func (o *applyOptions) launch(ctx context.Context, c client.Client, p *applyPlan, reqs []workflows.ReleaseRequest) (attached bool, results []applied, err error) {
	in := workflows.ApplyInput{ChangeID: o.changeID, Base: o.base, Trigger: "ci", Who: who(o.as)}
	in.BaseCommit, _ = git(ctx, o.dir, "rev-parse", o.base+"^{commit}")
	for i, r := range p.start {
		in.Releases = append(in.Releases, workflows.ApplyRelease{Service: r.Service, Release: workflows.ReleaseID(r.Service, o.changeID),
			Parts: reqs[i].Change.Parts, Summary: r.Summary, Sovereign: r.Sovereign})
	}
	for _, r := range p.later {
		in.Later = append(in.Later, workflows.ApplyRelease{Service: r.Service, Parts: r.Parts, Summary: r.Summary})
	}
	if attached, err = workflows.StartApply(ctx, c, in); err != nil {
		return false, nil, err
	}
	return attached, startReleases(ctx, c, reqs, in.Releases), nil
}

// requests builds the release of every service that changed: the
// service's head pipelines (stages with nothing to do are skipped) and
// the decommission of its removed targets from the base plan.
func (o *applyOptions) requests(ctx context.Context, c client.Client, p *applyPlan) ([]workflows.ReleaseRequest, error) {
	base, head := p.base, p.head
	reqs := make([]workflows.ReleaseRequest, len(p.start))
	for i, r := range p.start {
		svc, ok := findService(head.model, r.Service)
		if !ok {
			svc, _ = findService(base.model, r.Service) // removed: decommission only
		}
		change := workflows.Change{Kind: workflows.KindApply, ID: o.changeID, Version: r.Version, Image: svc.Artifact.Image,
			ConfigVersion: r.ConfigVersion, Parts: r.Parts, Trigger: "ci", Who: who(o.as)}
		if ok {
			change.Added = r.TargetsAdded
			if r.Has(pipelines.PartNewService) {
				change.Added = nil // every target gets everything
			}
		}
		if r.CurrentVersion {
			version, image, found, err := workflows.CurrentVersion(ctx, c, r.Service)
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, fmt.Errorf("service %s pins no artifact.version and has no succeeded release to take the current version from: set artifact.version in the spec; nothing was started", r.Service)
			}
			change.Version, change.Image = version, cmp.Or(change.Image, image)
		}
		if len(svc.Config) > 0 && ok {
			cc, err := workflows.ConfigChange(svc.Config)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", r.Service, err)
			}
			change.Config, change.ConfigVersion = cc.Config, cc.Version
		}
		var pls []pipelines.Pipeline
		if ok {
			pls = servicePipelines(head.plan, r.Service)
		}
		pls = append(pls, pipelines.DecommissionPipelines(base.plan, r.Service, r.TargetsRemoved)...)
		reqs[i] = workflows.ReleaseRequest{
			Service: r.Service, Change: change, Pipelines: pls,
			Gates: svc.Gates, Sharding: svc.Sharding, Instances: svc.Instances, Workload: workloadOf(svc),
			Queue: true, Apply: workflows.ApplyID(o.changeID),
			Freezes: head.model.FreezesOf(r.Service), OverrideFreeze: o.override.why(),
		}
		if err := reqs[i].Validate(); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

func findService(m *placement.Model, name string) (placement.Service, bool) {
	i := slices.IndexFunc(m.Services, func(s placement.Service) bool { return s.Name == name })
	if i < 0 {
		return placement.Service{}, false
	}
	return m.Services[i], true
}

func servicePipelines(plan *pipelines.Plan, service string) []pipelines.Pipeline {
	var pls []pipelines.Pipeline
	for _, p := range plan.Pipelines {
		if p.Service == service {
			pls = append(pls, p)
		}
	}
	return pls
}

// startParallel bounds how many releases apply starts at once.
const startParallel = 16

// startReleases hands every release of the apply to its service's lock,
// startParallel at once, one server call each (workflows.EnqueueRelease):
// the lock starts it or queues it, and the apply hears of each from then
// on. An error is left for a retry of the same apply, which finishes it.
func startReleases(ctx context.Context, c client.Client, reqs []workflows.ReleaseRequest, rows []workflows.ApplyRelease) []applied {
	results := make([]applied, len(reqs))
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	for i, req := range reqs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = applied{Service: req.Service, Release: rows[i].Release, Summary: rows[i].Summary}
			if err := workflows.EnqueueRelease(ctx, c, req); err != nil {
				results[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return results
}

// printPlan prints the releases apply would start: the diff's "On merge".
func (o *applyOptions) printPlan(releases []pipelines.Release) error {
	if o.json() {
		return writeIndentedJSON(o.out, struct {
			ChangeID string              `json:"changeId"`
			Base     string              `json:"base"`
			OnMerge  []pipelines.Release `json:"onMerge"`
		}{o.changeID, o.base, slices.Concat([]pipelines.Release{}, releases)})
	}
	fmt.Fprintf(o.out, "apply %s (base %s) would start %s:\n", workflows.ApplyID(o.changeID), o.base, plural(countStarts(releases, o.prune), "release"))
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	for _, r := range releases {
		fmt.Fprintf(tw, "  %s\t%s\n", r.Service, r.Summary)
	}
	return tw.Flush()
}

func countStarts(releases []pipelines.Release, prune bool) int {
	n := 0
	for _, r := range releases {
		if r.Starts() || (prune && r.NeedsPrune) {
			n++
		}
	}
	return n
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// printApplied says what became of each release.
func (o *applyOptions) printApplied(attached bool, results []applied, later []pipelines.Release) error {
	id := workflows.ApplyID(o.changeID)
	if o.json() && !o.wait {
		return writeIndentedJSON(o.out, struct {
			Apply    string              `json:"apply"`
			Attached bool                `json:"attached"`
			URL      string              `json:"url"`
			Releases []applied           `json:"releases"`
			Later    []pipelines.Release `json:"later,omitempty"`
		}{id, attached, o.link(id), results, later})
	}
	if o.json() {
		return nil
	}
	verb := "started"
	if attached {
		verb = "attached to"
	}
	fmt.Fprintf(o.out, "%s %s (base %s): %s\n  %s\n", verb, id, o.base, plural(len(results), "release"), o.link(id))
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	for _, r := range results {
		what := r.Release
		if r.Error != "" {
			what = "not started: " + r.Error
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Service, r.Summary, what)
	}
	for _, r := range later {
		fmt.Fprintf(tw, "  %s\t%s\t\n", r.Service, r.Summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.wait {
		fmt.Fprintf(o.out, "each release starts, or queues behind its service's running release: meridian status RELEASE, or apply again with --wait\n")
	}
	return nil
}

// follow prints the releases' phases as they change until the apply ends,
// and exits 0 when it succeeded.
func (o *applyOptions) follow(ctx context.Context, c client.Client) error {
	id := workflows.ApplyID(o.changeID)
	seen := map[string]workflows.Phase{}
	st, err := workflows.WatchApply(ctx, c, id, 500*time.Millisecond, func(st workflows.ApplyStatus) {
		if !o.json() {
			printApplyProgress(o.out, st, seen)
		}
	})
	if ctx.Err() != nil {
		fmt.Fprintf(o.errOut, "meridian: stopped following %s; its releases go on\n", id)
		return silentError{1}
	}
	if err != nil {
		return err
	}
	if o.json() {
		if err := writeIndentedJSON(o.out, st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.out, "%s %s", id, st.Phase)
		if st.Reason != "" {
			fmt.Fprintf(o.out, ": %s", st.Reason)
		}
		fmt.Fprintln(o.out)
	}
	return phaseExit(st.Phase)
}

// printApplyProgress prints one line per release whose phase changed.
func printApplyProgress(w io.Writer, st workflows.ApplyStatus, seen map[string]workflows.Phase) {
	for _, r := range st.Releases {
		if seen[r.Release] == r.Phase {
			continue
		}
		seen[r.Release] = r.Phase
		line := fmt.Sprintf("%s  %s %s", time.Now().Format("15:04:05"), r.Release, r.Phase)
		switch {
		case r.SupersededBy != "":
			line += " by " + r.SupersededBy
		case r.Reason != "":
			line += ": " + r.Reason
		}
		fmt.Fprintln(w, line)
	}
}
