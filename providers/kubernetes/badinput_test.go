package kubernetes

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
)

// fixed is a cluster reached with one configuration.
type fixed struct{ cfg *rest.Config }

func (f fixed) Config(context.Context, driver.Target) (*rest.Config, error) { return f.cfg, nil }

// setup returns a provider on the test cluster, a fresh target and its
// namespace.
func setup(t *testing.T, cfg *rest.Config) (*providers.Provider, driver.Target, string) {
	t.Helper()
	if cfg == nil {
		cfg = env.Cluster.Config(env.Cluster.AdminToken)
	}
	d, err := New(Options{Clusters: fixed{cfg}, EvictionTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	tgt := driver.Target{Service: "demo-" + strconv.FormatInt(targets.Add(1), 10), Environment: "test", Cloud: "aws", Boundary: "aws",
		Region: "us-east-1", Cell: testCell}
	return providers.New(d, nil), tgt, ns
}

func deployReq(tgt driver.Target, ns, version string) providers.DeployRequest {
	return providers.DeployRequest{Target: placementTarget(tgt), Image: kubetest.DemoImage, Version: version, ChangeID: "c-" + version,
		Instances: 2, Workload: kubetest.DemoWorkload("Deployment", ns, tgt.Service)}
}

// awaitState polls Status of rev until it leaves progressing.
func awaitState(t *testing.T, p *providers.Provider, tgt driver.Target, rev string) driver.Status {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := p.Status(ctx, placementTarget(tgt), rev)
		if err != nil {
			t.Fatalf("Status(%s): %v", rev, err)
		}
		if st.State != driver.StateProgressing {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status(%s) still progressing: %+v", rev, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, err error, code driver.Code, text string) {
	t.Helper()
	if providers.Code(err) != code || !strings.Contains(err.Error(), text) {
		t.Fatalf("%s: err %v (code %v), want code %v and %q", what, err, providers.Code(err), code, text)
	}
	t.Logf("%s: %v", what, err)
}

// TestUnreachableCluster: a cluster no one answers at is unavailable
// (retried), not an error the release gives up on.
func TestUnreachableCluster(t *testing.T) {
	p, tgt, ns := setup(t, &rest.Config{Host: "https://127.0.0.1:1", BearerToken: "x", TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	_, err := p.Deploy(context.Background(), deployReq(tgt, ns, "v1"))
	wantCode(t, "Deploy to an unreachable cluster", err, driver.Unavailable, "connection refused")
}

// TestRefusedToken: a token the apiserver does not know (401) and one it
// knows but grants nothing (403) are permission-denied: not retried.
func TestRefusedToken(t *testing.T) {
	for token, text := range map[string]string{"not-a-token": "Unauthorized", kubetest.NoRightsToken: "forbidden"} {
		p, tgt, ns := setup(t, env.Cluster.Config(token))
		_, err := p.Deploy(context.Background(), deployReq(tgt, ns, "v1"))
		wantCode(t, "Deploy with token "+token, err, driver.PermissionDenied, text)
		if providers.Code(err).Retryable() {
			t.Fatal("permission-denied is retried")
		}
	}
}

// TestRejectedManifest: a workload the apiserver rejects fails with its
// message, and one with a field Kubernetes does not have never reaches it.
func TestRejectedManifest(t *testing.T) {
	p, tgt, ns := setup(t, nil)
	req := deployReq(tgt, ns, "v1")
	var m map[string]any
	_ = json.Unmarshal(req.Workload, &m)
	containers := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	containers[0].(map[string]any)["name"] = "Not_A_Name"
	req.Workload, _ = json.Marshal(m)
	_, err := p.Deploy(context.Background(), req)
	wantCode(t, "Deploy of an invalid container name", err, driver.Invalid, "Not_A_Name")

	containers[0].(map[string]any)["name"] = "demo"
	containers[0].(map[string]any)["imagePullPolicyy"] = "Always"
	req.Workload, _ = json.Marshal(m)
	_, err = p.Deploy(context.Background(), req)
	wantCode(t, "Deploy with an unknown field", err, driver.Invalid, "imagePullPolicyy")
}

// TestMissingNamespace: Meridian does not create namespaces; deploying
// into one that does not exist says so.
func TestMissingNamespace(t *testing.T) {
	p, tgt, _ := setup(t, nil)
	_, err := p.Deploy(context.Background(), deployReq(tgt, "no-such-namespace", "v1"))
	wantCode(t, "Deploy into a missing namespace", err, driver.Invalid, "namespace no-such-namespace does not exist")
}

// TestRollbackConflict: someone changes the image after Meridian's
// deploy; the rollback reports the conflict and leaves their change.
func TestRollbackConflict(t *testing.T) {
	p, tgt, ns := setup(t, nil)
	ctx := context.Background()
	v1, err := p.Deploy(ctx, deployReq(tgt, ns, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, p, tgt, v1.Revision)
	v2, err := p.Deploy(ctx, deployReq(tgt, ns, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, p, tgt, v2.Revision)
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"demo","image":"local/meridian-demo:hotfix"}]}}}}`)
	if _, err := env.Client.AppsV1().Deployments(ns).Patch(ctx, tgt.Service, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	err = p.Rollback(ctx, placementTarget(tgt), v1.Revision)
	wantCode(t, "Rollback after someone else's change", err, driver.Failed, "changed by someone else")
	got, err := env.Client.AppsV1().Deployments(ns).Get(ctx, tgt.Service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "local/meridian-demo:hotfix" {
		t.Fatalf("image %s after the refused rollback, want their hotfix kept", img)
	}
}

// TestDisruptionBudgetRefusesEviction: a budget that allows no
// disruption makes a restart wait, then fail with the budget's reason.
func TestDisruptionBudgetRefusesEviction(t *testing.T) {
	p, tgt, ns := setup(t, nil)
	ctx := context.Background()
	dep, err := p.Deploy(ctx, deployReq(tgt, ns, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, p, tgt, dep.Revision)
	zero := intstr.FromInt32(0)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "no-disruption", Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelWorkload: tgt.Service}}}}
	if _, err := env.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	insts, err := p.Instances(ctx, placementTarget(tgt))
	if err != nil || len(insts) == 0 {
		t.Fatalf("instances %v, %v", insts, err)
	}
	start := time.Now()
	err = p.RestartInstance(ctx, placementTarget(tgt), insts[0].ID)
	wantCode(t, "RestartInstance under a budget allowing nothing", err, driver.Failed, "disruption budget")
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("gave up after %s, before the eviction timeout", waited)
	}
}

// TestPodsThatCannotStartFailTheRollout: an image the node has no
// program for fails the rollout at once, naming the pod and the reason,
// without waiting for the progress deadline.
func TestPodsThatCannotStartFailTheRollout(t *testing.T) {
	p, tgt, ns := setup(t, nil)
	req := deployReq(tgt, ns, "v1")
	req.Image = "local/no-such-program"
	dep, err := p.Deploy(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	st := awaitState(t, p, tgt, dep.Revision)
	if st.State != driver.StateFailed || !strings.Contains(st.Reason, "CreateContainerError") || !strings.Contains(st.Reason, "pod "+tgt.Service) {
		t.Fatalf("status %+v, want failed naming the pod and CreateContainerError", st)
	}
	t.Log(st.Reason)
}

// TestWorkloadGate: a container that dies during the bake makes the
// workload gate unhealthy, naming the pod and the restart.
func TestWorkloadGate(t *testing.T) {
	p, tgt, ns := setup(t, nil)
	ctx := context.Background()
	dep, err := p.Deploy(ctx, deployReq(tgt, ns, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, p, tgt, dep.Revision)
	gate := placementGate()
	obs, err := p.EvaluateGate(ctx, placementTarget(tgt), gate)
	if err != nil || obs.Health != driver.Healthy {
		t.Fatalf("gate on a healthy workload: %+v, %v", obs, err)
	}
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelWorkload + "=" + tgt.Service})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods %v, %v", pods, err)
	}
	victim := pods.Items[0]
	pid, err := strconv.Atoi(strings.TrimPrefix(victim.Status.ContainerStatuses[0].ContainerID, "process://"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for obs.Health != driver.Unhealthy {
		if time.Now().After(deadline) {
			t.Fatalf("gate still %+v after the container was killed", obs)
		}
		time.Sleep(100 * time.Millisecond)
		if obs, err = p.EvaluateGate(ctx, placementTarget(tgt), gate); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(obs.Message, victim.Name) || !strings.Contains(obs.Message, "restarted 1 time") {
		t.Fatalf("gate message %q, want the pod and its restart", obs.Message)
	}
	t.Log(obs.Message)
}

func placementTarget(t driver.Target) placement.Target { return placement.Target(t) }

func placementGate() placement.Gate {
	return placement.Gate{Name: "workload", Workload: &placement.WorkloadGate{}}
}
