package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/workflows"
)

// fleetRollbackOptions are the flags of rollback --since and --to: the
// releases to undo, newest first, each by a release of its own.
type fleetRollbackOptions struct {
	*steerOptions
	since       time.Duration
	to          string
	scope       workflows.RollbackScope
	force, wait bool
}

// fleet reports whether the command undoes several releases (--since,
// --to) rather than rolling one running release back.
func (o *fleetRollbackOptions) fleet() bool { return o.since != 0 || o.to != "" }

func newRollbackCmd() *cobra.Command {
	cmd, steer := steerCmd("rollback")
	o := &fleetRollbackOptions{steerOptions: steer}
	one := cmd.RunE
	cmd.Use = "rollback RELEASE | rollback --since D [--service S] [--cloud C] [--boundary B] --reason R [--force] [--wait] | rollback --service S --to RELEASE --reason R [--wait]"
	cmd.Long = "Roll back everything a running or just-succeeded release changed, newest first:\n" +
		"rollback RELEASE sends the release the rollback (RELEASE is release/<service>/<change>,\n" +
		"the release/ prefix may be left out).\n\n" +
		"rollback --since D undoes every release that succeeded in the last D (and every\n" +
		"release still running), across the fleet or of --service, --cloud and --boundary,\n" +
		"newest first, one at a time: a running release gets the rollback; an ended one is\n" +
		"undone by a revert release of its own (release/<service>/revert-<change>: visible,\n" +
		"steerable, with the service's gates), which puts back on every target the revision\n" +
		"it had before, from the undone release's recorded results. A target another\n" +
		"release changed since is left alone and reported, unless --force.\n" +
		"rollback --service S --to RELEASE goes back to just before RELEASE, however long\n" +
		"ago: it undoes RELEASE and every later release of S, newest first.\n\n" +
		"The releases are undone by the workflow rollback/<time>, whose link is printed;\n" +
		"--wait follows it and exits 0 when every release was undone. Who (--as, default\n" +
		"$USER) and --reason are recorded in each release's history."
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if o.fleet() {
			return noArgs(cmd, args)
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !o.fleet() {
			if o.scope != (workflows.RollbackScope{}) || o.force || o.wait {
				return usageError{errors.New("--service, --cloud, --boundary, --force and --wait go with --since or --to")}
			}
			return one(cmd, args)
		}
		if err := o.remote.complete(cmd); err != nil {
			return err
		}
		if err := o.check(); err != nil {
			return err
		}
		return o.runFleet(cmd.Context())
	}
	cmd.Flags().DurationVar(&o.since, "since", 0, "undo every release that succeeded in this last while, and those running")
	cmd.Flags().StringVar(&o.to, "to", "", "with --service: go back to just before this release")
	cmd.Flags().StringVar(&o.scope.Service, "service", "", "only this service's releases")
	cmd.Flags().StringVar(&o.scope.Cloud, "cloud", "", "only the releases' pipelines in this cloud")
	cmd.Flags().StringVar(&o.scope.Boundary, "boundary", "", "only the releases' pipelines in this sovereign boundary")
	cmd.Flags().BoolVar(&o.force, "force", false, "restore targets even where another release changed them since")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "follow the fleet rollback until it ends and exit with its outcome")
	return cmd
}

func (o *fleetRollbackOptions) check() error {
	var places []string
	switch {
	case o.since < 0:
		return usageError{errors.New("--since must be positive")}
	case o.since != 0 && o.to != "":
		return usageError{errors.New("give --since or --to, not both")}
	case o.to != "" && o.scope.Service == "":
		return usageError{errors.New("--to needs --service: the service to take back")}
	case o.to != "" && (o.scope.Cloud != "" || o.scope.Boundary != ""):
		return usageError{errors.New("--to takes the whole service back: --cloud and --boundary go with --since")}
	case strings.TrimSpace(o.reason) == "":
		return usageError{errors.New("--reason is required: say why the releases are undone")}
	}
	if o.scope.Cloud != "" {
		places = []string{o.scope.Cloud}
	}
	var boundaries []string
	if o.scope.Boundary != "" {
		boundaries = []string{o.scope.Boundary}
	}
	return checkPlaces(places, boundaries)
}

