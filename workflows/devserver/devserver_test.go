package devserver_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/meridian-deploy/meridian/workflows/devserver"
)

const taskQueue = "devserver-test"

// waitForGo blocks until the "go" signal and returns its value.
func waitForGo(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return "done " + v, nil
}

func start(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Address(), Namespace: s.Namespace(), Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(waitForGo)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

// A workflow started before a stop finishes after a start on the same file,
// and the namespace keeps its retention and search attributes.
func TestRestartResumesWorkflows(t *testing.T) {
	db := filepath.Join(t.TempDir(), "state", "dev.db")
	attrs := map[string]enumspb.IndexedValueType{
		"MeridianService": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"MeridianPhase":   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	ctx := context.Background()

	s := start(t, devserver.Options{DBFile: db, NoUI: true, Namespace: "meridian", SearchAttributes: attrs})
	c := dial(t, s)
	w := runWorker(t, c)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "release/demo/1", TaskQueue: taskQueue}, waitForGo)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the worker has run the first workflow task, so that the
	// workflow is really mid-flight when the server stops.
	waitFor(t, func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), "")
		return err == nil && d.WorkflowExecutionInfo.HistoryLength >= 4
	})
	w.Stop()
	c.Close()
	s.Stop()

	s = start(t, devserver.Options{DBFile: db, NoUI: true, Namespace: "meridian", SearchAttributes: attrs})
	defer s.Stop()
	c = dial(t, s)
	defer c.Close()
	defer runWorker(t, c).Stop()
	if err := c.SignalWorkflow(ctx, "release/demo/1", "", "go", "after restart"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := c.GetWorkflow(ctx, "release/demo/1", "").Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "done after restart" {
		t.Errorf("result %q, want %q", got, "done after restart")
	}

	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "meridian"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Config.WorkflowExecutionRetentionTtl.AsDuration(); got != devserver.DefaultRetention {
		t.Errorf("retention %v, want %v", got, devserver.DefaultRetention)
	}
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "meridian"})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range attrs {
		if sa.CustomAttributes[name] != typ {
			t.Errorf("search attribute %s is %v, want %v", name, sa.CustomAttributes[name], typ)
		}
	}
}

// Search attributes added to Options after the database was created are
// registered on the next start.
func TestStartAddsNewSearchAttributes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "dev.db")
	s := start(t, devserver.Options{DBFile: db, NoUI: true})
	s.Stop()
	s = start(t, devserver.Options{DBFile: db, NoUI: true, SearchAttributes: map[string]enumspb.IndexedValueType{"MeridianTrigger": enumspb.INDEXED_VALUE_TYPE_KEYWORD}})
	defer s.Stop()
	c := dial(t, s)
	defer c.Close()
	sa, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	if sa.CustomAttributes["MeridianTrigger"] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Errorf("MeridianTrigger not registered: %v", sa.CustomAttributes)
	}
}

// The Web UI serves its pages and proxies the API to the embedded server.
func TestWebUI(t *testing.T) {
	s := start(t, devserver.Options{Namespace: "meridian"})
	defer s.Stop()
	if !strings.HasPrefix(s.UIURL(), "http://127.0.0.1:") {
		t.Fatalf("UI URL %q is not on 127.0.0.1", s.UIURL())
	}
	var resp *http.Response
	waitFor(t, func() bool {
		r, err := http.Get(s.UIURL() + "/api/v1/namespaces")
		if err != nil {
			return false
		}
		resp = r
		return true
	})
	defer resp.Body.Close()
	var body struct {
		Namespaces []struct {
			NamespaceInfo struct{ Name string } `json:"namespaceInfo"`
		} `json:"namespaces"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/namespaces: status %d, %v", resp.StatusCode, err)
	}
	found := false
	for _, ns := range body.Namespaces {
		found = found || ns.NamespaceInfo.Name == "meridian"
	}
	if !found {
		t.Errorf("namespace meridian not listed by the UI API: %+v", body.Namespaces)
	}
	// Clients find the UI in the namespace's data.
	c := dial(t, s)
	defer c.Close()
	desc, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "meridian"})
	if got := desc.GetNamespaceInfo().GetData()[devserver.UIURLKey]; err != nil || got != s.UIURL() {
		t.Errorf("namespace data %s = %q (%v), want %q", devserver.UIURLKey, got, err, s.UIURL())
	}
	page, err := http.Get(s.UIURL() + "/namespaces/meridian/workflows")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Errorf("UI page: status %d, content type %q", page.StatusCode, page.Header.Get("Content-Type"))
	}
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opts devserver.Options
		want string
	}{
		{"grpc port in use", devserver.Options{Port: busyPort, NoUI: true}, "gRPC port " + strconv.Itoa(busyPort) + " on 127.0.0.1 is already in use"},
		{"ui port in use", devserver.Options{UIPort: busyPort}, "Web UI port " + strconv.Itoa(busyPort) + " on 127.0.0.1 is already in use"},
		{"db under a file", devserver.Options{DBFile: filepath.Join(file, "dev.db"), NoUI: true}, "cannot be opened for writing: not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := devserver.Start(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartRefusesOnePortForServerAndUI(t *testing.T) {
	_, err := devserver.Start(context.Background(), devserver.Options{Port: 7412, UIPort: 7412})
	if err == nil || err.Error() != "the gRPC and Web UI ports are both 7412: give each its own" {
		t.Fatalf("Start with one port for both: %v", err)
	}
}
