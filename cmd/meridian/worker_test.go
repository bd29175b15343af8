package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

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
