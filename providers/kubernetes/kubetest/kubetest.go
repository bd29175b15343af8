// Package kubetest gives a test package one real Kubernetes cluster on
// this machine: package kubelocal's control plane with package
// processnode's node, which runs pods of the image local/meridian-demo
// as meridian-demo processes (built once by Start). A package starts it in
// TestMain and shares it; each test works in namespaces of its own.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/processnode"
)

// NoRightsToken authenticates a user the cluster grants nothing: every
// request it makes is forbidden.
const NoRightsToken = "meridian-test-no-rights"

// DemoImage is the image of the demo service, which the node runs as
// meridian-demo.
const DemoImage = "local/meridian-demo"

// Env is a running cluster and its node.
type Env struct {
	Cluster *kubelocal.Cluster
	Node    *processnode.Node
	// Client is an admin client of the cluster.
	Client kubernetes.Interface
	// Dir holds the cluster's files (logs, certificates, pod directories).
	Dir string
	// BinDir holds meridian-demo.
	BinDir string

	namespaces atomic.Int64
}

// Start builds meridian-demo, starts the control plane and the node. The
// caller stops them with Stop; on error nothing runs.
func Start(opts kubelocal.Options) (env *Env, err error) {
	dir, err := os.MkdirTemp("", "meridian-kube")
	if err != nil {
		return nil, err
	}
	env = &Env{Dir: dir, BinDir: filepath.Join(dir, "bin")}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	build := exec.Command("go", "build", "-o", filepath.Join(env.BinDir, "meridian-demo"), "github.com/meridian-deploy/meridian/cmd/meridian-demo")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building meridian-demo: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts.Dir = filepath.Join(dir, "cluster")
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	if env.Cluster, err = kubelocal.Start(ctx, opts); err != nil {
		return nil, err
	}
	if env.Client, err = kubernetes.NewForConfig(env.Cluster.Config(env.Cluster.AdminToken)); err != nil {
		return nil, err
	}
	nodeDir := filepath.Join(dir, "node")
	if err := os.MkdirAll(nodeDir, 0o700); err != nil {
		return nil, err
	}
	env.Node, err = processnode.Run(ctx, env.Client, processnode.Options{Dir: nodeDir, BinDir: env.BinDir})
	return env, err
}

// Stop stops the node's pods, the node and the control plane, and
// removes their files unless KEEP_KUBE is set (to read the logs).
func (e *Env) Stop() {
	if e.Node != nil {
		e.Node.Stop()
	}
	if e.Cluster != nil {
		e.Cluster.Stop()
	}
	if os.Getenv("KEEP_KUBE") == "" {
		os.RemoveAll(e.Dir)
	} else {
		fmt.Fprintln(os.Stderr, "kubetest: cluster files kept in", e.Dir)
	}
}

// Namespace creates a namespace for t, named after it, and deletes it
// when t ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.Trim(strings.ToLower(nonName.Replace(t.Name())), "-")
	name = fmt.Sprintf("%.40s-%d", name, e.namespaces.Add(1))
	ctx := context.Background()
	if _, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = e.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}) })
	return name
}

var nonName = strings.NewReplacer("/", "-", "_", "-", " ", "-", ".", "-")

// Main runs a test package's tests with env set to a shared cluster.
func Main(m *testing.M, env **Env) {
	e, err := Start(kubelocal.Options{Tokens: map[string]kubelocal.User{NoRightsToken: {Name: "no-rights"}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubetest:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Stop()
	os.Exit(code)
}
