package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// releaseOptions are the flags shared by rollout, trigger, restart and
// config: what to change, and whether to follow the release to its end.
type releaseOptions struct {
	*remote
	kind    workflows.ChangeKind
	trigger string // cli or ci

	dir            string
	service        string
	version        string
	changeID       string
	as             string
	wait           bool
	queue          bool
	rollbackWindow time.Duration
	override       freezeOverride
}

func newRolloutCmd() *cobra.Command {
	return newReleaseCmd(&releaseOptions{kind: workflows.KindVersion, trigger: "cli"}, &cobra.Command{
		Use:   "rollout DIR --service S --version V [--change-id ID] [--wait]",
		Short: "Start a release of a new version of a service",
		Long: "Compile the spec in DIR, then start the release of version V of service S\n" +
			"through the service's pipelines, and print its id and Web UI link. The change\n" +
			"id defaults to a digest of the service's plan and the version, so the same\n" +
			"rollout twice attaches to the first release. With --wait, follow the release\n" +
			"(stage, targets done of total, phase) and exit 0 when it succeeds, 1 when it\n" +
			"rolls back, fails or is aborted.",
	}, "id of the change (default: digest of the service's plan and the version)")
}

func newTriggerCmd() *cobra.Command {
	cmd := newReleaseCmd(&releaseOptions{kind: workflows.KindVersion, trigger: "ci"}, &cobra.Command{
		Use:   "trigger DIR --service S --version V --change-id COMMIT [--wait]",
		Short: "Start the release a CI change implies, idempotently",
		Long: "Start the release of version V of service S for change COMMIT, as CI does on\n" +
			"merge. The same change triggered again attaches to its release, running or\n" +
			"ended: one change is one release. A different change while the service is\n" +
			"mid-release is refused (exit 1), so that an operator decides what rolls next\n" +
			"(wait for the release to end, or abort it), unless --queue is given: then it\n" +
			"waits behind the running release, and a newer queued change supersedes it.",
	}, "id of the change, such as the commit (required)")
	_ = cmd.MarkFlagRequired("change-id")
	return cmd
}

func newRestartCmd() *cobra.Command {
	return newReleaseCmd(&releaseOptions{kind: workflows.KindRestart, trigger: "cli"}, &cobra.Command{
		Use:   "restart DIR --service S [--change-id ID] [--wait]",
		Short: "Restart every instance of a service, stage by stage, shard-aware",
		Long: "Start a restart release of service S: target by target in pipeline order, at\n" +
			"most maxUnavailable instances at a time, each instance is drained through the\n" +
			"service's sharder (when it has sharding settings), restarted, awaited ready and\n" +
			"undrained, and the gates are checked. The change id defaults to the time, so\n" +
			"every restart is a new release.",
	}, "id of the change (default: restart-<UTC time>)")
}

// newReleaseCmd completes cmd, a command that starts a release with o, with
// its argument (DIR) and its flags: the remote's, --service, --version (for
// a version change), --as, --rollback-window, --change-id (with help
// changeIDUsage) and --wait.
func newReleaseCmd(o *releaseOptions, cmd *cobra.Command, changeIDUsage string) *cobra.Command {
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = o.runE
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.service, "service", "", "the service to change (required)")
	_ = cmd.MarkFlagRequired("service")
	if o.kind == workflows.KindVersion {
		cmd.Flags().StringVar(&o.version, "version", "", "the artifact version to roll out (required)")
		_ = cmd.MarkFlagRequired("version")
	}
	cmd.Flags().StringVar(&o.as, "as", "", "who starts the release (default $USER)")
	cmd.Flags().DurationVar(&o.rollbackWindow, "rollback-window", 0, "keep a succeeded release open this long so that meridian rollback can still undo it")
	cmd.Flags().StringVar(&o.changeID, "change-id", "", changeIDUsage)
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the release until it ends and exit with its outcome")
	cmd.Flags().BoolVar(&o.queue, "queue", false, "when the service is mid-release, queue behind it instead of refusing (a newer queued change supersedes this one)")
	o.override.add(cmd)
	return cmd
}

func (o *releaseOptions) runE(cmd *cobra.Command, args []string) error {
	if err := o.remote.complete(cmd); err != nil {
		return err
	}
	o.dir = args[0]
	if o.rollbackWindow < 0 {
		return usageError{errors.New("--rollback-window must not be negative")}
	}
	if err := o.override.check(); err != nil {
		return err
	}
	if err := checkIDs(o.version, o.changeID); err != nil {
		return err
	}
	return o.run(cmd.Context())
}

func (o *releaseOptions) run(ctx context.Context) error {
	req, err := o.request(ctx)
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	a, err := workflows.AcquireRelease(ctx, c, req)
	if err != nil {
		return err
	}
	if o.wait {
		return o.follow(ctx, c, a)
	}
	if o.json() {
		return writeIndentedJSON(o.out, struct {
			Release  string `json:"release"`
			RunID    string `json:"runId,omitempty"`
			Attached bool   `json:"attached"`
			Behind   string `json:"behind,omitempty"`
			URL      string `json:"url"`
		}{a.Release.ID, a.Release.RunID, a.Attached, a.Behind, o.link(a.Release.ID)})
	}
	o.printStarted(a)
	return nil
}

