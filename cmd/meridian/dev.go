package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fleet"
	"github.com/meridian-deploy/meridian/providers/local"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows/devserver"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
	"github.com/meridian-deploy/meridian/workflows/temporalconn"
)

// devOptions are the flags of `meridian dev`.
type devOptions struct {
	db        string
	ephemeral bool
	port      int
	uiPort    int
	spec      string
	tour      bool
	logLevel  string
	down      bool

	dbFlag string // how to name the database in a command line: "" or " --db FILE"

	level       slog.Level
	out, errOut io.Writer
}

func newDevCmd() *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev [--db FILE | --ephemeral] [--port 7233] [--ui-port 8233] [--spec DIR] [--tour] | dev --down [--db FILE]",
		Short: "Run an embedded Temporal server, its Web UI and a worker for every boundary",
		Long: "Run Meridian on this machine in one process: an embedded Temporal server on\n" +
			"SQLite, the Temporal Web UI, and a worker for every boundary of the spec (or,\n" +
			"without --spec, every boundary of the local cloud), all on 127.0.0.1.\n" +
			"State persists in --db (default $XDG_STATE_HOME/meridian/dev.db, else\n" +
			"~/.local/state/meridian/dev.db): started again on the same file, it resumes the\n" +
			"releases that were running. Other meridian commands reach it with their default\n" +
			"connection settings, and link to its Web UI. Stops cleanly on Ctrl-C, and says\n" +
			"which local instances keep running: the next start adopts them.\n\n" +
			"With --down, stop every local instance of the database's local state and\n" +
			"remove that state (the database stays); refused while a meridian dev runs on it.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			if o.down {
				return o.runDown()
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.db, "db", "", "SQLite file that holds the server's state (default under the user's state directory)")
	cmd.Flags().BoolVar(&o.ephemeral, "ephemeral", false, "keep the state in memory; it is lost on exit")
	cmd.Flags().IntVar(&o.port, "port", 7233, "gRPC port of the Temporal frontend")
	cmd.Flags().IntVar(&o.uiPort, "ui-port", 8233, "port of the Temporal Web UI")
	cmd.Flags().StringVar(&o.spec, "spec", "", "spec directory whose boundaries the workers serve")
	cmd.Flags().BoolVar(&o.tour, "tour", false, "run the scripted demo tour once started")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "error", "server and worker log level: debug, info, warn or error")
	cmd.Flags().BoolVar(&o.down, "down", false, "stop the local instances of --db's state, remove that state, and exit")
	return cmd
}

func (o *devOptions) complete(cmd *cobra.Command) error {
	o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if err := o.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)}
	}
	if o.ephemeral && o.db != "" {
		return usageError{errors.New("--db and --ephemeral exclude each other")}
	}
	if o.down {
		var other []string
		cmd.Flags().Visit(func(f *pflag.Flag) {
			if f.Name != "down" && f.Name != "db" {
				other = append(other, "--"+f.Name)
			}
		})
		if len(other) > 0 {
			return usageError{fmt.Errorf("--down takes no %s: it stops the local instances of --db's state (an --ephemeral dev stops its own on exit)", strings.Join(other, ", "))}
		}
	}
	if o.db != "" {
		o.dbFlag = " --db " + o.db
	}
	if err := checkPort("--port", o.port); err != nil {
		return err
	}
	if err := checkPort("--ui-port", o.uiPort); err != nil {
		return err
	}
	if o.port != 0 && o.port == o.uiPort {
		return usageError{fmt.Errorf("--port and --ui-port are both %d: the server and the Web UI need a port each", o.port)}
	}
	if o.ephemeral || o.db != "" {
		return nil
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	o.db = filepath.Join(dir, "meridian", "dev.db")
	return nil
}

// localStateDir is where `meridian dev --db db` keeps the local provider's state.
func localStateDir(db string) string { return filepath.Join(filepath.Dir(db), "local") }

