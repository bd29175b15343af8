package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
)

// freezeOverride is --override-freeze with its --reason: the change goes
// through the freezes that would hold it, recorded with who and why.
type freezeOverride struct {
	on     bool
	reason string
}

// add adds --override-freeze and, unless the command has its own, --reason.
func (f *freezeOverride) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.on, "override-freeze", false, "go through the freezes that hold the change (needs --reason; recorded in the release's events)")
	if cmd.Flags().Lookup("reason") == nil {
		cmd.Flags().StringVar(&f.reason, "reason", "", "why the freeze is overridden (with --override-freeze)")
	}
}

func (f *freezeOverride) check() error {
	switch {
	case f.on && strings.TrimSpace(f.reason) == "":
		return usageError{errors.New("--override-freeze needs --reason: say why the freeze is overridden")}
	case !f.on && f.reason != "":
		return usageError{errors.New("--reason goes with --override-freeze")}
	}
	return nil
}

// why is the override's reason, "" when there is none.
func (f *freezeOverride) why() string {
	if f.on {
		return f.reason
	}
	return ""
}
