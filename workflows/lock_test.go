package workflows

import (
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// TestEndToEndLockStartsARequestThatArrivesAsItEnds: an enqueue signal
// that reaches an idle lock in the same workflow task as the firing of its
// idle timer starts its release, and the lock does not end with it unheard
// (the soak found an apply whose release of one service was never
// started). The lock runs on a queue of its own whose worker is stopped
// while the timer fires and the signal arrives, so that the next worker
// gets both in one task.
func TestEndToEndLockStartsARequestThatArrivesAsItEnds(t *testing.T) {
	ctx := withTimeout(t)
	defer func(d time.Duration) { lockIdle = d }(lockIdle)
	lockIdle = 2 * time.Second
	const service, queue = "e2e-lock-race", "e2e-lock-race"
	b := newBoundary(t, "e2e-lock-race-aws", nil)
	startWorker := func() worker.Worker {
		w := worker.New(tc, queue, worker.Options{})
		Register(w, &Activities{})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	enqueue := func(change string) {
		req := e2eRequest(service, change, map[string]*boundary{"aws": b}, pipe("aws", "automatic", stg("one", prodA)))
		req.Queue = true
		_, err := tc.SignalWithStartWorkflow(ctx, LockID(service), signalEnqueue, req,
			client.StartWorkflowOptions{TaskQueue: queue}, LockWorkflowName, service)
		if err != nil {
			t.Fatal(err)
		}
	}
	ended := func(change string) Status {
		t.Helper()
		waitFor(t, ctx, "release "+change+" to start", func() bool {
			_, err := tc.DescribeWorkflowExecution(ctx, ReleaseID(service, change), "")
			return err == nil
		})
		st, err := Watch(ctx, tc, ReleaseID(service, change), 20*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	w := startWorker()
	enqueue("r-c1")
	if st := ended("r-c1"); st.Phase != PhaseSucceeded {
		t.Fatalf("r-c1: %s", st.Phase)
	}
	w.Stop()
	waitFor(t, ctx, "the idle timer to fire", func() bool {
		it := tc.GetWorkflowHistory(ctx, LockID(service), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		fired := false
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return false
			}
			fired = ev.GetEventType() == enums.EVENT_TYPE_TIMER_FIRED
		}
		return fired // the last event: no worker has taken the task yet
	})
	enqueue("r-c2")
	defer startWorker().Stop()
	if st := ended("r-c2"); st.Phase != PhaseSucceeded {
		t.Fatalf("r-c2, enqueued as the lock's idle timer fired: %s", st.Phase)
	}
}
