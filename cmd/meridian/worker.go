package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/fleet"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/temporalconn"
)

// workerOptions are the flags of `meridian worker`.
type workerOptions struct {
	conn       *temporalconn.Flags
	boundaries []string
	spec       string
	control    bool
	only       bool // control only
	deployment string
	buildID    string

	out, errOut io.Writer
}

func newWorkerCmd() *cobra.Command {
	o := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker [--boundary CLOUD/BOUNDARY ...] [--spec DIR] [--control=false] | worker --control-only",
		Short: "Run Meridian's workflows and provider activities against a Temporal server",
		Long: "Poll the task queues of the named sovereign boundaries (meridian-<cloud>-<boundary>\n" +
			"unless the spec sets another) and run their pipelines and provider calls, and\n" +
			"poll " + workflows.ControlTaskQueue + " for the Release workflows, which only orchestrate.\n" +
			"A worker serves the boundaries it is told and no other: run one inside each\n" +
			"boundary, with that boundary's credentials. With --spec and no --boundary it\n" +
			"serves every boundary the spec uses. Runs until interrupted.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.conn = temporalconn.AddFlags(cmd)
	cmd.Flags().StringSliceVar(&o.boundaries, "boundary", nil, "a boundary to serve, as CLOUD/BOUNDARY (local/public, aws/us-gov); repeatable")
	cmd.Flags().StringVar(&o.spec, "spec", "", "spec directory: task queues and provider settings of its boundaries")
	cmd.Flags().BoolVar(&o.control, "control", true, "also run Release workflows ("+workflows.ControlTaskQueue+"); no provider is called there")
	cmd.Flags().BoolVar(&o.only, "control-only", false, "run only the control queue's workflows, with no provider and no boundary")
	cmd.Flags().StringVar(&o.buildID, "build-id", "", "join the worker deployment as this build (worker versioning: releases stay on the build that started them); unversioned if empty")
	cmd.Flags().StringVar(&o.deployment, "deployment", defaultDeployment, "worker deployment name, with --build-id")
	return cmd
}

