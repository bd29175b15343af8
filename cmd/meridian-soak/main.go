// Command meridian-soak runs many releases at once through Meridian in
// its production shape (cmd/internal/cluster: Temporal's server on
// PostgreSQL, worker processes per boundary) or, with --dev, through one
// `meridian dev` process, while a fault loop kills workers, restarts the
// Temporal server and PostgreSQL, throttles the clouds, answers 5xx and
// lets requests time out, and upgrades the workers' build once. Then it
// checks, from the fake clouds' own state and the histories, that nothing
// was lost, mixed, deployed twice, left running, run outside its
// boundary or leaked, and prints one summary line. `make soak` and
// `make soak-dev` run it.
//
// The fleet is a generated spec of --services services on AWS's four
// boundaries (public, us-gov, china, eu-sovereign), three cells per region,
// each boundary's endpoint a fake of its own (package providers/fakecloud)
// reached by the real SDK with that boundary's credentials only. Every
// wave is a spec commit that bumps every service's version, applied with
// `meridian apply`; some versions are bad: their tasks never start, or
// their alarm fires. The first wave runs without faults: the baseline of
// the release times.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the soak's flags.
type options struct {
	dir      string
	bin      string
	dev      bool
	services int
	duration time.Duration
	every    time.Duration
	port     int
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".soak", "state directory: the cluster's or dev's state, the spec, logs")
	flag.StringVar(&o.bin, "bin", "bin", "directory of meridian, meridian-cluster, temporal-server, temporal-sql-tool")
	flag.BoolVar(&o.dev, "dev", false, "soak one `meridian dev` process (SQLite) instead of the cluster")
	flag.IntVar(&o.services, "services", 62, "services, one release each per wave (33 targets each)")
	flag.DurationVar(&o.duration, "for", 10*time.Minute, "how long the soak runs: the baseline wave, then waves under faults until this is spent (at least two)")
	flag.DurationVar(&o.every, "fault-every", 15*time.Second, "time between two faults")
	flag.IntVar(&o.port, "port", 7533, "the Temporal frontend's port (the Web UI's is 1000 above, PostgreSQL's 55532)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "meridian-soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	o.dir = dir
	s, err := newSoak(o)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.start(ctx); err != nil {
		return err
	}
	defer s.stop()
	deadline := time.Now().Add(o.duration)
	s.logf("baseline wave: %d releases, no faults", o.services)
	if err := s.wave(ctx, false); err != nil {
		return err
	}
	for i := 0; i < 2 || time.Now().Before(deadline); i++ {
		s.logf("wave %d under faults", i+1)
		if err := s.wave(ctx, true); err != nil {
			return err
		}
		if i == 0 && s.cluster != nil {
			// The releases pinned to the first build have ended: retire it.
			s.retireOldBuild()
		}
	}
	r := s.check(ctx)
	fmt.Println(r.summary())
	if !r.ok() {
		return fmt.Errorf("the soak found problems (above); logs in %s", s.opts.dir)
	}
	return nil
}