func (o *fleetRollbackOptions) runFleet(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var steps []workflows.RollbackStep
	what := fmt.Sprintf("succeeded since %s", time.Now().Add(-o.since).UTC().Format(time.RFC3339))
	if o.to != "" {
		to, err := releaseID(o.to)
		if err != nil {
			return err
		}
		steps, err = workflows.ReleasesSince(ctx, c, o.scope.Service, to)
		if err != nil {
			return err
		}
		what = "of " + o.scope.Service + " from " + to + " on"
	} else if steps, err = workflows.ReleasesToRollBack(ctx, c, time.Now().Add(-o.since), o.scope); err != nil {
		return err
	}
	if len(steps) == 0 {
		fmt.Fprintf(o.out, "nothing to roll back: no release %s, and none running\n", what)
		return nil
	}
	id, err := workflows.StartFleetRollback(ctx, c, workflows.FleetRollbackInput{
		Steps: steps, Scope: o.scope, Force: o.force, Who: who(o.as), Reason: o.reason,
	})
	if err != nil {
		return err
	}
	if !o.wait {
		if o.json() {
			return writeIndentedJSON(o.out, struct {
				ID    string                   `json:"id"`
				Steps []workflows.RollbackStep `json:"steps"`
				URL   string                   `json:"url"`
			}{id, steps, o.link(id)})
		}
		fmt.Fprintf(o.out, "started %s: %d release(s) %s, newest first, as %s\n", id, len(steps), what, who(o.as))
		for _, s := range steps {
			fmt.Fprintf(o.out, "  %s\t%s\n", s.Release, map[bool]string{true: "running: rollback", false: "ended: revert"}[s.Running])
		}
		fmt.Fprintf(o.out, "  %s\n", o.link(id))
		return nil
	}
	st, err := workflows.WatchFleetRollback(ctx, c, id, time.Second, func(st workflows.FleetRollbackStatus) {
		if !o.json() {
			fmt.Fprintf(o.out, "%s  %s\n", time.Now().Format("15:04:05"), fleetProgress(st))
		}
	})
	if ctx.Err() != nil {
		fmt.Fprintf(o.errOut, "meridian: stopped following %s; the fleet rollback goes on\n", id)
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
		for _, s := range st.Steps {
			fmt.Fprintf(o.out, "  %s\t%s\n", s.Release, stepOutcome(s))
		}
		fmt.Fprintf(o.out, "fleet rollback %s %s\n  %s\n", id, st.Phase, o.link(id))
	}
	if st.Phase != workflows.PhaseSucceeded {
		if !o.json() {
			fmt.Fprintf(o.out, "  %s\n", st.Reason)
		}
		return silentError{1}
	}
	return nil
}

// fleetProgress is one line of a fleet rollback: how many releases are
// undone, and the one being undone.
func fleetProgress(st workflows.FleetRollbackStatus) string {
	done, now := 0, ""
	for _, s := range st.Steps {
		switch {
		case s.Phase == workflows.PhaseRollingBack:
			now = " · undoing " + s.Release
		case s.Phase.Terminal():
			done++
		}
	}
	return fmt.Sprintf("%s · %d/%d undone%s", st.Phase, done, len(st.Steps), now)
}

func reasonSuffix(s workflows.RollbackStepStatus) string {
	var parts []string
	if s.Reason != "" && s.Phase != workflows.PhaseSucceeded {
		parts = append(parts, s.Reason)
	}
	for _, la := range s.LeftAlone {
		parts = append(parts, "left alone: "+la)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// stepOutcome says how a release was undone: "rolled-back", "reverted
// by REVERT: succeeded", or why nothing was to undo.
func stepOutcome(s workflows.RollbackStepStatus) string {
	switch s.By {
	case "":
		return "nothing to undo: " + s.Reason
	case s.Release:
		return string(s.Phase) + reasonSuffix(s)
	}
	return fmt.Sprintf("reverted by %s: %s%s", s.By, s.Phase, reasonSuffix(s))
}
