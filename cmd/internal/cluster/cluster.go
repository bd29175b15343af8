// Package cluster runs Meridian in its production shape on one machine,
// from real parts: PostgreSQL (Debian's package) on its own port and data
// directory, Temporal's schema applied by Temporal's own SQL tool, Temporal's
// own server command with the configuration kept beside this file, the
// Temporal Web UI, and `meridian worker` processes: two control workers and
// one per sovereign boundary of the spec, each started with only its own
// boundary's environment. `meridian-cluster` starts and stops it; the soak
// drives it and injects its faults through Kill, Restart and the
// server's and database's restarts.
//
// Every process is a child in its own session, logging to the state
// directory, so that a cluster outlives the command that started it and
// `meridian-cluster down` finds it from the state file.
package cluster

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/local"
)

//go:embed temporal.yaml
var temporalConfig []byte

//go:embed dynamicconfig.yaml
var dynamicConfig []byte

// Options say what to run and where.
type Options struct {
	// Dir holds the cluster's state: the database, logs and the state file.
	Dir string
	// Bin holds meridian, meridian-cluster, temporal-server and
	// temporal-sql-tool.
	Bin string
	// Spec is the spec directory whose boundaries get worker processes.
	Spec string
	// Boundaries are the spec's boundaries, one worker process each.
	Boundaries []placement.BoundaryRule
	// Port is the frontend's gRPC port; the other services use the next
	// three, and their membership ports are ten above.
	Port, UIPort int
	Namespace    string
	Postgres     Postgres
	// WorkerEnv is the environment of each boundary's worker, by
	// "cloud/boundary" (its credentials); no worker sees another's, nor
	// this process's own beyond PATH and HOME.
	WorkerEnv map[string][]string
	// BuildID is the workers' build id in the worker deployment.
	BuildID string
	// Deployment is the workers' worker deployment name.
	Deployment string
}

// Cluster is a started cluster.
type Cluster struct {
	opts  Options
	procs []*Proc
}

// state is what the state file records, for `down` and `status`.
type state struct {
	Address   string      `json:"address"`
	Namespace string      `json:"namespace"`
	UI        string      `json:"ui"`
	Postgres  string      `json:"postgres"`
	Managed   bool        `json:"managedPostgres"`
	Procs     []procState `json:"processes"`
}

type procState struct {
	Name string `json:"name"`
	Pid  int    `json:"pid"`
	Log  string `json:"log"`
}

// Address is the frontend's host:port.
func (c *Cluster) Address() string { return "127.0.0.1:" + strconv.Itoa(c.opts.Port) }

// UIURL is the Web UI's address.
func (c *Cluster) UIURL() string { return "http://127.0.0.1:" + strconv.Itoa(c.opts.UIPort) }

// Namespace is the namespace the workers poll.
func (c *Cluster) Namespace() string { return c.opts.Namespace }

// Procs are the cluster's processes: the server, the UI and the workers.
func (c *Cluster) Procs() []*Proc { return c.procs }

func (c *Cluster) logDir() string { return filepath.Join(c.opts.Dir, "logs") }

func (c *Cluster) stateFile() string { return filepath.Join(c.opts.Dir, "cluster.json") }

// Up starts every part in order, each once the one before answers. On an
// error it stops what it started.
func Up(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	if c.opts.Namespace == "" {
		c.opts.Namespace = "default"
	}
	if c.opts.Postgres.User == "" {
		c.opts.Postgres.User = "temporal"
	}
	c.opts.Postgres.dir = filepath.Join(opts.Dir, "postgres")
	if _, err := os.Stat(c.stateFile()); err == nil {
		return nil, fmt.Errorf("a cluster already runs from %s: stop it with meridian-cluster down --dir %s", opts.Dir, opts.Dir)
	}
	ports := map[int]string{opts.UIPort: "the Web UI"}
	for i, what := range []string{"the Temporal frontend", "Temporal history", "Temporal matching", "Temporal's worker service"} {
		ports[opts.Port+i], ports[opts.Port+10+i] = what, what+" (membership)"
	}
	for _, port := range slices.Sorted(maps.Keys(ports)) {
		if err := free("127.0.0.1:"+strconv.Itoa(port), ports[port]); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.logDir(), 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Down(context.WithoutCancel(ctx))
		}
	}()
	if !opts.Postgres.External {
		if err := c.opts.Postgres.init(ctx); err != nil {
			return nil, err
		}
		if err := c.opts.Postgres.start(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.schema(ctx); err != nil {
		return nil, err
	}
	if err := c.startServer(ctx); err != nil {
		return nil, err
	}
	if err := c.startUI(ctx); err != nil {
		return nil, err
	}
	if err := c.StartWorkers(ctx, c.opts.BuildID); err != nil {
		return nil, err
	}
	return c, c.save()
}

// save writes the state file.
func (c *Cluster) save() error {
	st := state{Address: c.Address(), Namespace: c.opts.Namespace, UI: c.UIURL(), Postgres: c.opts.Postgres.Address, Managed: !c.opts.Postgres.External}
	for _, p := range c.procs {
		st.Procs = append(st.Procs, procState{p.Name, p.Pid(), p.log})
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return os.WriteFile(c.stateFile(), append(b, '\n'), 0o644)
}

// Down stops the processes (asked first, killed after 10 s) and a managed
// PostgreSQL.
func (c *Cluster) Down(ctx context.Context) error {
	for _, p := range slices.Backward(c.procs) {
		p.Stop(10 * time.Second)
	}
	var errs []error
	// The local cloud's processes outlive their workers, by design; a
	// cluster's end is theirs.
	states, _ := filepath.Glob(filepath.Join(c.opts.Dir, "state", "*", "meridian", "local"))
	for _, dir := range states {
		if p, err := local.New(&local.Options{StateDir: dir}); err == nil {
			errs = append(errs, p.Close())
		}
	}
	if !c.opts.Postgres.External {
		errs = append(errs, c.opts.Postgres.stop(ctx))
	}
	if err := os.Remove(c.stateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DownDir stops the cluster that runs from dir, found from its state file.
func DownDir(ctx context.Context, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no cluster runs from %s", dir)
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "cluster.json"), err)
	}
	c := &Cluster{opts: Options{Dir: dir, Postgres: Postgres{External: !st.Managed, dir: filepath.Join(dir, "postgres")}}}
	for _, ps := range st.Procs {
		c.procs = append(c.procs, adopt(ps))
	}
	return c.Down(ctx)
}

// Status is the state file of the cluster in dir, for people.
func Status(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no cluster runs from %s", dir)
	}
	if err != nil {
		return "", err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return "", err
	}
	out := fmt.Sprintf("temporal %s (namespace %s)\nweb ui   %s\npostgres %s\n", st.Address, st.Namespace, st.UI, st.Postgres)
	for _, ps := range st.Procs {
		alive := "running"
		if !adopt(ps).Alive() {
			alive = "exited"
		}
		out += fmt.Sprintf("  %-28s pid %-7d %-8s %s\n", ps.Name, ps.Pid, alive, ps.Log)
	}
	return out, nil
}

// RestartPostgres stops a managed PostgreSQL and starts it again.
func (c *Cluster) RestartPostgres(ctx context.Context) error {
	if c.opts.Postgres.External {
		return errors.New("postgresql is external: the cluster does not restart it")
	}
	if err := c.opts.Postgres.stop(ctx); err != nil {
		return err
	}
	return c.opts.Postgres.start(ctx)
}

// free reports whether addr can be listened on, and if not, what holds it.
func free(addr, what string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("port %s for %s is in use: stop what listens there or choose another port", addr, what)
	}
	return l.Close()
}
