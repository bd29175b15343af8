package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// joinDeployment waits until the server lists every queue the worker
// polls under its version (it learns them from the polls, a moment after
// they start), so that the version can be made current; then makes the
// version current if its deployment has none yet (the first versioned
// workers of a namespace), so that a fresh install runs without an
// operator's step. Later builds become current only through `meridian
// workers use`. It says which.
func joinDeployment(ctx context.Context, c client.Client, version worker.WorkerDeploymentVersion, queues []string) (string, error) {
	h := c.WorkerDeploymentClient().GetHandle(version.DeploymentName)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		said, done, err := tryJoin(ctx, h, version, queues)
		if done || err != nil {
			return said, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("worker deployment %s: build %s was not registered with all of its task queues (%s) within a minute of polling", version.DeploymentName, version.BuildID, strings.Join(queues, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tryJoin is one attempt of joinDeployment; not done means look again.
func tryJoin(ctx context.Context, h client.WorkerDeploymentHandle, version worker.WorkerDeploymentVersion, queues []string) (said string, done bool, err error) {
	var notFound *serviceerror.NotFound
	v, err := h.DescribeVersion(ctx, client.WorkerDeploymentDescribeVersionOptions{BuildID: version.BuildID})
	if errors.As(err, &notFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("worker deployment %s: %w", version.DeploymentName, err)
	}
	for _, q := range queues {
		if !slices.ContainsFunc(v.Info.TaskQueuesInfos, func(i client.WorkerDeploymentTaskQueueInfo) bool { return i.Name == q }) {
			return "", false, nil
		}
	}
	d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		return "", false, fmt.Errorf("worker deployment %s: %w", version.DeploymentName, err)
	}
	switch current := d.Info.RoutingConfig.CurrentVersion; {
	case current != nil && *current == version:
		return " (current)", true, nil
	case current != nil:
		return fmt.Sprintf(" (not current: %s is; make this one current with meridian workers use %s)", current.BuildID, version.BuildID), true, nil
	}
	_, err = h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: version.BuildID, ConflictToken: d.ConflictToken})
	var failed *serviceerror.FailedPrecondition
	switch {
	case err == nil:
		return " (current: the deployment's first)", true, nil
	case errors.As(err, &failed): // another worker set one first: look again
		return "", false, nil
	}
	return "", false, fmt.Errorf("worker deployment %s: make %s current: %w", version.DeploymentName, version.BuildID, err)
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
	// A build's workers that just started may not be registered with all
	// of their queues yet: the server refuses until they are.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h := c.WorkerDeploymentClient().GetHandle(o.deployment)
	prev := "none"
	for {
		var d client.WorkerDeploymentDescribeResponse
		if d, err = h.Describe(ctx, client.WorkerDeploymentDescribeOptions{}); err != nil {
			break
		}
		if cur := d.Info.RoutingConfig.CurrentVersion; cur != nil {
			prev = cur.BuildID
		}
		_, err = h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: build, ConflictToken: d.ConflictToken})
		var failed *serviceerror.FailedPrecondition
		if err == nil || !errors.As(err, &failed) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		// The server's answer lists the missing queues on lines of their own.
		return fmt.Errorf("worker deployment %s: make %s current: %s", o.deployment, build, strings.Join(strings.Fields(err.Error()), " "))
	}
	fmt.Fprintf(o.out, "build %s of %s is current (was %s): new releases start on it; running ones finish on theirs\n", build, o.deployment, prev)
	return nil
}
