package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"

	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/devserver"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// startServer writes the server's configuration into the state directory
// and starts Temporal's server command on it; it is ready once the
// namespace exists, with Meridian's search attributes, and answers.
func (c *Cluster) startServer(ctx context.Context) error {
	conf := filepath.Join(c.opts.Dir, "temporal.yaml")
	dyn := filepath.Join(c.opts.Dir, "dynamicconfig.yaml")
	if err := os.WriteFile(conf, temporalConfig, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(dyn, dynamicConfig, 0o644); err != nil {
		return err
	}
	p := &Proc{
		Name: "temporal-server",
		bin:  filepath.Join(c.opts.Bin, "temporal-server"),
		args: []string{"--config-file", conf, "--allow-no-auth", "start"},
		env: append(baseEnv(),
			"MERIDIAN_CLUSTER_PORT="+strconv.Itoa(c.opts.Port),
			"MERIDIAN_CLUSTER_PG_ADDRESS="+c.opts.Postgres.Address,
			"MERIDIAN_CLUSTER_PG_USER="+c.opts.Postgres.User,
			"MERIDIAN_CLUSTER_PG_PASSWORD="+c.opts.Postgres.Password,
			"MERIDIAN_CLUSTER_DYNAMIC_CONFIG="+dyn),
		log:   filepath.Join(c.logDir(), "temporal-server.log"),
		ready: func(ctx context.Context, _ *Proc) error { return c.serverReady(ctx) },
	}
	c.procs = append(c.procs, p)
	return p.start(ctx)
}

// serverReady waits until the frontend answers, registers the namespace
// and Meridian's search attributes if missing, and waits until the
// namespace serves task queues.
func (c *Cluster) serverReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cl client.Client
	err := Await(ctx, func() (err error) {
		cl, err = client.DialContext(ctx, client.Options{HostPort: c.Address(), Namespace: c.opts.Namespace, Logger: quiet{}})
		return err
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = cl.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        c.opts.Namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(7 * 24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", c.opts.Namespace, err)
	}
	err = Await(ctx, func() error {
		if _, err := cl.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: c.opts.Namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.ControlTaskQueue},
		}); err != nil {
			return err
		}
		return searchattr.Register(ctx, cl.OperatorService(), c.opts.Namespace, searchattr.Types())
	})
	if err != nil {
		return err
	}
	// Where meridian's commands link to.
	_, err = cl.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace:  c.opts.Namespace,
		UpdateInfo: &namespacepb.UpdateNamespaceInfo{Data: map[string]string{devserver.UIURLKey: c.UIURL()}},
	})
	return err
}

// startUI starts the Web UI, a process of meridian-cluster's own (`ui`),
// pointed at the frontend.
func (c *Cluster) startUI(ctx context.Context) error {
	p := &Proc{
		Name: "web-ui",
		bin:  filepath.Join(c.opts.Bin, "meridian-cluster"),
		args: []string{"ui", "--address", c.Address(), "--namespace", c.opts.Namespace, "--port", strconv.Itoa(c.opts.UIPort)},
		env:  baseEnv(),
		log:  filepath.Join(c.logDir(), "web-ui.log"),
		ready: func(ctx context.Context, _ *Proc) error {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			return Await(ctx, func() error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.UIURL(), nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				resp.Body.Close()
				return nil
			})
		},
	}
	c.procs = append(c.procs, p)
	return p.start(ctx)
}

// ServeUI serves the Temporal Web UI for the frontend at address on
// 127.0.0.1:port until ctx ends.
func ServeUI(ctx context.Context, address, namespace string, port int) error {
	if err := free(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "the Web UI"); err != nil {
		return err
	}
	s := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                "127.0.0.1",
		Port:                port,
		TemporalGRPCAddress: address,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}))
	errc := make(chan error, 1)
	go func() { errc <- s.Start() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		s.Stop()
		return nil
	}
}

// StartWorkers starts the workers of buildID: two control workers and one
// process per boundary, each with its boundary's environment only, and
// waits until each polls its task queues.
func (c *Cluster) StartWorkers(ctx context.Context, buildID string) error {
	suffix := ""
	if buildID != c.opts.BuildID {
		suffix = "@" + buildID
	}
	conn := []string{"--address", c.Address(), "--namespace", c.opts.Namespace}
	if buildID != "" {
		conn = append(conn, "--build-id", buildID)
	}
	if c.opts.Deployment != "" {
		conn = append(conn, "--deployment", c.opts.Deployment)
	}
	var ps []*Proc
	for i := range 2 {
		ps = append(ps, &Proc{
			Name: fmt.Sprintf("control-%d%s", i+1, suffix),
			bin:  filepath.Join(c.opts.Bin, "meridian"),
			args: append([]string{"worker", "--control-only"}, conn...),
			env:  baseEnv(),
		})
	}
	for _, b := range c.opts.Boundaries {
		name := b.Cloud + "/" + b.Boundary
		ps = append(ps, &Proc{
			Name:     "worker-" + b.Cloud + "-" + b.Boundary + suffix,
			Boundary: name,
			bin:      filepath.Join(c.opts.Bin, "meridian"),
			args:     append([]string{"worker", "--spec", c.opts.Spec, "--boundary", name, "--control=false"}, conn...),
			// Its own state (the local cloud's processes): XDG_STATE_HOME.
			env: append(append(baseEnv(), "XDG_STATE_HOME="+filepath.Join(c.opts.Dir, "state", b.Cloud+"-"+b.Boundary)), c.opts.WorkerEnv[name]...),
		})
	}
	for _, p := range ps {
		p.log = filepath.Join(c.logDir(), strings.ReplaceAll(p.Name, "@", "-")+".log")
		queue := workflows.ControlTaskQueue
		for _, b := range c.opts.Boundaries {
			if p.Boundary == b.Cloud+"/"+b.Boundary {
				queue = b.TaskQueue
			}
		}
		p.ready = func(ctx context.Context, p *Proc) error { return c.polling(ctx, p, queue) }
		c.procs = append(c.procs, p)
		if err := p.start(ctx); err != nil {
			return err
		}
	}
	return c.save()
}

// polling waits until the process polls queue.
func (c *Cluster) polling(ctx context.Context, p *Proc, queue string) error {
	return Polling(ctx, c.Address(), c.opts.Namespace, queue, p.Pid())
}

// Polling waits until the process pid polls queue for workflow and
// activity tasks: a poller whose identity starts with its pid.
func Polling(ctx context.Context, address, namespace, queue string, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cl client.Client
	err := Await(ctx, func() (err error) {
		cl, err = client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: quiet{}})
		return err
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	prefix := strconv.Itoa(pid) + "@"
	return Await(ctx, func() error {
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := cl.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace: namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: queue}, TaskQueueType: typ,
			})
			if err != nil {
				return err
			}
			found := false
			for _, poller := range resp.GetPollers() {
				found = found || strings.HasPrefix(poller.GetIdentity(), prefix)
			}
			if !found {
				return fmt.Errorf("no poller of pid %d on %s yet", pid, queue)
			}
		}
		return nil
	})
}

// Await calls f every 200 ms until it succeeds or ctx ends, returning
// f's last error.
func Await(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// quiet is an SDK logger that drops everything: the cluster's own dials
// retry until the server answers.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
