// Package kubetest gives a test package one real Kubernetes cluster on
// this machine: package kubelocal's control plane with package
// processnode's node, which runs pods of the image local/meridian-demo
// as meridian-demo processes (built once by Start). A package starts it in
// TestMain and shares it; each test works in namespaces of its own.
package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

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
	webhook    *http.Server
}

// Options configure Start.
type Options struct {
	// Tokens are static bearer tokens and the users they authenticate.
	Tokens map[string]kubelocal.User
	// Authenticate, when set, is the apiserver's token review webhook for
	// the tokens Tokens does not know (the cloud fakes' EKS, AKS and GKE
	// tokens): it returns the token's user, or an error for a token it
	// refuses.
	Authenticate func(ctx context.Context, token string) (kubelocal.User, error)
}

// Start builds meridian-demo, starts the control plane and the node. The
// caller stops them with Stop; on error nothing runs.
func Start(o Options) (env *Env, err error) {
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
	opts := kubelocal.Options{Dir: filepath.Join(dir, "cluster"), Tokens: o.Tokens}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	if o.Authenticate != nil {
		if opts.TokenWebhook, err = env.serveTokenReviews(o.Authenticate); err != nil {
			return nil, err
		}
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

// serveTokenReviews serves the apiserver's token review webhook on
// 127.0.0.1 with authenticate and returns the webhook's kubeconfig file.
func (e *Env) serveTokenReviews(authenticate func(context.Context, string) (kubelocal.User, error)) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	e.webhook = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		user, err := authenticate(r.Context(), review.Spec.Token)
		review.Status = authenticationv1.TokenReviewStatus{Authenticated: err == nil}
		if err != nil {
			review.Status.Error = err.Error()
		} else {
			review.Status.User = authenticationv1.UserInfo{Username: user.Name, Groups: user.Groups}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})}
	go func() { _ = e.webhook.Serve(ln) }()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["webhook"] = &clientcmdapi.Cluster{Server: "http://" + ln.Addr().String() + "/authenticate"}
	cfg.AuthInfos["apiserver"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["webhook"] = &clientcmdapi.Context{Cluster: "webhook", AuthInfo: "apiserver"}
	cfg.CurrentContext = "webhook"
	path := filepath.Join(e.Dir, "token-webhook.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
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
	if e.webhook != nil {
		e.webhook.Close()
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
	e, err := Start(Options{Tokens: map[string]kubelocal.User{NoRightsToken: {Name: "no-rights"}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubetest:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	e.Stop()
	os.Exit(code)
}

// DemoWorkload is the demo service as a spec writes its workload, JSON: it
// serves on the pod IP, reads the config Meridian mounts, is ready when
// /healthz answers, and has a short progress deadline (8s) so that a bad
// version fails quickly.
func DemoWorkload(kind, namespace, name string) []byte {
	container := map[string]any{
		"name": "demo",
		"args": []string{"--addr=$(POD_IP):8080", "--version=$(MERIDIAN_VERSION)", "--instance=$(POD_NAME)", "--config=/etc/meridian/config.json"},
		"env": []map[string]any{
			{"name": "POD_IP", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "status.podIP"}}},
			{"name": "POD_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}},
		},
		"ports":          []map[string]any{{"name": "http", "containerPort": 8080}},
		"readinessProbe": map[string]any{"periodSeconds": 1, "httpGet": map[string]any{"path": "/healthz", "port": "http"}},
	}
	spec := map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{container}, "terminationGracePeriodSeconds": 5}}}
	meta := map[string]any{"namespace": namespace, "name": name}
	if kind == "Deployment" {
		spec["progressDeadlineSeconds"] = 8
	} else {
		meta["annotations"] = map[string]any{"meridian.dev/progress-deadline": "8s"}
		spec["podManagementPolicy"] = "Parallel"
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec})
	return b
}
