package eks_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/eks"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubelocal"
	"github.com/meridian-deploy/meridian/providers/kubernetes/kubetest"
)

var (
	fake *awsfake.Server
	env  *kubetest.Env
)

// The cluster "prod" of us-east-1 and "gov" of us-gov-west-1 are one
// local control plane, whose token webhook asks the fake's STS who an EKS
// token is, as EKS's authenticator does.
func TestMain(m *testing.M) {
	fake = awsfake.New()
	var err error
	env, err = kubetest.Start(kubetest.Options{Authenticate: func(ctx context.Context, token string) (kubelocal.User, error) {
		for _, cluster := range []string{"prod", "gov"} {
			if arn, err := fake.VerifyEKSToken(ctx, token, cluster); err == nil {
				return kubelocal.User{Name: arn, Groups: []string{"system:masters"}}, nil
			}
		}
		return kubelocal.User{}, fmt.Errorf("not a valid EKS token for these clusters")
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fake.AddEKSCluster("us-east-1", "prod", env.Cluster.Host, env.Cluster.CA)
	fake.AddEKSCluster("us-gov-west-1", "gov", env.Cluster.Host, env.Cluster.CA)
	code := m.Run()
	env.Stop()
	fake.Close()
	os.Exit(code)
}

// A deploy to an EKS cluster of the public partition and of GovCloud
// goes through DescribeCluster and an STS-presigned token that the
// cluster's authenticator verifies.
func TestDeployThroughEKS(t *testing.T) {
	for _, tc := range []struct{ boundary, region, cluster string }{
		{"public", "us-east-1", "prod"},
		{"us-gov", "us-gov-west-1", "gov"},
	} {
		t.Run(tc.boundary, func(t *testing.T) {
			d, err := kubernetes.New(kubernetes.Options{Clusters: eks.New(fake.Config(tc.region), tc.boundary, "")})
			if err != nil {
				t.Fatal(err)
			}
			ns := env.Namespace(t)
			tgt := driver.Target{Service: "web-" + tc.boundary, Environment: "prod", Cloud: "aws", Boundary: tc.boundary, Region: tc.region, Cell: tc.cluster}
			dep, err := d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
				Workload: kubetest.DemoWorkload("Deployment", ns, tgt.Service)})
			if err != nil {
				t.Fatalf("Deploy: %v (code %v)", err, d.ErrorCode(err))
			}
			awaitReady(t, d, tgt, dep.Revision)
			if !fake.Saw("x-k8s-aws-id") && !fake.Saw("X-K8s-Aws-Id") {
				t.Error("no request carried the EKS cluster header")
			}
			if !slices.ContainsFunc(fake.AccessKeys(), func(k string) bool { return k == awsfake.AccessKeyID }) {
				t.Errorf("STS never verified a request of the worker's key; keys %v", fake.AccessKeys())
			}
		})
	}
}

// A token of credentials STS does not know is refused by the cluster:
// permission-denied, not retried. A cluster EKS does not have is
// not-found.
func TestEKSRefusals(t *testing.T) {
	cfg := fake.Config("us-east-1")
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWNMERIDIAN0", "not-a-known-secret", "")
	d, _ := kubernetes.New(kubernetes.Options{Clusters: eks.New(cfg, "public", "")})
	tgt := driver.Target{Service: "web", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1", Cell: "prod"}
	_, err := d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", "default", "web")})
	if d.ErrorCode(err) != driver.PermissionDenied {
		t.Fatalf("unknown credentials: %v (code %v), want permission-denied", err, d.ErrorCode(err))
	}
	t.Log(err)

	d, _ = kubernetes.New(kubernetes.Options{Clusters: eks.New(fake.Config("us-east-1"), "public", "")})
	tgt.Cell = "no-such-cluster"
	_, err = d.Deploy(context.Background(), driver.DeployRequest{Target: tgt, Image: kubetest.DemoImage, Version: "v1", Instances: 1,
		Workload: kubetest.DemoWorkload("Deployment", "default", "web")})
	if d.ErrorCode(err) != driver.NotFound || !strings.Contains(err.Error(), "no-such-cluster") {
		t.Fatalf("missing cluster: %v (code %v), want not-found naming it", err, d.ErrorCode(err))
	}
	t.Log(err)
}

func awaitReady(t *testing.T, d *kubernetes.Driver, tgt driver.Target, rev string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := d.Status(context.Background(), tgt, rev)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == driver.StateReady {
			return
		}
		if st.State == driver.StateFailed || time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
