// Command meridian-demo is the demo service the local provider runs: a small
// HTTP server that reports its version and config, serves /healthz (failing
// whenever its version contains "bad" or its config sets errorRate), and
// holds shards of a keyed in-memory cache behind the HTTP drain protocol
// (docs/drain-protocol.md).
//
//	meridian-demo --addr 127.0.0.1:8080 --version v1 --config config.json --instance i1
//
// It re-reads its config file on SIGHUP and whenever the file changes, and
// exits cleanly on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	fs := flag.NewFlagSet("meridian-demo", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to serve on (127.0.0.1 only)")
	fs.StringVar(&o.version, "version", "dev", "version this instance reports")
	fs.StringVar(&o.config, "config", "", "JSON config file, re-read on SIGHUP and when it changes")
	fs.StringVar(&o.instance, "instance", "", "instance id this process reports")
	fs.DurationVar(&o.loadCost, "load-cost", 5*time.Millisecond, "simulated cost of loading a cache miss")
	fs.DurationVar(&o.reload, "reload-interval", 100*time.Millisecond, "how often the config file is checked for changes")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "meridian-demo:", err)
		os.Exit(1)
	}
}

type options struct {
	addr, version, config, instance string
	loadCost, reload                time.Duration
}

func run(o options) error {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", o.addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--addr %q: bind to a loopback address such as 127.0.0.1", o.addr)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	s := newServer(o.instance, o.version, o.config, o.loadCost)
	s.reloadConfig()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go s.watchConfig(ctx, hup, o.reload)

	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("instance %s version %s serving on http://%s", o.instance, o.version, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Well inside the 5s its provider (or kubelet) waits before SIGKILL,
	// so that a stop is always clean.
	const grace = 2 * time.Second
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	switch err := srv.Shutdown(shutdown); {
	case errors.Is(err, context.DeadlineExceeded):
		// A connection that never finished its request (a probe dialled
		// as the instance stopped) holds Shutdown until it gives up.
		_ = srv.Close()
		log.Printf("instance %s closed the connections still open after %s", o.instance, grace)
	case err != nil && !errors.Is(err, http.ErrServerClosed):
		return err
	}
	log.Printf("instance %s stopped", o.instance)
	return nil
}
