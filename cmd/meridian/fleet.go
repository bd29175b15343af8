package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// fleetOptions are the arguments and flags of `meridian fleet`.
type fleetOptions struct {
	*remote
	dir             string
	services        []string
	cloud, boundary string
	timeout         time.Duration
}

func newFleetCmd() *cobra.Command {
	o := &fleetOptions{}
	cmd := &cobra.Command{
		Use:   "fleet DIR [--service S ...] [--cloud C] [--boundary B] [-o table|json|markdown] [--timeout D]",
		Short: "Survey what runs on every target of the spec, against the spec",
		Long: "Compile the spec in DIR and read, for every target, what runs there now:\n" +
			"version, config version, ready/desired instances and the release that put it\n" +
			"there; and its state against the spec: in-sync, drifted (another version or\n" +
			"config version than the spec's, or, when the spec sets no version, than the\n" +
			"service's last succeeded release), missing (nothing runs), degraded (not all\n" +
			"ready), orphaned (Meridian deployed it, the spec no longer has it; every\n" +
			"driver lists what it deployed) or unknown (the read failed, with the reason).\n" +
			"The survey is the workflow survey/<UTC time>-<digest>: each boundary's reads\n" +
			"run on that boundary's task queue, so a worker inside the boundary must serve\n" +
			"it. Exits 0 when everything is in sync, 1 otherwise.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("%s takes the spec directory (got %d arguments)", cmd.CommandPath(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.remote.complete(cmd); err != nil {
				return err
			}
			if o.timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %s: want a positive duration", o.timeout)}
			}
			o.dir = args[0]
			return o.run(cmd.Context())
		},
	}
	o.remote = addRemote(cmd, "table", "json", "markdown")
	cmd.Flags().StringSliceVar(&o.services, "service", nil, "survey only this service; repeatable")
	cmd.Flags().StringVar(&o.cloud, "cloud", "", "survey only this cloud's targets")
	cmd.Flags().StringVar(&o.boundary, "boundary", "", "survey only this boundary's targets (public, us-gov…)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for the survey")
	return cmd
}

func (o *fleetOptions) run(ctx context.Context) error {
	model, _, err := planSpec(ctx, o.dir, "", o.errOut)
	if err != nil {
		return err
	}
	services, err := o.selected(model)
	if err != nil {
		return err
	}
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	in, err := surveyInput(ctx, c, o.dir, model, services, o.narrow)
	if err != nil {
		return err
	}
	report, id, err := survey(ctx, c, in, o.timeout)
	if err != nil {
		return err
	}
	if err := o.print(report, id); err != nil {
		return err
	}
	if !report.InSync() {
		return silentError{1}
	}
	return nil
}

// selected returns the services of the model --service names, in spec
// order (all of them without --service).
func (o *fleetOptions) selected(model *placement.Model) ([]placement.Service, error) {
	if len(o.services) == 0 {
		return model.Services, nil
	}
	for _, name := range o.services {
		if !slices.ContainsFunc(model.Services, func(s placement.Service) bool { return s.Name == name }) {
			return nil, usageError{fmt.Errorf("--service %s: no such service in %s", name, o.dir)}
		}
	}
	var out []placement.Service
	for _, s := range model.Services {
		if slices.Contains(o.services, s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// narrow keeps the targets of --cloud and --boundary.
func (o *fleetOptions) narrow(t placement.Target) bool {
	return (o.cloud == "" || t.Cloud == o.cloud) && (o.boundary == "" || t.Boundary == o.boundary)
}

// surveyInput is the survey of the services' targets that keep passes:
// what the spec expects of each (the version of its last succeeded release
// when the spec sets none), and each boundary's task queue. Orphans are
// looked for among the services' own when they are not all of the model's.
func surveyInput(ctx context.Context, c client.Client, dir string, model *placement.Model, services []placement.Service, keep func(placement.Target) bool) (workflows.SurveyInput, error) {
	released := map[string]string{}
	var targets [][]placement.Target
	for _, s := range services {
		if s.Artifact.Version == "" {
			v, _, ok, err := workflows.CurrentVersion(ctx, c, s.Name)
			if err != nil {
				return workflows.SurveyInput{}, err
			}
			if ok {
				released[s.Name] = v
			}
		}
		var ts []placement.Target
		for _, t := range s.Targets {
			if keep(t) {
				ts = append(ts, t)
			}
		}
		targets = append(targets, ts)
	}
	queues := make([]workflows.SurveyQueue, len(model.Boundaries))
	for i, b := range model.Boundaries {
		queues[i] = workflows.SurveyQueue{Cloud: b.Cloud, Boundary: b.Boundary, TaskQueue: b.TaskQueue}
	}
	expect := pipelines.Expect(&placement.Model{Services: services}, released)
	in := workflows.NewSurveyInput(dir, expect, targets, queues)
	in.Narrowed = len(services) < len(model.Services)
	return in, nil
}

// survey runs the survey of in, waiting at most timeout, and returns its
// report and ID.
func survey(ctx context.Context, c client.Client, in workflows.SurveyInput, timeout time.Duration) (pipelines.FleetReport, string, error) {
	run, err := workflows.StartSurvey(ctx, c, in, time.Now())
	if err != nil {
		return pipelines.FleetReport{}, "", err
	}
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := run.Get(wait, nil); err != nil {
		if errors.Is(wait.Err(), context.DeadlineExceeded) {
			return pipelines.FleetReport{}, run.GetID(), fmt.Errorf("%s has not ended after %s (--timeout); it goes on", run.GetID(), timeout)
		}
		return pipelines.FleetReport{}, run.GetID(), fmt.Errorf("%s: %w", run.GetID(), err)
	}
	report, err := workflows.FleetReport(ctx, c, run.GetID())
	return report, run.GetID(), err
}

// fleetJSON is the -o json document.
type fleetJSON struct {
	Survey string `json:"survey"`
	Link   string `json:"link"`
	InSync bool   `json:"inSync"`
	pipelines.FleetReport
}

func (o *fleetOptions) print(r pipelines.FleetReport, id string) error {
	switch o.output {
	case "json":
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(fleetJSON{Survey: id, Link: o.link(id), InSync: r.InSync(), FleetReport: r})
	case "markdown":
		_, err := fmt.Fprint(o.out, r.Markdown())
		return err
	}
	w := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "STATE\tTARGET\tVERSION\tCONFIG\tREADY\tRELEASE\tWHY")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.State, t.Target.ID(), cmp.Or(t.Observed.Version, "-"), cmp.Or(t.Observed.ConfigVersion, "-"),
			cmp.Or(t.ReadyCell(), "-"), cmp.Or(t.Release(), "-"), cmp.Or(t.Reason, "-"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(o.out, r.CountLine())
	orphans := fmt.Sprintf("orphans looked for in %d regions", r.Listed)
	for _, u := range r.Unlisted {
		orphans += fmt.Sprintf("; not in %s/%s/%s: %s", u.Cloud, u.Boundary, u.Region, u.Reason)
	}
	fmt.Fprintln(o.out, orphans)
	_, err := fmt.Fprintf(o.out, "survey %s: %s\n", id, o.link(id))
	return err
}
