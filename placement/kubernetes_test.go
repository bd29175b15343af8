package placement_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// compileSpec compiles one file of spec text.
func compileSpec(t *testing.T, spec string) (*placement.Model, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := placement.Load(dir)
	if err != nil {
		return nil, err
	}
	return placement.Compile(loaded, regions.Default())
}

const kubeFleet = `package fleet

environments: prod: {
	aws: {regions: ["us-east-1", "us-gov-west-1"], cells: {"us-east-1": ["eks-a", "eks-b"], "us-gov-west-1": ["eks-gov"]}}
	gcp: {regions: ["europe-west3"], cells: "europe-west3": ["gke-1"]}
}
boundaries: aws: "us-gov": runtime: "kubernetes"
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: api: {
	owner: "web"
	artifact: image: "registry.example.com/api"
	placement: {clouds: ["aws", "gcp"], boundaries: ["public", "us-gov"]}
	pipeline: "standard"
	runtime: gcp: "kubernetes"
	kubernetes: workload: {
		metadata: namespace: "web"
		spec: {
			progressDeadlineSeconds: 120
			template: spec: containers: [{
				name: "api"
				ports: [{containerPort: 8080}]
				readinessProbe: httpGet: {path: "/healthz", port: 8080}
			}]
		}
	}
}
`

// TestKubernetesTargets: a service's own runtime and its boundaries'
// decide which targets are Kubernetes clusters (the cells), and the
// workload reaches the model as written, with its defaults.
func TestKubernetesTargets(t *testing.T) {
	m, err := compileSpec(t, kubeFleet)
	if err != nil {
		t.Fatal(err)
	}
	svc := m.Services[0]
	got := map[string]string{}
	for _, tg := range svc.Targets {
		got[tg.ID()] = tg.Runtime
	}
	want := map[string]string{
		"api/prod/aws/public/us-east-1/eks-a": "", "api/prod/aws/public/us-east-1/eks-b": "",
		"api/prod/aws/us-gov/us-gov-west-1/eks-gov": "kubernetes", "api/prod/gcp/public/europe-west3/gke-1": "kubernetes",
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for id, rt := range want {
		if r, ok := got[id]; !ok || r != rt {
			t.Errorf("target %s runtime %q (listed %v), want %q", id, r, ok, rt)
		}
	}
	if svc.Kubernetes == nil {
		t.Fatal("no kubernetes workload in the model")
	}
	var w struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			ProgressDeadlineSeconds int `json:"progressDeadlineSeconds"`
			Template                struct {
				Spec struct {
					Containers []struct {
						Name string `json:"name"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(svc.Kubernetes.Workload, &w); err != nil {
		t.Fatal(err)
	}
	if w.Kind != "Deployment" || w.Metadata.Namespace != "web" || w.Spec.ProgressDeadlineSeconds != 120 || len(w.Spec.Template.Spec.Containers) != 1 {
		t.Errorf("workload %s", svc.Kubernetes.Workload)
	}
}

// TestKubernetesSpecErrors: a Kubernetes target without cells, a runtime
// for a cloud the service does not use, a typo in the workload and a
// Deployment-only field on a StatefulSet are errors at their positions.
func TestKubernetesSpecErrors(t *testing.T) {
	for name, tc := range map[string]struct{ from, to, want string }{
		"no cells":     {`cells: "europe-west3": ["gke-1"]`, `cells: {}`, `runs on Kubernetes in gcp:europe-west3, which has no cells`},
		"unused cloud": {`runtime: gcp: "kubernetes"`, `runtime: {gcp: "kubernetes", azure: "kubernetes"}`, `runtime for cloud "azure", which the service does not use`},
		"typo":         {`readinessProbe: httpGet`, `readinessProbee: httpGet`, `readinessProbee: field not allowed`},
		"statefulset":  {`metadata: namespace: "web"`, `kind: "StatefulSet", metadata: namespace: "web"`, `progressDeadlineSeconds: field not allowed`},
	} {
		t.Run(name, func(t *testing.T) {
			spec := strings.Replace(kubeFleet, tc.from, tc.to, 1)
			if spec == kubeFleet {
				t.Fatalf("%q is not in the spec", tc.from)
			}
			_, err := compileSpec(t, spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fleet.cue:") {
				t.Fatalf("err %v, want %q at a position in fleet.cue", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestDocKubernetesExample: the Kubernetes example of docs/spec.md,
// unified with the rest of a spec written after it, compiles to the
// Kubernetes targets the page says: every target of aws/us-gov and api's
// targets on GCP, with the workload as written.
func TestDocKubernetesExample(t *testing.T) {
	b, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### Kubernetes\n")
	_, rest, ok2 := strings.Cut(section, "```cue\n")
	if !ok || !ok2 {
		t.Fatal("docs/spec.md has no cue block under ### Kubernetes")
	}
	example, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	spec := "package fleet\n\n" + example + `
environments: prod: {
	aws: {regions: ["us-east-1", "us-gov-west-1"], cells: "us-gov-west-1": ["gov-1"]}
	gcp: {regions: ["europe-west3"], cells: "europe-west3": ["gke-1", "gke-2"]}
}
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: api: {
	owner: "web"
	artifact: image: "registry.example.com/api"
	placement: {clouds: ["aws", "gcp"], boundaries: ["public", "us-gov"]}
	pipeline: "standard"
}
`
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := placement.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := placement.Compile(loaded, regions.Default())
	if err != nil {
		t.Fatal(err)
	}
	kube := map[string]bool{}
	for _, tg := range m.Services[0].Targets {
		kube[tg.ID()] = tg.Runtime == placement.RuntimeKubernetes
	}
	want := map[string]bool{"api/prod/aws/public/us-east-1": false, "api/prod/aws/us-gov/us-gov-west-1/gov-1": true,
		"api/prod/gcp/public/europe-west3/gke-1": true, "api/prod/gcp/public/europe-west3/gke-2": true}
	if len(kube) != len(want) {
		t.Fatalf("targets %v, want %v", kube, want)
	}
	for id, k := range want {
		if kube[id] != k {
			t.Errorf("%s on Kubernetes: %v, want %v", id, kube[id], k)
		}
	}
	if w := string(m.Services[0].Kubernetes.Workload); !strings.Contains(w, `"namespace":"web"`) || !strings.Contains(w, `"cpu":"250m"`) {
		t.Errorf("workload %s", w)
	}
}
