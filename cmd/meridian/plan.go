package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/pipelines"
)

// planOptions are the arguments and flags of `meridian plan`.
type planOptions struct {
	dir    string
	output string

	out, errOut io.Writer
}

func newPlanCmd() *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Show the pipelines, stages and targets a spec compiles to",
		Long: "Compile the spec in DIR and print its plan: one pipeline per service, cloud and\n" +
			"sovereign boundary, each an ordered list of stages of targets. The plan is\n" +
			"deterministic: the same spec gives byte-identical output whatever its file\n" +
			"names or order. Stages that a freeze of the spec holds now are listed after\n" +
			"the plan (emergency freezes live in Temporal: meridian freeze --list). Spec\n" +
			"errors are printed as path:line:col: message (exit 1).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json or markdown")
	return cmd
}

func (o *planOptions) complete(cmd *cobra.Command, args []string) error {
	o.dir = args[0]
	o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	switch o.output {
	case "table", "json", "markdown":
		return nil
	}
	return usageError{fmt.Errorf("unknown output format %q (want table, json or markdown)", o.output)}
}

func (o *planOptions) run(ctx context.Context) error {
	model, plan, err := planSpec(ctx, o.dir, "", o.errOut)
	if err != nil {
		return err
	}
	plan.Frozen = pipelines.FrozenStages(plan.Pipelines, model.Freezes, time.Now())
	w := bufio.NewWriter(o.out)
	switch o.output {
	case "json":
		err = writeIndentedJSON(w, plan)
	case "markdown":
		_, err = io.WriteString(w, plan.Markdown())
	default:
		err = writePlanTable(w, plan)
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// writePlanTable writes one line per stage, with its target count.
func writePlanTable(w io.Writer, plan *pipelines.Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCLOUD\tBOUNDARY\tSTAGE\tENVIRONMENT\tTARGETS\tPARALLEL\tBAKE\tAPPROVAL")
	for _, p := range plan.Pipelines {
		for _, st := range p.Stages {
			approval := ""
			if st.Approval {
				approval = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Service, p.Cloud, p.Boundary, st.Name, st.Environment,
				len(st.Targets), st.MaxParallel, st.Bake, approval)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(plan.Frozen) > 0 {
		fmt.Fprintln(w, "\nFrozen now (a change started now waits before these stages):")
	}
	for _, h := range plan.Frozen {
		fmt.Fprintf(w, "  %s %s/%s stage %s: %s\n", h.Service, h.Cloud, h.Boundary, h.Stage, h.Hold.Reason(h.Stage))
	}
	return nil
}

// writeIndentedJSON writes v as indented JSON, without HTML escaping.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
