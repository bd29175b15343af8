package aks_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/aks"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
)

var (
	fake *azurefake.Server
	env  *kubetest.Env
)

// The AKS cluster aks-1 is a local control plane that accepts the Entra
// token the fake credential hands out for the AKS server application.
func TestMain(m *testing.M) {
	fake = azurefake.New()
	var err error
	env, err = kubetest.Start(kubetest.Options{Authenticate: func(_ context.Context, token string) (kubelocal.User, error) {
		if token != azurefake.AKSToken {
			return kubelocal.User{}, fmt.Errorf("not an AKS token")
		}
		return kubelocal.User{Name: "meridian@aks", Groups: []string{"system:masters"}}, nil
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fake.AddAKSCluster(azurefake.Subscription, "aks-1", "aks-1", env.Cluster.Host, env.Cluster.CA)
	code := m.Run()
	env.Stop()
	fake.Close()
	os.Exit(code)
}

// A deploy to an AKS cluster goes through its user credentials and an
// Entra token for the AKS server application.
func TestDeployThroughAKS(t *testing.T) {
	cred := &azurefake.Credential{}
	clusters, err := aks.New(cred, &azure.Options{Boundary: "public", Settings: map[string]string{azure.SettingSubscription: azurefake.Subscription},
		ClientOptions: fake.ClientOptions()}, "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := kubernetes.New(kubernetes.Options{Clusters: clusters})
	if err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	tgt := driver.Target{Service: "web", Environment: "prod", Cloud: "azure", Boundary: "public", Region: "westeurope", Cell: "aks-1"}
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
	if !slices.Contains(cred.Scopes(), aks.ServerScope) {
		t.Errorf("no token was asked for the AKS server application; scopes %v", cred.Scopes())
	}

	tgt.Cell = "no-such-cluster"
	_, err = d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", ns, "web")})
	if d.ErrorCode(err) != driver.NotFound {
		t.Fatalf("missing cluster: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
	t.Log(err)
}
