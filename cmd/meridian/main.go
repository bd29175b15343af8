// Command meridian compiles placement specs into rollout plans and drives
// them as Temporal workflows. See README.md for the quickstart.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(200) // compiling a large fleet spends ~30% of its time in GC at the default 100
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "meridian",
		Short:         "Multi-cloud placement and deployment pipelines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if specTimeout <= 0 {
			return usageError{errors.New("--spec-timeout must be positive")}
		}
		return requiredNotEmpty(cmd)
	}
	root.PersistentFlags().DurationVar(&specTimeout, "spec-timeout", 2*time.Minute, "how long a spec's evaluation may take")
	root.AddCommand(
		newRegionsCmd(),
		newPlanCmd(),
		newDiffCmd(),
		newValidateCmd(),
		newDevCmd(),
		newWorkerCmd(),
		newWorkersCmd(),
		newRolloutCmd(),
		newTriggerCmd(),
		newRestartCmd(),
		newConfigCmd(),
		newApplyCmd(),
		newFleetCmd(),
		newStatusCmd(),
		newSteerCmd("approve"),
		newSteerCmd("promote"),
		newSteerCmd("pause"),
		newSteerCmd("resume"),
		newSteerCmd("abort"),
		newRollbackCmd(),
		newHistoryCmd(),
		newFreezeCmd(),
		newUnfreezeCmd(),
	)
	return root
}

// usageError marks a bad invocation: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// silentError carries an exit code whose message has already been printed
// (validation errors, a release that rolled back).
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode prints err as one line on stderr and maps it to the exit code:
// 0 success, 1 failure, 2 usage error.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var silent silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintln(os.Stderr, "meridian:", err)
	var usage usageError
	if errors.As(err, &usage) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// noArgs is cobra.NoArgs without its "unknown command" message, which
// misleads when the argument was meant as a directory or a release.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments (got %q)", cmd.CommandPath(), args[0])}
	}
	return nil
}

// requiredNotEmpty refuses a required flag given as an empty string
// (--version "" from an unset CI variable), which cobra counts as given.
func requiredNotEmpty(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if _, required := f.Annotations[cobra.BashCompOneRequiredFlag]; required && err == nil && f.Value.String() == "" {
			err = usageError{fmt.Errorf("--%s must not be empty", f.Name)}
		}
	})
	return err
}

// cobraUsagePrefixes begin cobra's own argument errors, which it does not type.
var cobraUsagePrefixes = []string{"unknown command", "accepts ", "requires at least", "requires at most", "requires exactly", "invalid argument", "unknown flag", "unknown shorthand flag", "required flag"}

func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range cobraUsagePrefixes {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
