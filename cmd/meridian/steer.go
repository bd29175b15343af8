package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

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

	steerCommand
}

// steerCommand is an operator command: its name, what it does, its past
// tense, and the workflows call that sends the Update.
type steerCommand struct {
	name, short, past string
	update            func(context.Context, client.Client, string, workflows.Request) (workflows.Status, error)
}

var steerCommands = []steerCommand{
	{"approve", "Approve the stage a release waits on", "approved", workflows.Approve},
	{"promote", "End the current bake of a release now", "promoted", workflows.Promote},
	{"pause", "Hold a release before its next target, stage or pipeline", "paused", workflows.Pause},
	{"resume", "Continue a paused release (under the manual policy, retry the failed stage)", "resumed", workflows.Resume},
	{"abort", "Stop a release and roll it back per its pipelines' policies", "aborted", workflows.Abort},
	{"rollback", "Roll back everything a running or just-succeeded release changed, newest first", "rolling back", workflows.Rollback},
}

// newSteerCmd returns the operator command called name, one of steerCommands.
func newSteerCmd(name string) *cobra.Command {
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
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.reason, "reason", "", "why, recorded in the release's history")
	cmd.Flags().StringVar(&o.as, "as", "", "who (default $USER)")
	if name == "approve" {
		cmd.Flags().StringVar(&o.stage, "stage", "", "the stage to approve (default: whichever waits)")
	}
	return cmd
}

func (o *steerOptions) run(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := o.update(ctx, c, o.release, workflows.Request{Stage: o.stage, Who: who(o.as), Reason: o.reason})
	if err != nil {
		return o.releaseError(ctx, c, o.name, o.release, err)
	}
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
