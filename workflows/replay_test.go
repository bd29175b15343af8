package workflows

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

var record = flag.Bool("record", false, "record the histories in testdata/histories from a real run")

// TestRecordHistories refreshes testdata/histories with -record: a release
// with two boundaries, bake rounds, an approval, continue-as-new and a gate
// failure in the lagged boundary that rolls both back.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("run with -record to refresh testdata/histories")
	}
	ctx := withTimeout(t)
	pub, gov := newBoundary(t, "record-aws", nil), newBoundary(t, "record-gov", nil)
	one, two := stg("one", prodA), stg("two", prodB)
	one.Bake, two.Approval = placement.Duration(1500*time.Millisecond), true
	govPl := pipe("aws-us-gov", "automatic", stg("gov", govA))
	govPl.After, govPl.Lag = []string{"aws"}, placement.Duration(100*time.Millisecond)
	req := e2eRequest("recorded", "c1", map[string]*boundary{"aws": pub, "aws-us-gov": gov}, pipe("aws", "automatic", one, two), govPl)
	req.Gates[0].Interval = placement.Duration(500 * time.Millisecond)
	req.MaxHistory = 30
	gov.fake.SetFaults(targetsOf(req.Pipelines[1])[0], fake.Faults{Health: driver.Unhealthy})
	ref, _, err := StartRelease(ctx, tc, req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "approval", phaseIs(t, ctx, ref, PhaseAwaitingApproval))
	if _, err := Approve(ctx, tc, ref.ID, Request{Who: "recorder", Reason: "recorded run"}); err != nil {
		t.Fatal(err)
	}
	st, err := Watch(ctx, tc, ref.ID, 20*time.Millisecond, nil)
	if err != nil || st.Phase != PhaseRolledBack {
		t.Fatalf("outcome %s (%s), %v", st.Phase, st.Reason, err)
	}
	for _, id := range []string{ref.ID, ref.ID + "/aws/aws", ref.ID + "/aws/aws-us-gov", LockID("recorded")} {
		desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		first, last := desc.GetWorkflowExecutionInfo().GetFirstRunId(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		writeHistory(t, ctx, id, first, "")
		if last != first {
			writeHistory(t, ctx, id, last, "#last")
		}
	}
}

// historyDir holds recorded histories, one file per workflow run, named
// after the workflow ID with "/" written "~" (the replayer needs the ID:
// child IDs derive from it), "#last" marking a run after continue-as-new.
var historyDir = filepath.Join("..", "testdata", "histories")

func writeHistory(t *testing.T, ctx context.Context, workflowID, runID, suffix string) {
	t.Helper()
	path := filepath.Join(historyDir, strings.ReplaceAll(workflowID, "/", "~")+suffix+".json")
	var events []*historypb.HistoryEvent
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s: %d events", path, len(events))
}

// TestReplayRecordedHistories fails when a change to workflow code is not
// compatible with the recorded histories (guard it with workflow.GetVersion).
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(historyDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories (%v): run go test ./workflows -run TestRecordHistories -record", err)
	}
	slices.Sort(files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			hist, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".json"), "#")
			id := strings.ReplaceAll(name, "~", "/")
			replayer := worker.NewWorkflowReplayer()
			RegisterWorkflows(replayer)
			if err := replayer.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "recorded"},
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
