package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"

	"github.com/meridian-deploy/meridian/providers/local"
)

// isolationSpec is web on the public and us-gov boundaries of the local
// cloud; isolationPublicSpec the same fleet without us-gov, which the
// `meridian dev` of the test serves.
const (
	isolationSpec = `package fleet

environments: prod: local: regions: ["us-east-1", "us-gov-west-1"]
pipelines: quick: stages: [{name: "prod", environment: "prod"}]
services: web: {
	owner: "web"
	artifact: image: "localhost/meridian-demo"
	pipeline: "quick"
	placement: {clouds: ["local"], boundaries: ["public", "us-gov"]}
	instances: 1
	health: gates: [{http: path: "/healthz", interval: "1s"}]
}
`
	isolationPublicSpec = `package fleet

environments: prod: local: regions: ["us-east-1"]
pipelines: quick: stages: [{name: "prod", environment: "prod"}]
services: web: {
	owner: "web"
	artifact: image: "localhost/meridian-demo"
	pipeline: "quick"
	placement: {clouds: ["local"], boundaries: ["public"]}
	instances: 1
	health: gates: [{http: path: "/healthz", interval: "1s"}]
}
`
)

// Sovereign isolation across processes: with only the public worker up
// (meridian dev, serving the control queue and local/public), a release's
// us-gov pipeline waits, its status saying that no worker polls its queue,
// instead of running anywhere else; once a `meridian worker` for us-gov
// alone runs in a process of its own, the release finishes, and every
// us-gov activity ran on that process.
func TestSovereignIsolationAcrossProcesses(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	spec, public := filepath.Join(dir, "spec"), filepath.Join(dir, "public")
	for d, content := range map[string]string{spec: isolationSpec, public: isolationPublicSpec} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "fleet.cue"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, govState := filepath.Join(dir, "state", "dev.db"), filepath.Join(dir, "gov-state")
	stopFleetAtEnd(t, db)
	t.Cleanup(func() {
		if p, err := local.New(&local.Options{StateDir: filepath.Join(govState, "meridian", "local"), BinDir: t.TempDir()}); err == nil {
			_ = p.Close()
		}
	})
	d := startDev(t, bin, db, "--spec", public)

	id := rollout(t, bin, d, spec, "v1", "isolation", false)
	status := func() string {
		out, _ := exec.Command(filepath.Join(bin, "meridian"), "status", id, "--address", d.addr).CombinedOutput()
		return string(out)
	}
	awaitTrue(t, time.Minute, "the us-gov pipeline to say no worker polls its queue", func() bool {
		return strings.Contains(status(), "no worker polls task queue meridian-local-us-gov")
	})
	govPipeline := id + "/local/us-gov"
	if n := historyLength(t, d, govPipeline); n > 3 {
		t.Errorf("the us-gov pipeline's history has %d events: something ran it without a us-gov worker", n)
	}

	worker := exec.Command(filepath.Join(bin, "meridian"), "worker", "--spec", spec, "--boundary", "local/us-gov", "--control=false", "--address", d.addr)
	worker.Env = append(os.Environ(), "XDG_STATE_HOME="+govState)
	out := &syncBuffer{}
	worker.Stdout, worker.Stderr = out, out
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = worker.Process.Signal(os.Interrupt)
		_ = worker.Wait()
	})
	if got := rollout(t, bin, d, spec, "v1", "isolation", true); got != id {
		t.Fatalf("the same rollout again is %s, want %s", got, id)
	}
	prefix := strconv.Itoa(worker.Process.Pid) + "@"
	activities := 0
	for _, e := range history(t, d, govPipeline) {
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			activities++
			if !strings.HasPrefix(a.GetIdentity(), prefix) {
				t.Errorf("a us-gov activity ran on %s, not on the us-gov worker (%s…)", a.GetIdentity(), prefix)
			}
		}
	}
	if activities == 0 {
		t.Errorf("no activity in the us-gov pipeline's history; the worker said:\n%s", out.String())
	}
}

func history(t *testing.T, d *devProcess, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := d.client.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

func historyLength(t *testing.T, d *devProcess, id string) int { return len(history(t, d, id)) }
