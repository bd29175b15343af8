package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
	"github.com/meridian-deploy/meridian/workflows"
)

// kubeClusters are the package's Kubernetes clusters, three real control
// planes with a process node each, started by the first test that needs
// them and stopped after the package's tests.
var kubeClusters struct {
	once sync.Once
	envs map[string]*kubetest.Env // by kubeconfig context
	err  error
}

var kubeContexts = []string{"cluster-a", "cluster-b", "cluster-gov"}

func clusters(t *testing.T) map[string]*kubetest.Env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Kubernetes control planes")
	}
	kubeClusters.once.Do(func() {
		envs := make([]*kubetest.Env, len(kubeContexts))
		errs := make([]error, len(kubeContexts))
		var wg sync.WaitGroup
		for i := range kubeContexts {
			wg.Go(func() { envs[i], errs[i] = kubetest.Start(kubetest.Options{}) })
		}
		wg.Wait()
		kubeClusters.envs = map[string]*kubetest.Env{}
		for i, name := range kubeContexts {
			if envs[i] != nil {
				kubeClusters.envs[name] = envs[i]
			}
			if errs[i] != nil && kubeClusters.err == nil {
				kubeClusters.err = errs[i]
			}
		}
	})
	if kubeClusters.err != nil {
		t.Fatal(kubeClusters.err)
	}
	return kubeClusters.envs
}

func stopKubeClusters() {
	for _, e := range kubeClusters.envs {
		e.Stop()
	}
}

// writeKubeconfig writes a kubeconfig with a context per cluster.
func writeKubeconfig(t *testing.T, envs map[string]*kubetest.Env, path string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, e := range envs {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: e.Cluster.Host, CertificateAuthorityData: e.Cluster.CA}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: e.Cluster.AdminToken}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// kubeSpec is web on three clusters: two in the public boundary's
// us-east-1, one in us-gov, as a Deployment of the demo service.
const kubeSpec = `package fleet

environments: prod: local: {
	regions: ["us-east-1", "us-gov-west-1"]
	cells: {"us-east-1": ["cluster-a", "cluster-b"], "us-gov-west-1": ["cluster-gov"]}
}
boundaries: local: {
	public: {runtime: "kubernetes", provider: kubeconfig: "KUBECONFIG"}
	"us-gov": {runtime: "kubernetes", provider: kubeconfig: "KUBECONFIG"}
}
pipelines: quick: stages: [{name: "prod", environment: "prod", maxParallel: 3}]
services: web: {
	owner: "web"
	artifact: image: "localhost/meridian-demo"
	pipeline: "quick"
	placement: {clouds: ["local"], boundaries: ["public", "us-gov"]}
	instances: 2
	health: gates: [{workload: {}, interval: "1s"}, {http: path: "/healthz", interval: "1s"}]
	kubernetes: workload: spec: {
		progressDeadlineSeconds: 10
		template: spec: {
			terminationGracePeriodSeconds: 5
			containers: [{
				name: "web"
				args: ["--addr=$(POD_IP):8080", "--version=$(MERIDIAN_VERSION)", "--instance=$(POD_NAME)", "--config=$(MERIDIAN_CONFIG)"]
				env: [
					{name: "POD_IP", valueFrom: fieldRef: fieldPath: "status.podIP"},
					{name: "POD_NAME", valueFrom: fieldRef: fieldPath: "metadata.name"},
				]
				ports: [{name: "http", containerPort: 8080}]
				readinessProbe: {periodSeconds: 1, httpGet: {path: "/healthz", port: "http"}}
			}]
		}
	}
}
`

// A release of a Kubernetes service through the CLI: meridian dev's
// workers deploy it to three clusters of two boundaries through their
// kubeconfig contexts, and every pod serves the new version; a bad
// version then fails its progress deadline and is rolled back on all of
// them, each cluster running the good version's revision again.
func TestKubernetesReleaseAcrossClusters(t *testing.T) {
	envs := clusters(t)
	bin := binDir(t)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, envs, kubeconfig)
	spec := filepath.Join(dir, "spec")
	if err := os.MkdirAll(spec, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec, "fleet.cue"), []byte(strings.ReplaceAll(kubeSpec, "KUBECONFIG", kubeconfig)), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state", "dev.db")
	stopFleetAtEnd(t, db)
	d := startDev(t, bin, db, "--spec", spec)

	good := rollout(t, bin, d, spec, "v1", "kube-v1", false)
	st := awaitStatus(t, d.client, good, 2*time.Minute, "v1 to roll out", func(s workflows.Status) bool { return s.Phase.Terminal() })
	if st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("v1: %s (%s)\n%s", st.Phase, st.Reason, d.out.String())
	}
	v1 := map[string]string{}
	for name, e := range envs {
		dep, err := e.Client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("cluster %s: %v", name, err)
		}
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "localhost/meridian-demo:v1" || dep.Status.AvailableReplicas != 2 {
			t.Errorf("cluster %s runs %s with %d available, want v1 on 2", name, img, dep.Status.AvailableReplicas)
		}
		v1[name] = dep.Annotations[kubernetes.AnnRevision]
		for _, version := range podVersions(t, e) {
			if version != "v1" {
				t.Errorf("cluster %s: a pod serves %q, want v1", name, version)
			}
		}
	}

	bad := rollout(t, bin, d, spec, "v2-bad", "kube-v2", false)
	st = awaitStatus(t, d.client, bad, 2*time.Minute, "v2-bad to end", func(s workflows.Status) bool { return s.Phase.Terminal() })
	if st.Phase != workflows.PhaseRolledBack {
		t.Fatalf("v2-bad: %s (%s), want rolled back", st.Phase, st.Reason)
	}
	t.Logf("v2-bad: %s", st.Reason)
	for name, e := range envs {
		awaitTrue(t, time.Minute, "cluster "+name+" to run v1 again", func() bool {
			dep, err := e.Client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
			return err == nil && dep.Annotations[kubernetes.AnnRevision] == v1[name] && dep.Status.AvailableReplicas == 2 &&
				dep.Status.UpdatedReplicas == 2 && dep.Status.Replicas == 2
		})
	}
}

// podVersions asks every pod of web what version it serves.
func podVersions(t *testing.T, e *kubetest.Env) []string {
	t.Helper()
	pods, err := e.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelWorkload + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		var info struct{ Version string }
		resp, err := http.Get(fmt.Sprintf("http://%s:8080/", p.Status.PodIP))
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&info)
			resp.Body.Close()
		}
		if err != nil {
			info.Version = "down: " + err.Error()
		}
		out = append(out, info.Version)
	}
	return out
}
