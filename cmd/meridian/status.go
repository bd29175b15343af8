package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/workflows"
)

// statusOptions are the arguments and flags of `meridian status`.
type statusOptions struct {
	*remote
	release string
	applyID string
	service string
}

func newStatusCmd() *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [RELEASE | apply/ID | --service S]",
		Short: "Show the live status of a release, an apply, or a service's latest release",
		Long: "Show a release's phase and, per pipeline (cloud, boundary), its stage, targets\n" +
			"done of total, and phase. RELEASE is the release id (release/<service>/<change>;\n" +
			"the release/ prefix may be left out). With --service, the service's latest\n" +
			"release. apply/ID shows the apply of a merged change: each service's change,\n" +
			"release and phase. Exits 1 when the release (or a release of the apply) rolled\n" +
			"back, failed or was aborted.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			if (len(args) == 1) == (o.service != "") {
				return usageError{errors.New("give either a RELEASE or --service S")}
			}
			if len(args) == 1 && strings.HasPrefix(args[0], "apply/") {
				o.applyID = args[0]
			} else if len(args) == 1 {
				var err error
				if o.release, err = releaseID(args[0]); err != nil {
					return err
				}
			}
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.service, "service", "", "show the latest release of this service")
	return cmd
}

func (o *statusOptions) run(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.applyID != "" {
		return o.apply(ctx, c, o.applyID)
	}
	if o.service != "" {
		past, err := workflows.History(ctx, c, o.service)
		if err != nil {
			return err
		}
		if len(past) == 0 {
			return fmt.Errorf("service %s has no releases", o.service)
		}
		o.release = past[0].Release
	}
	st, err := workflows.ReleaseStatus(ctx, c, o.release)
	if err != nil {
		return o.releaseError(ctx, c, "status of", o.release, err)
	}
	if o.json() {
		err = writeIndentedJSON(o.out, st)
	} else {
		err = writeStatus(o.out, st, o.link(st.Release))
	}
	if err != nil {
		return err
	}
	return phaseExit(st.Phase)
}

// apply shows the status of the apply id.
func (o *statusOptions) apply(ctx context.Context, c client.Client, id string) error {
	st, err := workflows.ApplyStatusOf(ctx, c, id)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("no apply %s in namespace %s", id, o.namespace)
	}
	if err != nil {
		return err
	}
	if o.json() {
		err = writeIndentedJSON(o.out, st)
	} else {
		err = writeApplyStatus(o.out, st, o.link(st.Apply))
	}
	if err != nil {
		return err
	}
	return phaseExit(st.Phase)
}

// writeApplyStatus writes an apply's status as text: a header, then one
// row per service.
func writeApplyStatus(w io.Writer, st workflows.ApplyStatus, link string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "apply\t%s\n", st.Apply)
	fmt.Fprintf(tw, "change\t%s (base %s)\n", st.ChangeID, st.Base)
	fmt.Fprintf(tw, "phase\t%s\n", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", st.Reason)
	}
	fmt.Fprintf(tw, "web ui\t%s\n", link)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tRELEASE\tPHASE\tCHANGE\tNOTE")
	for _, r := range st.Releases {
		note := r.Reason
		if r.SupersededBy != "" {
			note = "superseded by " + r.SupersededBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, r.Release, r.Phase, r.Summary, note)
	}
	for _, r := range st.Later {
		fmt.Fprintf(tw, "%s\t-\t-\t%s\tnothing starts\n", r.Service, r.Summary)
	}
	return tw.Flush()
}

// releaseID accepts a release id with or without its release/ prefix.
func releaseID(arg string) (string, error) {
	if strings.TrimPrefix(arg, "release/") == "" {
		return "", usageError{fmt.Errorf("RELEASE %q is empty: give release/<service>/<change> or <service>/<change>", arg)}
	}
	id := "release/" + strings.TrimPrefix(arg, "release/")
	service, change, ok := strings.Cut(strings.TrimPrefix(id, "release/"), "/")
	if !ok || service == "" {
		return "", usageError{fmt.Errorf("RELEASE %q: give release/<service>/<change> or <service>/<change>", arg)}
	}
	if err := workflows.CheckChangeID(change); err != nil {
		return "", usageError{fmt.Errorf("RELEASE %s: %w", quoted(arg), err)}
	}
	return id, nil
}

// quoted quotes s for a message, escaping what does not print, cut short.
func quoted(s string) string {
	if r := []rune(s); len(r) > 60 {
		return fmt.Sprintf("%q…", string(r[:60]))
	}
	return fmt.Sprintf("%q", s)
}

// writeStatus writes a release's status as text: a header, then one row
// per pipeline.
func writeStatus(w io.Writer, st workflows.Status, link string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "release\t%s\n", st.Release)
	fmt.Fprintf(tw, "service\t%s\n", st.Service)
	change := st.ChangeID + ": " + string(st.Kind)
	if st.Version != "" {
		change += " " + st.Version
	}
	if st.Trigger != "" {
		change += ", from " + st.Trigger
	}
	fmt.Fprintf(tw, "change\t%s\n", change)
	fmt.Fprintf(tw, "phase\t%s\n", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", st.Reason)
	}
	for _, why := range st.LeftAlone {
		fmt.Fprintf(tw, "left alone\t%s\n", why)
	}
	if len(st.LeftAsIs) > 0 {
		fmt.Fprintf(tw, "left as is\t%s\n", strings.Join(st.LeftAsIs, ", "))
	}
	if st.SupersededBy != "" {
		fmt.Fprintf(tw, "superseded by\t%s\n", st.SupersededBy)
	}
	fmt.Fprintf(tw, "web ui\t%s\n", link)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLOUD\tBOUNDARY\tSTAGE\tTARGETS\tPHASE\tREASON")
	for _, p := range st.Pipelines {
		stage, targets := "-", "-"
		if p.Stage != "" {
			stage, targets = p.Stage, fmt.Sprintf("%d/%d", p.Done, p.Total)
		}
		boundary := p.Boundary
		if p.Decommission {
			boundary += " (decommission)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Cloud, boundary, stage, targets, p.Phase, p.Reason)
	}
	return tw.Flush()
}