func (o *releaseOptions) printStarted(a workflows.Acquired) {
	verb := "started"
	if a.Attached {
		verb = "attached to"
	}
	fmt.Fprintf(o.out, "%s release %s\n", verb, a.Release.ID)
	if a.Behind != "" {
		fmt.Fprintf(o.out, "  queued behind %s: it starts when that release ends\n", a.Behind)
	}
	fmt.Fprintf(o.out, "  %s\n", o.link(a.Release.ID))
}

// follow prints the release's progress until it ends, and exits with its outcome.
func (o *releaseOptions) follow(ctx context.Context, c client.Client, a workflows.Acquired) error {
	id := a.Release.ID
	if !o.json() {
		o.printStarted(a)
	}
	st, err := workflows.Watch(ctx, c, id, 500*time.Millisecond, func(st workflows.Status) {
		if !o.json() {
			fmt.Fprintf(o.out, "%s  %s\n", time.Now().Format("15:04:05"), progressLine(st))
		}
	})
	if ctx.Err() != nil {
		fmt.Fprintf(o.errOut, "meridian: stopped following %s; the release goes on (meridian status %s)\n", id, id)
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
		fmt.Fprintf(o.out, "release %s %s", st.Release, st.Phase)
		if st.Reason != "" {
			fmt.Fprintf(o.out, ": %s", st.Reason)
		}
		fmt.Fprintln(o.out)
		if len(st.LeftAsIs) > 0 {
			fmt.Fprintf(o.out, "left as they are: %s\n", strings.Join(st.LeftAsIs, ", "))
		}
	}
	return phaseExit(st.Phase)
}

// progressLine is one line of a release's progress: its phase, then per
// pipeline the stage, targets done of total, and phase.
func progressLine(st workflows.Status) string {
	parts := []string{string(st.Phase)}
	for _, p := range st.Pipelines {
		s := p.Cloud + "/" + p.Boundary + " "
		if p.Decommission {
			s += "decommission "
		}
		if p.Stage != "" {
			s += fmt.Sprintf("%s %d/%d ", p.Stage, p.Done, p.Total)
		}
		parts = append(parts, s+string(p.Phase))
	}
	return strings.Join(parts, " · ")
}

// checkIDs refuses, as a usage error, a version or change id that cannot
// be part of a release's id or an image tag ("" is not given).
func checkIDs(version, changeID string) error {
	if version != "" {
		if err := workflows.CheckVersion(version); err != nil {
			return usageError{err}
		}
	}
	if changeID != "" {
		if err := workflows.CheckChangeID(changeID); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// request compiles the spec and builds the release request of the service.
func (o *releaseOptions) request(ctx context.Context) (workflows.ReleaseRequest, error) {
	model, plan, err := planSpec(ctx, o.dir, "", o.errOut)
	if err != nil {
		return workflows.ReleaseRequest{}, err
	}
	i := slices.IndexFunc(model.Services, func(s placement.Service) bool { return s.Name == o.service })
	if i < 0 {
		var names []string
		for _, s := range model.Services {
			names = append(names, s.Name)
		}
		return workflows.ReleaseRequest{}, usageError{fmt.Errorf("service %q is not in %s (it has %s)", o.service, o.dir, strings.Join(names, ", "))}
	}
	svc := model.Services[i]
	var pls []pipelines.Pipeline
	for _, p := range plan.Pipelines {
		if p.Service == o.service {
			pls = append(pls, p)
		}
	}
	change := workflows.Change{
		Kind: o.kind, ID: o.changeID, Version: o.version, Image: svc.Artifact.Image,
		Trigger: o.trigger, Who: who(o.as),
	}
	if o.kind == workflows.KindConfig {
		cc, err := configChange(svc, o.dir)
		if err != nil {
			return workflows.ReleaseRequest{}, err
		}
		change.Version, change.Config = cc.Version, cc.Config
	}
	if change.ID == "" {
		change.ID = defaultChangeID(change, pls)
	}
	return workflows.ReleaseRequest{
		Service: o.service, Change: change, Pipelines: pls,
		Gates: svc.Gates, Sharding: svc.Sharding, Instances: svc.Instances, Workload: workloadOf(svc),
		RollbackWindow: placement.Duration(o.rollbackWindow), Queue: o.queue,
		Freezes: model.FreezesOf(o.service), OverrideFreeze: o.override.why(),
	}, nil
}

// defaultChangeID names a change that has no id of its own. A version or
// config change is named by what it does (its version and a digest of the
// service's plan, image and version; a config's version is its content's),
// so that the same rollout or config twice is one release; a restart is
// named by when it was asked for.
func defaultChangeID(c workflows.Change, pls []pipelines.Pipeline) string {
	if c.Kind == workflows.KindRestart {
		return "restart-" + time.Now().UTC().Format("20060102T150405Z")
	}
	b, _ := json.Marshal(struct {
		Kind      workflows.ChangeKind
		Image     string
		Version   string
		Pipelines []pipelines.Pipeline
	}{c.Kind, c.Image, c.Version, pls})
	sum := sha256.Sum256(b)
	return c.Version + "-" + hex.EncodeToString(sum[:])[:12]
}

// workloadOf is the service's Kubernetes workload, for its release.
func workloadOf(svc placement.Service) json.RawMessage {
	if svc.Kubernetes == nil {
		return nil
	}
	return svc.Kubernetes.Workload
}
