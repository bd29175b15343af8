package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
	"github.com/meridian-deploy/meridian/workflows"
)

// kubeClusters starts the four clusters of the spec's web service, each a
// local control plane whose token webhook accepts only its cloud's token:
// an EKS token that the boundary's fake STS verifies, the Entra token
// for AKS's server application, the GCP access token. Each cloud's fake
// reports its cluster at the control plane's address and CA.
func (mc *multiCloud) kubeClusters(t *testing.T) map[string]*kubetest.Env {
	t.Helper()
	mc.aws["public"].AddCredentials(awsKeyID, awsSecret)
	eks := func(boundary, cluster string) func(context.Context, string) (kubelocal.User, error) {
		return func(ctx context.Context, token string) (kubelocal.User, error) {
			arn, err := mc.aws[boundary].VerifyEKSToken(ctx, token, cluster)
			return kubelocal.User{Name: arn, Groups: []string{"system:masters"}}, err
		}
	}
	is := func(want string) func(context.Context, string) (kubelocal.User, error) {
		return func(_ context.Context, token string) (kubelocal.User, error) {
			if token != want {
				return kubelocal.User{}, fmt.Errorf("token refused")
			}
			return kubelocal.User{Name: "meridian", Groups: []string{"system:masters"}}, nil
		}
	}
	auth := map[string]func(context.Context, string) (kubelocal.User, error){
		"eks-prod": eks("public", "eks-prod"), "eks-gov": eks("us-gov", "eks-gov"),
		"aks-prod": is(azurefake.AKSToken), "gke-prod": is(gcpToken),
	}
	envs := map[string]*kubetest.Env{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for cell, a := range auth {
		wg.Go(func() {
			e, err := kubetest.Start(kubetest.Options{Authenticate: a})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			envs[cell] = e
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, e := range envs {
		t.Cleanup(e.Stop)
	}
	if t.Failed() {
		t.FailNow()
	}
	mc.aws["public"].AddEKSCluster("us-east-1", "eks-prod", envs["eks-prod"].Cluster.Host, envs["eks-prod"].Cluster.CA)
	mc.aws["us-gov"].AddEKSCluster("us-gov-west-1", "eks-gov", envs["eks-gov"].Cluster.Host, envs["eks-gov"].Cluster.CA)
	mc.azure["public"].AddAKSCluster(azurefake.Subscription, "aks-prod", "aks-prod", envs["aks-prod"].Cluster.Host, envs["aks-prod"].Cluster.CA)
	mc.gcp["public"].AddGKECluster("acme-prod", "europe-west3", "gke-prod", strings.TrimPrefix(envs["gke-prod"].Cluster.Host, "https://"), envs["gke-prod"].Cluster.CA)
	return envs
}

// webRequest is the release of web's version, as `meridian rollout`
// builds it.
func (mc *multiCloud) webRequest(version string) workflows.ReleaseRequest {
	req := workflows.ReleaseRequest{Service: "web",
		Change: workflows.Change{Kind: workflows.KindVersion, ID: "web-" + mc.changeID(version), Version: version,
			Image: "registry.example.com/meridian-demo", Trigger: "test"}}
	for _, s := range mc.model.Services {
		if s.Name == "web" {
			req.Gates, req.Instances, req.Workload = s.Gates, s.Instances, s.Kubernetes.Workload
		}
	}
	for _, p := range mc.plan.Pipelines {
		if p.Service == "web" {
			req.Pipelines = append(req.Pipelines, p)
		}
	}
	return req
}

// A Kubernetes service released across an EKS cluster, an EKS cluster in
// GovCloud, an AKS and a GKE cluster, each reached through its cloud's
// API and token by its boundary's worker: every cluster runs the version;
// a bad version then fails its progress deadline and is rolled back on
// every cluster.
func TestKubernetesAcrossClouds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four Kubernetes control planes")
	}
	mc := startMultiCloud(t)
	envs := mc.kubeClusters(t)
	var web []placement.Target
	for _, s := range mc.model.Services {
		if s.Name == "web" {
			web = s.Targets
		}
	}
	if len(web) != 4 {
		t.Fatalf("web has %d targets, want 4: %v", len(web), web)
	}
	images := func() map[string]string {
		out := map[string]string{}
		for cell, e := range envs {
			d, err := e.Client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				out[cell] = err.Error()
				continue
			}
			out[cell] = fmt.Sprintf("%s %s %d/%d", d.Spec.Template.Spec.Containers[0].Image, d.Annotations[kubernetes.AnnRevision],
				d.Status.AvailableReplicas, d.Status.Replicas)
		}
		return out
	}

	start := time.Now()
	st := release(t, mc.webRequest("v1"))
	if st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("v1: %s (%s)", st.Phase, st.Reason)
	}
	t.Logf("v1 on 4 clusters of 3 clouds: %v", time.Since(start))
	good := images()
	for cell, got := range good {
		if !strings.HasPrefix(got, "registry.example.com/meridian-demo:v1 ") || !strings.HasSuffix(got, " 2/2") {
			t.Errorf("%s runs %s, want v1 on 2 of 2", cell, got)
		}
	}

	start = time.Now()
	st = release(t, mc.webRequest("v2-bad"))
	if st.Phase != workflows.PhaseRolledBack || len(st.LeftAsIs) > 0 {
		t.Fatalf("v2-bad: %s (%s), left as is %v; want rolled back", st.Phase, st.Reason, st.LeftAsIs)
	}
	t.Logf("v2-bad rolled back: %v (%s)", time.Since(start), st.Reason)
	deadline := time.Now().Add(time.Minute)
	for now := images(); ; now = images() {
		same := true
		for cell := range good {
			same = same && now[cell] == good[cell]
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rollback the clusters run %v, want %v", now, good)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
