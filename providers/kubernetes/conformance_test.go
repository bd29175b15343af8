package kubernetes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { kubetest.Main(m, &env) }

// TestConformanceDeployment runs the conformance suite on Deployments.
func TestConformanceDeployment(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, newHarness("Deployment"))
}

// TestConformanceStatefulSet runs the conformance suite on StatefulSets.
func TestConformanceStatefulSet(t *testing.T) {
	t.Parallel()
	drivertest.RunConformanceTests(t, newHarness("StatefulSet"))
}

// cluster is the test cluster as a target's cell, reached through a
// proxy that can throttle.
type cluster struct {
	cfg      *rest.Config
	throttle atomic.Int64 // requests left to answer 429
}

const testCell = "test-cluster"

func (c *cluster) Config(context.Context, driver.Target) (*rest.Config, error) { return c.cfg, nil }

// newCluster starts a proxy on 127.0.0.1 in front of the test apiserver
// and returns the cluster it serves; the proxy stops with t.
func newCluster(t testing.TB) *cluster {
	target, err := url.Parse(env.Cluster.Host)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.Cluster.CA)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	c := &cluster{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.throttle.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests, Message: "throttled by the test proxy"})
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	c.cfg = &rest.Config{Host: "http://" + ln.Addr().String(), BearerToken: env.Cluster.AdminToken, QPS: 200, Burst: 400}
	return c
}

var targets atomic.Int64

// harness runs the suite's targets in namespaces of their own, each a
// workload of the demo service of one kind.
type harness struct {
	t       *testing.T
	kind    string
	cluster *cluster
	d       *Driver
	ns      string

	mu      sync.Mutex
	target  driver.Target
	healthy int // config versions SetHealth applied
}

func newHarness(kind string) drivertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
		h := &harness{t: t, kind: kind, cluster: newCluster(t), ns: env.Namespace(t)}
		d, err := New(Options{Clusters: h.cluster, EvictionTimeout: 5 * time.Second})
		h.d = d
		return h, err
	}
}

func (h *harness) Deployer(context.Context) (driver.Deployer, error) { return h.d, nil }

func (h *harness) Configurer(context.Context) (driver.Configurer, error) { return h.d, nil }

func (h *harness) Restarter(context.Context) (driver.Restarter, error) { return h.d, nil }

func (h *harness) Target(context.Context) (driver.Target, error) {
	h.target = driver.Target{Service: fmt.Sprintf("demo-%d", targets.Add(1)), Environment: "test", Cloud: "aws", Boundary: "aws",
		Region: "us-east-1", Cell: testCell}
	return h.target, nil
}

func (h *harness) Image() string { return kubetest.DemoImage }

// FailVersion needs nothing: the demo fails /healthz for any version
// containing "bad", so its pods never become ready and the rollout
// passes its progress deadline.
func (h *harness) FailVersion(driver.Target, string) {}

func (h *harness) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "healthz", HTTP: &driver.HTTPGate{Path: "/healthz"}}
}

// SetHealth sets the demo's errorRate through a config (healthy,
// unhealthy), or scales the workload to nothing, leaving no pod to probe
// (unknown).
func (h *harness) SetHealth(t driver.Target, health driver.Health) {
	ctx := context.Background()
	if health == driver.HealthUnknown {
		patch := []byte(`{"spec":{"replicas":0}}`)
		var err error
		if h.kind == "StatefulSet" {
			_, err = env.Client.AppsV1().StatefulSets(h.ns).Patch(ctx, t.Service, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
		} else {
			_, err = env.Client.AppsV1().Deployments(h.ns).Patch(ctx, t.Service, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return
	}
	rate := map[driver.Health]string{driver.Healthy: "0", driver.Unhealthy: "1"}[health]
	h.mu.Lock()
	h.healthy++
	version := fmt.Sprintf("health-%d", h.healthy)
	h.mu.Unlock()
	if _, err := h.d.ApplyConfig(ctx, driver.ConfigRequest{Target: t, Version: version, Data: []byte(`{"errorRate": ` + rate + `}`)}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) Throttle(n int) { h.cluster.throttle.Store(int64(n)) }

func (h *harness) Close() {}

// Workload is the demo service as a spec writes it: its address on the
// pod IP, its config file, a readiness probe, and a short progress
// deadline so that a bad version fails quickly.
func (h *harness) Workload(t driver.Target) []byte {
	return kubetest.DemoWorkload(h.kind, h.ns, t.Service)
}

// LiveConfigDocument reads the document of the config the live pod
// template mounts.
func (h *harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	ctx := context.Background()
	w := workload{kind: h.kind, namespace: h.ns, name: t.Service}
	live, err := getLive(ctx, env.Client, w)
	if err != nil || live == nil {
		return nil, fmt.Errorf("reading %s: %v", w, err)
	}
	ref := configOf(live)
	if ref == nil {
		return nil, fmt.Errorf("%s mounts no config", w)
	}
	if ref.Secret {
		s, err := env.Client.CoreV1().Secrets(h.ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Data[ConfigFile], nil
	}
	cm, err := env.Client.CoreV1().ConfigMaps(h.ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, err
	}
	return []byte(cm.Data[ConfigFile]), err
}
