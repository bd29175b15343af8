package processnode_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) { kubetest.Main(m, &env) }

// demoPod is a pod template of the demo service, ready when /healthz answers.
func demoPod(version string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "demo", Image: kubetest.DemoImage + ":" + version,
			Args: []string{"--addr=$(POD_IP):8080", "--version=" + version, "--instance=$(POD_NAME)"},
			Env: []corev1.EnvVar{
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1,
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
		}}},
	}
}

// TestDeploymentRunsAsProcesses: a Deployment's pods become real
// processes on their pod IPs, ready through their probes, and the
// controllers see the rollout complete.
func TestDeploymentRunsAsProcesses(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: demoPod("v1")},
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	await(t, "the deployment to be available", func() bool {
		got, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "demo", metav1.GetOptions{})
		return err == nil && got.Status.AvailableReplicas == 2 && got.Status.UpdatedReplicas == 2
	})
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		resp, err := http.Get(fmt.Sprintf("http://%s:8080/", p.Status.PodIP))
		if err != nil {
			t.Fatalf("pod %s at %s: %v", p.Name, p.Status.PodIP, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := p.Name; !strings.Contains(string(body), want) || !strings.Contains(string(body), "v1") {
			t.Fatalf("pod %s answers %q, want its name and v1", p.Name, body)
		}
	}
}

func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
