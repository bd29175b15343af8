package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// validateOptions are the arguments of `meridian validate`.
type validateOptions struct {
	dir string

	out, errOut io.Writer
}

func newValidateCmd() *cobra.Command {
	o := &validateOptions{}
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a placement spec against the schema and the region catalog",
		Long: "Load and compile the spec in DIR (the *.cue files of one package) and\n" +
			"build its plan, as plan does.\n" +
			"When it is valid, print a one-line summary on stdout and exit 0. Otherwise\n" +
			"print every error on stderr, one per line, as path:line:col: message with\n" +
			"the path relative to DIR, sorted by position, and exit 1.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.complete(cmd, args)
			return o.run(cmd.Context())
		},
	}
}

func (o *validateOptions) complete(cmd *cobra.Command, args []string) {
	o.dir = args[0]
	o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
}

func (o *validateOptions) run(ctx context.Context) error {
	// Building the plan too makes a valid spec one that plan accepts.
	model, _, err := planSpec(ctx, o.dir, "", o.errOut)
	if err != nil {
		return err
	}
	targets := 0
	for _, s := range model.Services {
		targets += len(s.Targets)
	}
	_, err = fmt.Fprintf(o.out, "ok: %d services, %d targets\n", len(model.Services), targets)
	return err
}
