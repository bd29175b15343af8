package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
	"github.com/meridian-deploy/meridian/workflows"
)

// kubeClusters are the package's Kubernetes clusters, four real control
// planes with a process node each, started by the first test that needs
// them and stopped after the package's tests.
var kubeClusters struct {
	once sync.Once
	envs map[string]*kubetest.Env // by kubeconfig context
	err  error
}

// kubeContexts are the cells of testdata/kubernetes.
var kubeContexts = []string{"eks-east", "aks-west", "gke-west", "eks-gov"}

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

// A release of testdata/kubernetes through the CLI: meridian dev's
// workers deploy shop to the four clusters of three clouds and GovCloud
// through their kubeconfig contexts, as the tour does, and every pod
// serves the new version; a bad version then fails its progress deadline
// and is rolled back on all of them, each cluster running the good
// version's revision again. Between them, meridian restart replaces every
// pod, one at a time, each by a new one; meridian fleet reads what runs
// from the clusters after each step: v1 in sync on all four, and then a
// service the spec does not have, orphaned.
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
	text, err := os.ReadFile("../../testdata/kubernetes/fleet.cue")
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.ReplaceAll(string(text), `".kube-local/kubeconfig"`, strconv.Quote(kubeconfig)))
	if err := os.WriteFile(filepath.Join(spec, "fleet.cue"), text, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state", "dev.db")
	stopFleetAtEnd(t, db)
	d := startDev(t, bin, db, "--spec", spec)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("meridian dev:\n%s", d.out.String())
		}
	})
	release := func(change string, args ...string) workflows.Status {
		t.Helper()
		args = append(args, spec, "--service", "shop", "--change-id", change, "--address", d.addr)
		if out, err := exec.Command(filepath.Join(bin, "meridian"), args...).CombinedOutput(); err != nil {
			t.Fatalf("meridian %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		id := workflows.ReleaseID("shop", change)
		return awaitStatus(t, d.client, id, 3*time.Minute, change+" to end", func(s workflows.Status) bool { return s.Phase.Terminal() })
	}
	shop := func(version string) workflows.Status {
		return release("kube-"+version, "rollout", "--version", version)
	}
	// inSync checks meridian fleet's report: v1 of kube-v1 on every
	// cluster, 2/2 ready, and every cluster searched for orphans.
	inSync := func(after string) {
		t.Helper()
		out, code := runMeridian(t, "", bin, d, "fleet", spec, "-o", "json")
		var report fleetJSON
		if err := json.Unmarshal([]byte(out), &report); err != nil || code != 0 || !report.InSync || len(report.Targets) != 4 || report.Listed != 4 {
			t.Fatalf("fleet after %s: exit %d, want 0 with 4 targets in sync, 4 regions listed (%v):\n%s", after, code, err, out)
		}
		for _, ft := range report.Targets {
			if ft.Observed.Version != "v1" || ft.Release() != workflows.ReleaseID("shop", "kube-v1") || ft.ReadyCell() != "2/2" {
				t.Errorf("fleet after %s: %s: %+v, want v1 from kube-v1, 2/2 ready", after, ft.Target.ID(), ft.Observed)
			}
		}
	}

	if st := shop("v1"); st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("v1: %s (%s)\n%s", st.Phase, st.Reason, d.out.String())
	}
	v1 := map[string]string{}
	for name, e := range envs {
		dep, err := e.Client.AppsV1().Deployments("default").Get(context.Background(), "shop", metav1.GetOptions{})
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
	inSync("v1")

	before := map[string]bool{}
	for _, e := range envs {
		for _, name := range podNames(t, e) {
			before[name] = true
		}
	}
	if st := release("kube-restart", "restart"); st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("restart: %s (%s)", st.Phase, st.Reason)
	}
	for name, e := range envs {
		pods := podNames(t, e)
		for _, pod := range pods {
			if before[pod] {
				t.Errorf("cluster %s: pod %s outlived the restart", name, pod)
			}
		}
		if versions := podVersions(t, e); len(pods) != 2 || strings.Join(versions, " ") != "v1 v1" {
			t.Errorf("cluster %s after the restart: pods %v serve %v, want two new ones on v1", name, pods, versions)
		}
	}
	inSync("the restart")

	st := shop("v2-bad")
	if st.Phase != workflows.PhaseRolledBack {
		t.Fatalf("v2-bad: %s (%s), want rolled back", st.Phase, st.Reason)
	}
	t.Logf("v2-bad: %s", st.Reason)
	for name, e := range envs {
		awaitTrue(t, time.Minute, "cluster "+name+" to run v1 again", func() bool {
			dep, err := e.Client.AppsV1().Deployments("default").Get(context.Background(), "shop", metav1.GetOptions{})
			return err == nil && dep.Annotations[kubernetes.AnnRevision] == v1[name] && dep.Status.AvailableReplicas == 2 &&
				dep.Status.UpdatedReplicas == 2 && dep.Status.Replicas == 2
		})
	}
	inSync("the rollback of v2-bad")

	// A service the spec does not have, deployed to eks-east by Meridian's
	// driver: fleet finds it in the cluster's records.
	d2, err := kubernetes.New(kubernetes.Options{Clusters: kubernetes.Kubeconfig{Path: kubeconfig}})
	if err != nil {
		t.Fatal(err)
	}
	retired := driver.Target{Service: "retired", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1", Cell: "eks-east"}
	if _, err := d2.Deploy(context.Background(), driver.DeployRequest{Target: retired, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", "default", "retired")}); err != nil {
		t.Fatal(err)
	}
	out, code := runMeridian(t, "", bin, d, "fleet", spec, "-o", "json")
	var report fleetJSON
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 1 {
		t.Fatalf("fleet with an orphan: exit %d, want 1 (%v):\n%s", code, err, out)
	}
	states := map[string]pipelines.SyncState{}
	for _, ft := range report.Targets {
		states[ft.Target.ID()] = ft.State
	}
	if len(states) != 5 || states[placement.Target(retired).ID()] != pipelines.Orphaned {
		t.Errorf("fleet with an orphan: %v, want shop's four targets and %s orphaned", states, placement.Target(retired).ID())
	}
}

// shopPods are the pods of shop that are not being deleted.
func shopPods(t *testing.T, e *kubetest.Env) []corev1.Pod {
	t.Helper()
	pods, err := e.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelWorkload + "=shop"})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

func podNames(t *testing.T, e *kubetest.Env) []string {
	t.Helper()
	var names []string
	for _, p := range shopPods(t, e) {
		names = append(names, p.Name)
	}
	return names
}

// podVersions asks every pod of shop what version it serves.
func podVersions(t *testing.T, e *kubetest.Env) []string {
	t.Helper()
	var out []string
	for _, p := range shopPods(t, e) {
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
