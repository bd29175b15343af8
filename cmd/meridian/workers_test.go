package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/fake"
	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/devserver"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// TestWorkerVersioningKeepsAReleaseOnItsBuild upgrades versioned workers
// while a release waits for approval: the first build becomes current by
// itself, `meridian workers use` makes the second current, a release
// started then runs on the second, and the waiting one finishes on the
// first, every workflow task of it. It runs on a server of its own: a
// current version of a deployment takes its task queues from unversioned
// workers, which the package's other tests use.
func TestWorkerVersioningKeepsAReleaseOnItsBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{NoUI: true, Namespace: "versioning", SearchAttributes: searchattr.Types()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := []string{"--address", srv.Address(), "--namespace", srv.Namespace()}
	cli := func(args ...string) string {
		t.Helper()
		r := meridian(t, append(args, conn...)...)
		if r.code != 0 {
			t.Fatalf("meridian %s: exit %d, %v:\n%s", strings.Join(args, " "), r.code, r.err, r.out)
		}
		return r.out
	}
	rules, err := (&workerOptions{spec: steerSpec}).served(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set := providers.NewSet()
	for _, r := range rules {
		set.Add(r.Cloud, r.Boundary, providers.New(fake.New(nil), nil))
	}
	start := func(build string) string {
		t.Helper()
		v := worker.WorkerDeploymentVersion{DeploymentName: defaultDeployment, BuildID: build}
		ws, err := startWorkers(c, rules, set, true, v)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopWorkers(ws) })
		said, err := joinDeployment(ctx, c, v, queues(ws))
		if err != nil {
			t.Fatal(err)
		}
		return said
	}
	awaitPhase := func(release string, phase workflows.Phase) {
		t.Helper()
		for {
			st, err := workflows.ReleaseStatus(ctx, c, release)
			if err == nil && st.Phase == phase {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %s, %v; want %s", release, st.Phase, err, phase)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	if said := start("build-a"); said != " (current: the deployment's first)" {
		t.Fatalf("the first build: %q", said)
	}
	cli("rollout", steerSpec, "--service", "billing", "--version", "v2", "--change-id", "pinned")
	awaitPhase("release/billing/pinned", workflows.PhaseAwaitingApproval)

	if said := start("build-b"); !strings.Contains(said, "not current: build-a is; make this one current with meridian workers use build-b") {
		t.Fatalf("the second build: %q", said)
	}
	if out := cli("workers", "use", "build-b"); !strings.Contains(out, "build build-b of meridian is current (was build-a)") {
		t.Fatalf("workers use:\n%s", out)
	}
	cli("rollout", steerSpec, "--service", "api", "--version", "v2", "--change-id", "upgraded", "--wait")
	cli("approve", "release/billing/pinned", "--reason", "after the upgrade")
	awaitPhase("release/billing/pinned", workflows.PhaseSucceeded)

	for release, build := range map[string]string{
		"release/billing/pinned":              "build-a",
		"release/billing/pinned/local/public": "build-a",
		"release/api/upgraded":                "build-b",
		"release/api/upgraded/local/us-gov":   "build-b",
	} {
		it := c.GetWorkflowHistory(ctx, release, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		n := 0
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("%s: %v", release, err)
			}
			if a := ev.GetWorkflowTaskCompletedEventAttributes(); a != nil {
				n++
				if got := a.GetDeploymentVersion().GetBuildId(); got != build {
					t.Errorf("%s: a workflow task completed by %q, want %s", release, got, build)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no workflow task", release)
		}
	}
	if out := cli("workers"); !strings.Contains(out, "build-b") || !strings.Contains(out, "current") || !strings.Contains(out, "build-a") {
		t.Errorf("workers:\n%s", out)
	}
}
