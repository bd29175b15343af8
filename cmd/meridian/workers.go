package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// defaultDeployment is the worker deployment Meridian's versioned workers
// join: the control workers and every boundary's, so that a build is
// current for all of its task queues at once.
const defaultDeployment = "meridian"

// adoptFirstVersion makes version current when its deployment has no
// current version yet (the first versioned workers of a namespace), so
// that a fresh install runs without an operator's step; later builds
// become current only through `meridian workers use`. It says which.
func adoptFirstVersion(ctx context.Context, c client.Client, version worker.WorkerDeploymentVersion) (string, error) {
	h := c.WorkerDeploymentClient().GetHandle(version.DeploymentName)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		// The server creates the deployment when it sees the first poll.
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return "", fmt.Errorf("worker deployment %s: %w", version.DeploymentName, err)
		case d.Info.RoutingConfig.CurrentVersion != nil:
			if *d.Info.RoutingConfig.CurrentVersion == version {
				return " (current)", nil
			}
			return fmt.Sprintf(" (not current: %s is; make this one current with meridian workers use %s)", d.Info.RoutingConfig.CurrentVersion.BuildID, version.BuildID), nil
		default:
			_, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: version.BuildID, ConflictToken: d.ConflictToken})
			if err == nil {
				return " (current: the deployment's first)", nil
			}
			var failed *serviceerror.FailedPrecondition
			if !errors.As(err, &failed) { // another worker set one first: look again
				return "", fmt.Errorf("worker deployment %s: make %s current: %w", version.DeploymentName, version.BuildID, err)
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("worker deployment %s did not appear within a minute of polling", version.DeploymentName)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// workersOptions are the flags of `meridian workers`.
type workersOptions struct {
	*remote
	deployment string
}

func newWorkersCmd() *cobra.Command {
	o := &workersOptions{}
	cmd := &cobra.Command{
		Use:   "workers [use BUILD]",
		Short: "List the builds of Meridian's versioned workers, or make one current",
		Long: "List the versions (builds) of the worker deployment Meridian's workers joined with\n" +
			"--build-id: which is current, and whether the others still run releases they\n" +
			"started (drainage). `workers use BUILD` makes BUILD current: new releases start on\n" +
			"it, running ones stay on the build that started them until they end. The server\n" +
			"refuses a build that does not poll every task queue of the current one.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 || len(args) == 2 && args[0] == "use" {
				return nil
			}
			return usageError{fmt.Errorf("want workers, or workers use BUILD (got %q)", args)}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			if len(args) == 2 {
				return o.use(cmd.Context(), args[1])
			}
			return o.list(cmd.Context())
		},
	}
	o.remote = addRemote(cmd)
	cmd.Flags().StringVar(&o.deployment, "deployment", defaultDeployment, "worker deployment name")
	return cmd
}

func (o *workersOptions) list(ctx context.Context) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := c.WorkerDeploymentClient().GetHandle(o.deployment).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("no worker deployment %s: no worker has polled with --build-id", o.deployment)
	}
	if err != nil {
		return fmt.Errorf("worker deployment %s: %w", o.deployment, err)
	}
	rc := d.Info.RoutingConfig
	if o.json() {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(d.Info)
	}
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUILD\tROUTING\tDRAINAGE\tSINCE")
	for _, v := range d.Info.VersionSummaries {
		routing := "-"
		switch {
		case rc.CurrentVersion != nil && *rc.CurrentVersion == v.Version:
			routing = "current"
		case rc.RampingVersion != nil && *rc.RampingVersion == v.Version:
			routing = fmt.Sprintf("ramping %.0f%%", rc.RampingVersionPercentage)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Version.BuildID, routing, drainage(v.DrainageStatus), v.CreateTime.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// drainage says whether a version still runs workflows pinned to it.
func drainage(s client.WorkerDeploymentVersionDrainageStatus) string {
	switch s {
	case client.WorkerDeploymentVersionDrainageStatusDraining:
		return "draining (pinned releases run)"
	case client.WorkerDeploymentVersionDrainageStatusDrained:
		return "drained (safe to stop)"
	}
	return "-"
}

func (o *workersOptions) use(ctx context.Context, build string) error {
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.WorkerDeploymentClient().GetHandle(o.deployment).SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: build})
	if err != nil {
		return fmt.Errorf("worker deployment %s: make %s current: %w", o.deployment, build, err)
	}
	prev := "none"
	if resp.PreviousVersion != nil {
		prev = resp.PreviousVersion.BuildID
	}
	fmt.Fprintf(o.out, "build %s of %s is current (was %s): new releases start on it; running ones finish on theirs\n", build, o.deployment, prev)
	return nil
}
