// Command meridian-cluster runs Meridian in its production shape on this
// machine (package cmd/internal/cluster): PostgreSQL, Temporal's own server
// and Web UI, two control workers and one worker process per boundary of
// the spec. `make cluster` and `make cluster-down` call it.
//
//	meridian-cluster up [--dir .cluster] [--spec testdata/demo] [--port 7433] [--ui-port 8433] [--pg-port 55432 | --postgres HOST:PORT] [--env-dir DIR]
//	meridian-cluster status [--dir .cluster]
//	meridian-cluster down [--dir .cluster]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/cmd/internal/cluster"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{Use: "meridian-cluster", Short: "Run Meridian on Temporal's own server on PostgreSQL, with workers in their own processes", SilenceUsage: true, SilenceErrors: true}
	var dir string
	root.PersistentFlags().StringVar(&dir, "dir", ".cluster", "the cluster's state directory: database, logs, state file")
	root.AddCommand(upCmd(&dir), downCmd(&dir), statusCmd(&dir), uiCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "meridian-cluster:", err)
		os.Exit(1)
	}
}

func upCmd(dir *string) *cobra.Command {
	var (
		opts     cluster.Options
		pgPort   int
		external string
		envDir   string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start PostgreSQL, the Temporal server, the Web UI and the workers, and return",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Dir = *dir
			var err error
			if opts.Boundaries, err = boundaries(opts.Spec); err != nil {
				return err
			}
			opts.Postgres.Address = "127.0.0.1:" + strconv.Itoa(pgPort)
			if external != "" {
				opts.Postgres = cluster.Postgres{Address: external, External: true, User: opts.Postgres.User, Password: os.Getenv("MERIDIAN_PG_PASSWORD")}
			}
			if opts.WorkerEnv, err = workerEnv(envDir, opts.Boundaries); err != nil {
				return err
			}
			if opts.BuildID == "" {
				if opts.BuildID, err = buildID(filepath.Join(opts.Bin, "meridian")); err != nil {
					return err
				}
			}
			c, err := cluster.Up(cmd.Context(), opts)
			if err != nil {
				return err
			}
			out, _ := cluster.Status(opts.Dir)
			fmt.Print(out)
			fmt.Printf("\nexport TEMPORAL_ADDRESS=%s  # then: bin/meridian status\nstop it with: make cluster-down\n", c.Address())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Bin, "bin", "bin", "directory of meridian, meridian-cluster, temporal-server and temporal-sql-tool")
	f.StringVar(&opts.Spec, "spec", "testdata/demo", "spec directory: one worker process per boundary it uses")
	f.IntVar(&opts.Port, "port", 7433, "the Temporal frontend's gRPC port (history, matching and worker use the next three, membership ten above)")
	f.IntVar(&opts.UIPort, "ui-port", 8433, "the Web UI's port")
	f.IntVar(&pgPort, "pg-port", 55432, "port of the PostgreSQL the cluster runs")
	f.StringVar(&external, "postgres", "", "HOST:PORT of a PostgreSQL someone else runs (password in MERIDIAN_PG_PASSWORD) instead of one of the cluster's own")
	f.StringVar(&opts.Postgres.User, "pg-user", "temporal", "PostgreSQL user")
	f.StringVar(&envDir, "env-dir", "", "directory of CLOUD-BOUNDARY.env files (KEY=VALUE lines): each boundary worker's environment, its credentials")
	f.StringVar(&opts.BuildID, "build-id", "", "the workers' build id (default: derived from the meridian binary)")
	f.StringVar(&opts.Namespace, "namespace", "default", "Temporal namespace")
	return cmd
}

func downCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster's processes and its PostgreSQL; its data stays in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cluster.DownDir(context.WithoutCancel(cmd.Context()), *dir)
		},
	}
}

func statusCmd(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say what runs where",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			out, err := cluster.Status(*dir)
			fmt.Print(out)
			return err
		},
	}
}

func uiCmd() *cobra.Command {
	var address, namespace string
	var port int
	cmd := &cobra.Command{
		Use:    "ui",
		Short:  "Serve the Temporal Web UI (the cluster's web-ui process)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cluster.ServeUI(cmd.Context(), address, namespace, port)
		},
	}
	cmd.Flags().StringVar(&address, "address", "127.0.0.1:7433", "Temporal frontend")
	cmd.Flags().StringVar(&namespace, "namespace", "default", "default namespace")
	cmd.Flags().IntVar(&port, "port", 8433, "port")
	return cmd
}

// buildID names a build of meridian by its binary's content.
func buildID(bin string) (string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("%w (make build makes it)", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// boundaries are the boundaries the spec's services use.
func boundaries(spec string) ([]placement.BoundaryRule, error) {
	s, err := placement.Load(spec)
	if err != nil {
		return nil, err
	}
	m, err := placement.Compile(s, regions.Default())
	if err != nil {
		return nil, err
	}
	return m.Boundaries, nil
}

// workerEnv reads each boundary's CLOUD-BOUNDARY.env from dir; a boundary
// without a file gets no environment of its own.
func workerEnv(dir string, rules []placement.BoundaryRule) (map[string][]string, error) {
	env := map[string][]string{}
	if dir == "" {
		return env, nil
	}
	for _, r := range rules {
		path := filepath.Join(dir, r.Cloud+"-"+r.Boundary+".env")
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if k, _, ok := strings.Cut(line, "="); !ok || k == "" {
				return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, i+1)
			}
			env[r.Cloud+"/"+r.Boundary] = append(env[r.Cloud+"/"+r.Boundary], line)
		}
	}
	return env, nil
}
