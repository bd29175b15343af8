package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows"
)

// freezeOptions are the arguments and flags of `meridian freeze`.
type freezeOptions struct {
	*remote
	reason, until, name, as string
	list                    bool
	scope                   placement.FreezeScope
}

func newFreezeCmd() *cobra.Command {
	o := &freezeOptions{}
	cmd := &cobra.Command{
		Use:   "freeze --reason R [--service S]... [--env E]... [--cloud C]... [--boundary B]... [--until T] [--name N] | freeze --list",
		Short: "Declare an emergency freeze: forward changes in its scope wait",
		Long: "Declare an emergency freeze, recorded with who (--as, default $USER) and why.\n" +
			"While it holds, every release waits before its next stage that touches the\n" +
			"frozen scope (phase frozen, with the freeze's name and reason), and goes on\n" +
			"when the freeze is lifted (meridian unfreeze) or ends (--until, an RFC 3339\n" +
			"time or a duration such as 2h). Rollbacks, aborts and the compensations of a\n" +
			"failed stage never wait. The scope is every service, environment, cloud and\n" +
			"boundary unless flags narrow it (each may repeat; a target is covered when it\n" +
			"matches every flag given). A release goes through with resume\n" +
			"--override-freeze --reason R. --list prints the freezes in force and the\n" +
			"latest declarations and lifts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			if o.list {
				return o.printList(cmd.Context())
			}
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why changes are frozen (required)")
	cmd.Flags().StringVar(&o.until, "until", "", "when the freeze ends: an RFC 3339 time or a duration from now (default: until lifted)")
	cmd.Flags().StringVar(&o.name, "name", "", "the freeze's name, for unfreeze (default freeze-N)")
	cmd.Flags().StringVar(&o.as, "as", "", "who freezes (default $USER)")
	cmd.Flags().BoolVar(&o.list, "list", false, "print the freezes in force and the latest declarations and lifts")
	cmd.Flags().StringArrayVar(&o.scope.Services, "service", nil, "freeze this service only (repeatable)")
	cmd.Flags().StringArrayVar(&o.scope.Environments, "env", nil, "freeze this environment only (repeatable)")
	cmd.Flags().StringArrayVar(&o.scope.Clouds, "cloud", nil, "freeze this cloud only (repeatable)")
	cmd.Flags().StringArrayVar(&o.scope.Boundaries, "boundary", nil, "freeze this sovereign boundary only (repeatable)")
	return cmd
}

// freeze checks the flags and builds the freeze they declare.
func (o *freezeOptions) freeze(now time.Time) (placement.Freeze, error) {
	if strings.TrimSpace(o.reason) == "" {
		return placement.Freeze{}, usageError{errors.New("--reason is required: say why changes are frozen")}
	}
	f := placement.Freeze{Name: o.name, Reason: o.reason, Who: who(o.as), Scope: o.scope}
	if o.until != "" {
		end, err := untilTime(o.until, now)
		if err != nil {
			return placement.Freeze{}, usageError{err}
		}
		f.End = end
	}
	if err := checkPlaces(o.scope.Clouds, o.scope.Boundaries); err != nil {
		return placement.Freeze{}, err
	}
	return f, nil
}

// checkPlaces refuses a --cloud or --boundary the region catalog does not
// have (a typo would match nothing).
func checkPlaces(clouds, boundaries []string) error {
	catalog := regions.Default()
	for _, c := range clouds {
		if !slices.Contains(catalog.Clouds(), c) {
			return usageError{fmt.Errorf("--cloud %s: no such cloud (want %s)", c, strings.Join(catalog.Clouds(), ", "))}
		}
	}
	for _, b := range boundaries {
		if !slices.ContainsFunc(catalog.Boundaries(), func(rb regions.Boundary) bool { return rb.ID == b }) {
			return usageError{fmt.Errorf("--boundary %s: no such boundary (want %s)", b, strings.Join(boundaryIDs(catalog), ", "))}
		}
	}
	return nil
}

