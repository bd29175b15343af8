package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/workflows"
)

// historyOptions are the flags of `meridian history`.
type historyOptions struct {
	*remote
	service string
}

func newHistoryCmd() *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history --service S",
		Short: "List a service's releases and their outcomes, newest first",
		Long: "List the releases of service S, newest first, from Temporal visibility (as\n" +
			"long as the namespace retains them): release id, change, trigger, phase,\n" +
			"start and end.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.service, "service", "", "the service (required)")
	_ = cmd.MarkFlagRequired("service")
	return cmd
}

func (o *historyOptions) run(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	past, err := workflows.History(ctx, c, o.service)
	if err != nil {
		return err
	}
	if o.json() {
		if past == nil {
			past = []workflows.ReleaseSummary{}
		}
		return writeIndentedJSON(o.out, past)
	}
	if len(past) == 0 {
		fmt.Fprintf(o.out, "no releases of %s\n", o.service)
		return nil
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tCHANGE\tTRIGGER\tPHASE\tSTARTED\tENDED")
	for _, r := range past {
		ended := "-"
		if !r.Ended.IsZero() {
			ended = r.Ended.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Release, r.ChangeID, r.Trigger, r.Phase, r.Started.Local().Format(time.DateTime), ended)
	}
	return tw.Flush()
}
