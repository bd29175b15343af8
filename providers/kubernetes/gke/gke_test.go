package gke_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/gke"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
	"github.com/meridian-deploy/meridian/regions"
)

// token is the worker's access token, as Application Default Credentials
// would mint it.
const token = "ya29.meridian-gke-test-token"

var (
	fake *gcpfake.Server
	env  *kubetest.Env
)

// The GKE cluster gke-1 of acme-prod in europe-west3 is a local control
// plane that accepts the worker's access token.
func TestMain(m *testing.M) {
	var err error
	if fake, err = gcpfake.StartTLS(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = kubetest.Start(kubetest.Options{Authenticate: func(_ context.Context, tok string) (kubelocal.User, error) {
		if tok != token {
			return kubelocal.User{}, fmt.Errorf("not the worker's token")
		}
		return kubelocal.User{Name: "meridian@acme-prod.iam.gserviceaccount.com", Groups: []string{"system:masters"}}, nil
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fake.AddGKECluster("acme-prod", "europe-west3", "gke-1", env.Cluster.Host[len("https://"):], env.Cluster.CA)
	code := m.Run()
	env.Stop()
	fake.Close()
	os.Exit(code)
}

// A deploy to a GKE cluster goes through GetCluster and the worker's
// OAuth token.
func TestDeployThroughGKE(t *testing.T) {
	b, _ := regions.Default().Boundary("gcp", "public")
	clusters, err := gke.New(context.Background(), b, &gcp.Options{Settings: map[string]string{"project": "acme-prod"},
		ClientOptions: fake.TokenClientOptions(token)}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer clusters.Close()
	d, err := kubernetes.New(kubernetes.Options{Clusters: clusters})
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	tgt := driver.Target{Service: "web", Environment: "prod", Cloud: "gcp", Boundary: "public", Region: "europe-west3", Cell: "gke-1"}
	dep, err := d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", ns, "web")})
	if err != nil {
		t.Fatalf("Deploy: %v (code %v)", err, d.ErrorCode(err))
	}
	deadline := time.Now().Add(time.Minute)
	for st, _ := d.Status(context.Background(), tgt, dep.Revision); st.State != driver.StateReady; st, _ = d.Status(context.Background(), tgt, dep.Revision) {
		if st.State == driver.StateFailed || time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !fake.SawToken(token) {
		t.Error("GetCluster was not called with the worker's token")
	}

	tgt.Cell = "no-such-cluster"
	_, err = d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", ns, "web")})
	if d.ErrorCode(err) != driver.NotFound {
		t.Fatalf("missing cluster: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
	t.Log(err)
}