// checkPort refuses a port number that no listener can take.
func checkPort(flag string, port int) error {
	if port < 0 || port > 65535 {
		return usageError{fmt.Errorf("%s %d: want a port from 1 to 65535, or 0 for any free one", flag, port)}
	}
	return nil
}

// stateDir is $XDG_STATE_HOME, else ~/.local/state.
func stateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state directory for the database (%v): pass --db FILE or --ephemeral", err)
	}
	return filepath.Join(home, ".local", "state"), nil
}

func (o *devOptions) run(ctx context.Context) error {
	rules, err := o.boundaries(ctx)
	if err != nil {
		return err
	}
	localState := localStateDir(o.db)
	if o.ephemeral {
		if localState, err = os.MkdirTemp("", "meridian-local-"); err != nil {
			return err
		}
		defer os.RemoveAll(localState)
	} else {
		// Before the server: a second server on the database would take
		// its history shards from the first.
		unlock, holder, err := lockState(localState)
		if err != nil {
			return err
		}
		if unlock == nil {
			return fmt.Errorf("a meridian dev (pid %s) already runs on the local state in %s: stop it, or give this one a --db in another directory", holder, localState)
		}
		defer unlock()
	}
	level := new(slog.LevelVar)
	level.Set(o.level)
	logger := slog.New(slog.NewTextHandler(o.errOut, &slog.HandlerOptions{Level: level}))
	srv, err := devserver.Start(ctx, devserver.Options{
		DBFile:           o.db,
		Port:             o.port,
		UIPort:           o.uiPort,
		Namespace:        temporalconn.DefaultNamespace,
		SearchAttributes: searchattr.Types(),
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return fmt.Errorf("embedded temporal: %w", err)
	}
	defer c.Close()
	// The local fleet lives as long as the database: an ephemeral run stops
	// its processes on exit; otherwise the next start adopts them.
	f, err := fleet.Open(ctx, rules, &fleet.Options{Local: &local.Options{StateDir: localState}})
	if err != nil {
		return err
	}
	if o.ephemeral {
		defer f.Close()
	} else {
		defer func() {
			f.Detach()
			o.tellLeftRunning(localState)
		}()
	}
	// Unversioned: one process, always on its own build.
	ws, err := startWorkers(c, rules, f.Set(), true, worker.WorkerDeploymentVersion{})
	if err != nil {
		return err
	}
	defer stopWorkers(ws)

	db := o.db
	if o.ephemeral {
		db = "in memory (--ephemeral)"
	}
	var queues []string
	for _, w := range ws {
		queues = append(queues, w.queue)
	}
	fmt.Fprintf(o.out, "Meridian dev server\n  Temporal  %s  namespace %s\n  Web UI    %s\n  Database  %s\n  Workers   %s\n",
		srv.Address(), srv.Namespace(), srv.UIURL(), db, strings.Join(queues, ", "))
	fmt.Fprintln(o.out, "Press Ctrl-C to stop.")

	var tourErr error
	if o.tour {
		// A failed tour leaves everything running to be inspected.
		if err := runTour(ctx, devEnv{Client: c, Server: srv, Fleet: fleetView{f.Set()}, Spec: o.spec, Out: o.out}); err != nil && ctx.Err() == nil {
			tourErr = fmt.Errorf("tour: %w", err)
			fmt.Fprintln(o.errOut, "meridian dev:", tourErr)
		}
	}
	<-ctx.Done()
	fmt.Fprintln(o.out, "Stopping…")
	// Services shutting down complain about the cancelled calls in flight.
	level.Set(slog.LevelError + 1)
	if tourErr != nil {
		return silentError{1}
	}
	return nil
}

// tellLeftRunning says how many local instances keep running after this
// dev and what becomes of them.
func (o *devOptions) tellLeftRunning(localState string) {
	n, err := runningInstances(localState)
	if err != nil {
		fmt.Fprintln(o.errOut, "meridian dev:", err)
		return
	}
	if len(n) == 0 {
		return
	}
	words, total := instanceCount(n)
	verb := "keep"
	if total == 1 {
		verb = "keeps"
	}
	fmt.Fprintf(o.out, "%s %s running: the next `meridian dev%s` adopts them; `meridian dev --down%s` stops them\n",
		words, verb, o.dbFlag, o.dbFlag)
}

// runDown stops every local instance of the database's local state and
// removes that state: state.json and targets/ (configs and logs). The
// secrets directory and the Temporal database stay.
func (o *devOptions) runDown() error {
	dir := localStateDir(o.db)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(o.out, "nothing to stop: no local state in %s\n", dir)
		return nil
	}
	unlock, holder, err := lockState(dir)
	if err != nil {
		return err
	}
	if unlock == nil {
		return fmt.Errorf("a meridian dev (pid %s) runs on the local state in %s: stop it (Ctrl-C) before --down", holder, dir)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "state.json")); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(o.out, "nothing to stop: no local state in %s\n", dir)
		return nil
	}
	// The provider adopts what still runs, then stops all of it.
	p, err := local.New(&local.Options{StateDir: dir})
	if err != nil {
		return err
	}
	n, err := runningInstances(dir)
	if err != nil {
		p.Detach()
		return err
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("stopping the local instances: %w", err)
	}
	for _, name := range []string{"state.json", "targets"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing the local state: %w", unwrapPathError(err))
		}
	}
	if len(n) == 0 {
		fmt.Fprintf(o.out, "no local instance ran; removed the local state in %s\n", dir)
		return nil
	}
	words, _ := instanceCount(n)
	fmt.Fprintf(o.out, "stopped %s and removed their state in %s\n", words, dir)
	return nil
}