// boundaryIDs are the catalog's boundary names, each once.
func boundaryIDs(c *regions.Catalog) []string {
	var ids []string
	for _, b := range c.Boundaries() {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// untilTime reads --until: an RFC 3339 time, or a duration from now.
func untilTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--until %s: a duration must be positive", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	switch {
	case err != nil:
		return time.Time{}, fmt.Errorf("--until %q: want an RFC 3339 time (2026-12-24T18:00:00Z) or a duration (2h)", s)
	case !t.After(now):
		return time.Time{}, fmt.Errorf("--until %s: that time has passed", s)
	}
	return t, nil
}

func (o *freezeOptions) run(ctx context.Context) error {
	f, err := o.freeze(time.Now())
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	list, err := workflows.DeclareFreeze(ctx, c, f)
	if err != nil {
		return err
	}
	if o.json() {
		return writeIndentedJSON(o.out, list)
	}
	declared := list.Active[len(list.Active)-1]
	fmt.Fprintf(o.out, "froze %s as %s: %s\n", freezeSummary(declared), declared.Who, declared.Reason)
	fmt.Fprintf(o.out, "  %d freeze(s) in force; lift it with: meridian unfreeze %s\n", len(list.Active), declared.Name)
	return nil
}

func (o *freezeOptions) printList(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	list, err := workflows.ListFreezes(ctx, c)
	if err != nil {
		return err
	}
	if o.json() {
		return writeIndentedJSON(o.out, list)
	}
	if len(list.Active) == 0 {
		fmt.Fprintln(o.out, "no emergency freeze is in force")
	}
	w := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	for _, f := range list.Active {
		fmt.Fprintf(w, "%s\tby %s since %s\t%s\n", freezeSummary(f), f.Who, f.Start.UTC().Format(time.RFC3339), f.Reason)
	}
	_ = w.Flush()
	if len(list.Log) > 0 {
		fmt.Fprintln(o.out, "latest:")
		for _, e := range list.Log {
			fmt.Fprintf(w, "  %s\t%s %s\tby %s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Name, e.Who, e.Reason)
		}
		_ = w.Flush()
	}
	return nil
}

// freezeSummary says what a freeze holds and until when: "NAME (scope)
// until T".
func freezeSummary(f placement.Freeze) string {
	until := "until lifted"
	if !f.End.IsZero() {
		until = "until " + f.End.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (%s) %s", f.Name, f.Scope, until)
}

// unfreezeOptions are the arguments and flags of `meridian unfreeze`.
type unfreezeOptions struct {
	*remote
	reason, as string
}

func newUnfreezeCmd() *cobra.Command {
	o := &unfreezeOptions{}
	cmd := &cobra.Command{
		Use:   "unfreeze [NAME] [--reason R]",
		Short: "Lift an emergency freeze, or every one",
		Long: "Lift the emergency freeze NAME (every one when no name is given), recorded\n" +
			"with who (--as, default $USER) and why. The releases it held go on at once.\n" +
			"A freeze of the spec ends with its window, or when the spec drops it.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			u := workflows.Unfreeze{Who: who(o.as), Reason: o.reason}
			if len(args) == 1 {
				u.Name = args[0]
			}
			return o.run(cmd.Context(), u)
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the freeze is lifted")
	cmd.Flags().StringVar(&o.as, "as", "", "who lifts it (default $USER)")
	return cmd
}

func (o *unfreezeOptions) run(ctx context.Context, u workflows.Unfreeze) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := workflows.LiftFreeze(ctx, c, u)
	if err != nil {
		return err
	}
	if o.json() {
		return writeIndentedJSON(o.out, res)
	}
	fmt.Fprintf(o.out, "lifted %s as %s; told %d frozen pipeline(s) to look again; %d freeze(s) still in force\n",
		strings.Join(res.Lifted, ", "), u.Who, res.Woken, len(res.List.Active))
	return nil
}
