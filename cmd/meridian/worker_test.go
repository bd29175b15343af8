package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// meridian worker polls the task queues of the boundaries it is told, and
// no other, until interrupted.
func TestWorkerServesNamedBoundaries(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the local provider's state
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	root := newRootCmd()
	root.SetArgs([]string{"worker", "--boundary", "local/eu-sovereign", "--control=false"})
	root.SetOut(out)
	root.SetErr(out)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = root.ExecuteContext(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("worker: %v\n%s", runErr, out.String())
		}
	}()

	c := steerClient(t)
	queue := placement.DefaultTaskQueue("local", "eu-sovereign")
	awaitTrue(t, 30*time.Second, "a poller on "+queue, func() bool {
		d, err := c.DescribeTaskQueue(context.Background(), queue, enums.TASK_QUEUE_TYPE_ACTIVITY)
		return err == nil && len(d.GetPollers()) > 0
	})
	awaitTrue(t, 30*time.Second, "the worker to print its queue", func() bool { return strings.Contains(out.String(), "polling "+queue) })
	if strings.Contains(out.String(), "polling "+workflows.ControlTaskQueue) || strings.Count(out.String(), "polling ") != 1 {
		t.Errorf("worker polls more than it was told:\n%s", out.String())
	}
}

// A boundary's worker runs no other boundary's activities: a us-gov
// pipeline sent to the public queue (as a spec whose us-gov taskQueue was
// the public one would have done before the spec refused it) fails on the
// public worker, which has no us-gov provider, and deploys nothing there.
func TestBoundaryWorkerRunsNoOtherBoundarysActivities(t *testing.T) {
	model, plan := steerPlan(t)
	var pls []pipelines.Pipeline
	for _, pl := range plan.Pipelines {
		if pl.Service == "catalog" {
			if pl.Boundary == "us-gov" {
				pl.TaskQueue = placement.DefaultTaskQueue("local", "public")
			}
			pls = append(pls, pl)
		}
	}
	svc := model.Services[slices.IndexFunc(model.Services, func(s placement.Service) bool { return s.Name == "catalog" })]
	change := "misrouted-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	req := workflows.ReleaseRequest{Service: "catalog", Pipelines: pls, Gates: svc.Gates,
		Change: workflows.Change{Kind: workflows.KindVersion, ID: change, Version: "9.9.9", Image: svc.Artifact.Image, Trigger: "test", Who: "test"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := steerClient(t)
	ref, _, err := workflows.StartRelease(ctx, c, req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := workflows.Outcome(ctx, c, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase == workflows.PhaseSucceeded || !strings.Contains(st.Reason, `no provider for cloud "local" boundary "us-gov"`) {
		t.Fatalf("release %s (%s): want it stopped by the public worker, which has no us-gov provider", st.Phase, st.Reason)
	}
	for _, call := range steerFake.Calls() {
		if call.Op == "deploy" && strings.Contains(call.Target, "/us-gov/") && strings.Contains(call.Arg, "9.9.9") {
			t.Errorf("a us-gov target was deployed from the public worker: %+v", call)
		}
	}
}