// boundaries are the spec's boundaries this machine has a provider for,
// or without a spec all of the local cloud's: the local cloud's, and those
// whose runtime is Kubernetes on clusters of a kubeconfig (make kube-up's,
// or a user's own).
func (o *devOptions) boundaries(ctx context.Context) ([]placement.BoundaryRule, error) {
	if o.spec == "" {
		var rules []placement.BoundaryRule
		for _, b := range regions.Default().Boundaries() {
			if b.Cloud == "local" {
				rules = append(rules, placement.BoundaryRule{Cloud: b.Cloud, Boundary: b.ID, TaskQueue: placement.DefaultTaskQueue(b.Cloud, b.ID)})
			}
		}
		return rules, nil
	}
	if fi, err := os.Stat(o.spec); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--spec %s: not a directory", o.spec)
	}
	model, _, err := planSpec(ctx, o.spec, "", o.errOut)
	if err != nil {
		return nil, err
	}
	var rules []placement.BoundaryRule
	for _, r := range model.Boundaries {
		if r.Cloud == "local" || onKubeconfig(r) {
			rules = append(rules, r)
		} else {
			fmt.Fprintf(o.errOut, "meridian dev: not serving %s/%s: no %s provider on this machine; its pipelines will wait for a worker\n", r.Cloud, r.Boundary, r.Cloud)
		}
	}
	return rules, nil
}

// onKubeconfig tells a boundary whose services run on clusters that a
// kubeconfig reaches.
func onKubeconfig(r placement.BoundaryRule) bool {
	via := r.Provider[fleet.SettingKubeClusters]
	return r.Runtime == placement.RuntimeKubernetes && (via == "" || via == "kubeconfig")
}

// devEnv is what `meridian dev` hands the tour once everything runs.
type devEnv struct {
	Client client.Client     // a client of the embedded server
	Server *devserver.Server // its address and Web UI URL
	Fleet  fleetView         // the instances of the served targets
	Spec   string            // the --spec directory
	Out    io.Writer         // where to narrate
}

// fleetView lists the instances of any served target through the provider
// that serves it.
type fleetView struct{ set *providers.Set }

// Instances lists t's instances.
func (v fleetView) Instances(ctx context.Context, t placement.Target) ([]driver.Instance, error) {
	p, err := v.set.For(t)
	if err != nil {
		return nil, err
	}
	return p.Instances(ctx, t)
}
