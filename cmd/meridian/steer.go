package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/workflows"
)

// steerOptions are the arguments and flags of the operator commands
// (approve, promote, pause, resume, abort, rollback): one Update to a
// running release, recorded in its history with who and why.
type steerOptions struct {
	*remote
	release string
	stage   string
	reason  string
	as      string
	// override: resume --override-freeze (its reason is --reason).
	override freezeOverride

	steerCommand
}

// steerCommand is an operator command: its name, what it does, its past
// tense, the workflows call that sends the Update, and when a status shows
// what the command did (see settle).
type steerCommand struct {
	name, short, past string
	update            func(context.Context, client.Client, string, workflows.Request) (workflows.Status, error)
	done              func(workflows.Status) bool
}

var steerCommands = []steerCommand{
	{"approve", "Approve the stage a release waits on", "approved", workflows.Approve, func(st workflows.Status) bool {
		// Every stage whose approvals are all given has moved on.
		return !slices.ContainsFunc(st.Pipelines, func(p workflows.PipelineStatus) bool {
			return p.Phase == workflows.PhaseAwaitingApproval && p.ApprovalsNeeded == 0
		})
	}},
	{"promote", "End the current bake of a release now", "promoted", workflows.Promote, func(st workflows.Status) bool {
		return !slices.ContainsFunc(st.Pipelines, func(p workflows.PipelineStatus) bool { return p.Phase == workflows.PhaseBaking })
	}},
	{"pause", "Hold a release before its next target, stage or pipeline", "paused", workflows.Pause, nil},
	{"resume", "Continue a paused release (under the manual policy, retry the failed stage; with --override-freeze, let a frozen one through)", "resumed", workflows.Resume, func(st workflows.Status) bool {
		return st.Phase != workflows.PhasePaused && st.Phase != workflows.PhaseFrozen
	}},
	{"abort", "Stop a release and roll it back per its pipelines' policies", "aborted", workflows.Abort, stopped},
	{"rollback", "Roll back everything a running or just-succeeded release changed, newest first", "rolling back", workflows.Rollback, stopped},
}

// stopped reports whether the release has started unwinding or has ended.
func stopped(st workflows.Status) bool {
	return st.Phase == workflows.PhaseRollingBack || st.Phase.Terminal() && st.Phase != workflows.PhaseSucceeded
}

// settleTimeout bounds how long a steering command waits for the status
// to show what it did.
const settleTimeout = 3 * time.Second

// settle returns the release's status once it shows what the command did:
// the Release forwards a command to its pipelines, whose next report
// carries its effect, so the Update's own answer may still show the phase
// from before. It gives up after settleTimeout (a pipeline whose boundary
// has no worker reports nothing) and returns the latest status.
func (s steerCommand) settle(ctx context.Context, c client.Client, st workflows.Status) workflows.Status {
	deadline := time.Now().Add(settleTimeout)
	for s.done != nil && !s.done(st) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return st
		case <-time.After(100 * time.Millisecond):
		}
		if now, err := workflows.ReleaseStatus(ctx, c, st.Release); err == nil {
			st = now
		}
	}
	return st
}

// newSteerCmd returns the operator command called name, one of steerCommands.
func newSteerCmd(name string) *cobra.Command {
	cmd, _ := steerCmd(name)
	return cmd
}

// steerCmd returns the operator command called name and its options.
func steerCmd(name string) (*cobra.Command, *steerOptions) {
	i := slices.IndexFunc(steerCommands, func(s steerCommand) bool { return s.name == name })
	s := steerCommands[i]
	o := &steerOptions{steerCommand: s}
	cmd := &cobra.Command{
		Use:   name + " RELEASE [--reason TEXT]",
		Short: s.short,
		Long: s.short + ".\nRELEASE is the release id (release/<service>/<change>; the release/ prefix\n" +
			"may be left out). Who (--as, default $USER) and --reason are recorded in the\n" +
			"release's history. Exits 1, saying why, when the release refuses.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			var err error
			if o.release, err = releaseID(args[0]); err != nil {
				return err
			}
			if o.override.reason = o.reason; o.override.on {
				if err := o.override.check(); err != nil {
					return err
				}
			}
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why, recorded in the release's history")
	cmd.Flags().StringVar(&o.as, "as", "", "who (default $USER)")
	switch name {
	case "approve":
		cmd.Flags().StringVar(&o.stage, "stage", "", "the stage to approve (default: whichever waits)")
	case "resume":
		o.override.add(cmd)
	}
	return cmd, o
}

func (o *steerOptions) run(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := o.update(ctx, c, o.release, workflows.Request{Stage: o.stage, Who: who(o.as), Reason: o.reason, OverrideFreeze: o.override.on})
	if err != nil {
		return o.releaseError(ctx, c, o.name, o.release, err)
	}
	st = o.settle(ctx, c, st)
	if o.json() {
		return writeIndentedJSON(o.out, st)
	}
	what := o.release
	if o.stage != "" {
		what += " (stage " + o.stage + ")"
	}
	fmt.Fprintf(o.out, "%s %s as %s; release is %s\n", o.past, what, who(o.as), st.Phase)
	for _, p := range st.Pipelines {
		if p.Phase == workflows.PhaseAwaitingApproval && p.ApprovalsNeeded > 0 && len(p.Approvals) > 0 {
			fmt.Fprintf(o.out, "  stage %s of %s/%s needs %d more approval(s) by someone else (approved by %s)\n",
				p.Stage, p.Cloud, p.Boundary, p.ApprovalsNeeded, strings.Join(p.Approvals, ", "))
		}
	}
	fmt.Fprintf(o.out, "  %s\n", o.link(o.release))
	return nil
}
