package main

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// meridian dev runs the server, the Web UI and the workers, and stops on
// cancel; a busy port is one clear error.
func TestDev(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	root := newRootCmd()
	root.SetArgs([]string{"dev", "--ephemeral", "--port", "0", "--ui-port", "0", "--spec", steerSpec})
	root.SetOut(out)
	root.SetErr(out)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = root.ExecuteContext(ctx) })

	awaitTrue(t, 30*time.Second, "meridian dev to be ready", func() bool { return strings.Contains(out.String(), "Press Ctrl-C") })
	ui := regexp.MustCompile(`Web UI\s+(http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	grpcAddr := regexp.MustCompile(`Temporal\s+(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if ui == nil || grpcAddr == nil || !strings.Contains(out.String(), "meridian-control, meridian-local-public, meridian-local-us-gov") {
		cancel()
		wg.Wait()
		t.Fatalf("dev output:\n%s", out.String())
	}
	resp, err := http.Get(ui[1] + "/api/v1/namespaces/default")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Web UI API: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Its port is taken now: a second dev says so in one line.
	_, port, _ := net.SplitHostPort(grpcAddr[1])
	busy := meridian(t, "dev", "--ephemeral", "--port", port, "--ui-port", "0")
	if busy.code != 1 || !strings.Contains(busy.err.Error(), "port "+port+" on 127.0.0.1 is already in use") {
		t.Errorf("busy port: exit %d, %v", busy.code, busy.err)
	}

	cancel()
	wg.Wait()
	if runErr != nil || !strings.Contains(out.String(), "Stopping") {
		t.Errorf("dev after cancel: %v\n%s", runErr, out.String())
	}
	if r := meridian(t, "dev", "--ephemeral", "--spec", "testdata/none"); r.code != 1 || !strings.Contains(r.err.Error(), "testdata/none") {
		t.Errorf("missing spec: exit %d, %v", r.code, r.err)
	}
}