func (o *workerOptions) complete(cmd *cobra.Command) error {
	o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.only {
		if len(o.boundaries) > 0 || o.spec != "" || cmd.Flags().Changed("control") {
			return usageError{errors.New("--control-only serves no boundary: drop --boundary, --spec and --control")}
		}
		return nil
	}
	if len(o.boundaries) == 0 && o.spec == "" {
		return usageError{errors.New("name the boundaries to serve with --boundary CLOUD/BOUNDARY, or give --spec DIR to serve all of the spec's")}
	}
	for _, b := range o.boundaries {
		if _, err := parseBoundary(b); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// version is the worker deployment version the worker joins; zero when
// unversioned.
func (o *workerOptions) version() worker.WorkerDeploymentVersion {
	if o.buildID == "" {
		return worker.WorkerDeploymentVersion{}
	}
	return worker.WorkerDeploymentVersion{DeploymentName: o.deployment, BuildID: o.buildID}
}

func (o *workerOptions) run(ctx context.Context) error {
	rules, err := o.served(ctx)
	if err != nil {
		return err
	}
	c, err := o.conn.Dial(ctx, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := fleet.Open(ctx, rules, nil)
	if err != nil {
		return err
	}
	// The services keep running when the worker stops; the next one adopts them.
	defer f.Detach()
	fmt.Fprintf(o.out, "meridian worker: connected to %s\n", o.conn)
	version := o.version()
	ws, err := startWorkers(c, rules, f.Set(), o.control || o.only, version)
	if err != nil {
		return err
	}
	for _, w := range ws {
		fmt.Fprintf(o.out, "  polling %s\n", w.queue)
	}
	if version.BuildID != "" {
		first, err := joinDeployment(ctx, c, version, queues(ws))
		if err != nil {
			stopWorkers(ws)
			return err
		}
		fmt.Fprintf(o.out, "  as build %s of worker deployment %s%s\n", version.BuildID, version.DeploymentName, first)
	}
	<-ctx.Done()
	stopWorkers(ws)
	return nil
}

// served returns the rules of the boundaries this worker serves: those of
// the spec (all, or the ones named), or the named ones with default task
// queues.
func (o *workerOptions) served(ctx context.Context) ([]placement.BoundaryRule, error) {
	if o.only {
		return nil, nil
	}
	var named []placement.BoundaryRule
	for _, b := range o.boundaries {
		r, _ := parseBoundary(b)
		named = append(named, r)
	}
	if o.spec == "" {
		return named, nil
	}
	model, _, err := planSpec(ctx, o.spec, "", o.errOut)
	if err != nil {
		return nil, err
	}
	if len(named) == 0 {
		return model.Boundaries, nil
	}
	var rules []placement.BoundaryRule
	for _, n := range named {
		found := false
		for _, r := range model.Boundaries {
			if r.Cloud == n.Cloud && r.Boundary == n.Boundary {
				rules, found = append(rules, r), true
			}
		}
		if !found {
			return nil, fmt.Errorf("boundary %s/%s is not used by any service of %s", n.Cloud, n.Boundary, o.spec)
		}
	}
	return rules, nil
}

// parseBoundary reads CLOUD/BOUNDARY, checked against the region catalog,
// into a rule with the default task queue.
func parseBoundary(s string) (placement.BoundaryRule, error) {
	cloud, boundary, ok := strings.Cut(s, "/")
	if !ok || cloud == "" || boundary == "" {
		return placement.BoundaryRule{}, fmt.Errorf("--boundary %q: want CLOUD/BOUNDARY, such as local/public or aws/us-gov", s)
	}
	if _, ok := regions.Default().Boundary(cloud, boundary); !ok {
		return placement.BoundaryRule{}, fmt.Errorf("--boundary %q: no such boundary in the region catalog (see meridian regions)", s)
	}
	return placement.BoundaryRule{Cloud: cloud, Boundary: boundary, TaskQueue: placement.DefaultTaskQueue(cloud, boundary)}, nil
}

// queueWorker is a started SDK worker and the task queue it polls.
type queueWorker struct {
	queue  string
	worker worker.Worker
}

// startWorkers starts one SDK worker per served boundary's task queue, and
// one on the control queue when control is set. Every worker registers
// the same workflows and activities; what runs where is decided by the
// task queue each workflow and activity is scheduled on. A boundary's
// worker has that boundary's provider only, so an activity of another
// boundary that reached its queue fails there instead of running outside
// its boundary; the control worker has none. With a version, every worker
// joins that worker deployment version, pinning the workflows it starts.
func startWorkers(c client.Client, rules []placement.BoundaryRule, set *providers.Set, control bool, version worker.WorkerDeploymentVersion) ([]queueWorker, error) {
	sets := map[string]*providers.Set{}
	var queues []string
	if control {
		queues, sets[workflows.ControlTaskQueue] = append(queues, workflows.ControlTaskQueue), providers.NewSet()
	}
	for _, r := range rules {
		if _, dup := sets[r.TaskQueue]; dup {
			return nil, fmt.Errorf("task queue %s is served for two boundaries (%s/%s among them): a boundary's queue is its own", r.TaskQueue, r.Cloud, r.Boundary)
		}
		queues, sets[r.TaskQueue] = append(queues, r.TaskQueue), set.Only(r.Cloud, r.Boundary)
	}
	var ws []queueWorker
	for _, q := range queues {
		var opts worker.Options
		if version.BuildID != "" {
			opts.DeploymentOptions = worker.DeploymentOptions{UseVersioning: true, Version: version}
		}
		w := worker.New(c, q, opts)
		workflows.Register(w, &workflows.Activities{Providers: sets[q]})
		if err := w.Start(); err != nil {
			stopWorkers(ws)
			return nil, fmt.Errorf("worker on %s: %w", q, err)
		}
		ws = append(ws, queueWorker{q, w})
	}
	return ws, nil
}

// queues are the task queues ws poll.
func queues(ws []queueWorker) []string {
	var qs []string
	for _, w := range ws {
		qs = append(qs, w.queue)
	}
	return qs
}

func stopWorkers(ws []queueWorker) {
	for _, w := range ws {
		w.worker.Stop()
	}
}
