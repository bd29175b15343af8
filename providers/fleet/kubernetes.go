package fleet

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/httpdrain"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
	"github.com/meridian-deploy/meridian/providers/kubernetes/aks"
	"github.com/meridian-deploy/meridian/providers/kubernetes/eks"
	"github.com/meridian-deploy/meridian/providers/kubernetes/gke"
)

// Boundary settings of the Kubernetes provider.
const (
	// SettingKubeClusters says how the boundary's clusters are reached:
	// "kubeconfig" (the default), "eks", "aks" or "gke".
	SettingKubeClusters = "kubeClusters"
	// SettingKubeCluster names a target's EKS, AKS or GKE cluster
	// (default "{cell}").
	SettingKubeCluster = "kubeCluster"
	// SettingKubeconfig is the kubeconfig file whose contexts reach the
	// boundary's clusters (default $KUBECONFIG, else ~/.kube/config).
	SettingKubeconfig = "kubeconfig"
	// SettingKubeContext names a target's context (default "{cell}").
	SettingKubeContext = "kubeContext"
)

// kubernetesProvider is the provider of a boundary's Kubernetes targets:
// the kubernetes driver on the clusters the boundary's settings reach,
// with the boundary's gate driver for alarm and metric gates, its secrets
// driver, and the HTTP drain protocol for sharded services.
func kubernetesProvider(bd *boundary, cloudGates driver.GateEvaluator, secrets driver.SecretResolver) (*providers.Provider, error) {
	clusters, err := kubeClusters(bd)
	if err != nil {
		return nil, err
	}
	d, err := kubernetes.New(kubernetes.Options{Clusters: clusters})
	if err != nil {
		return nil, err
	}
	return providers.New(d, &providers.Options{
		Gates:   kubeGates{pods: d, cloud: cloudGates},
		Sharder: httpdrain.New(&httpdrain.Options{Client: &http.Client{Timeout: 5 * time.Second}}),
		Secrets: secrets,
	}), nil
}

// kubeClusters is how the boundary reaches its clusters, from its
// settings: through the cloud's API with the boundary's SDK
// configuration (EKS, AKS, GKE), or a kubeconfig file's contexts.
func kubeClusters(bd *boundary) (kubernetes.Clusters, error) {
	name := bd.rule.Provider[SettingKubeCluster]
	switch via := bd.rule.Provider[SettingKubeClusters]; via {
	case "", "kubeconfig":
		return kubernetes.Kubeconfig{Path: bd.rule.Provider[SettingKubeconfig], Context: bd.rule.Provider[SettingKubeContext]}, nil
	case "eks":
		if bd.rule.Cloud != "aws" {
			break
		}
		cfg, err := bd.awsConfig("eks")
		if err != nil {
			return nil, err
		}
		return eks.New(cfg, bd.rule.Boundary, name), nil
	case "aks":
		if bd.rule.Cloud != "azure" {
			break
		}
		cred, opts, err := bd.azureOptions("aks")
		if err != nil {
			return nil, err
		}
		return aks.New(cred, opts, name)
	case "gke":
		if bd.rule.Cloud != "gcp" {
			break
		}
		c, err := gke.New(bd.ctx, bd.b, bd.gcpOptions("gke"), name)
		if err != nil {
			return nil, err
		}
		bd.fleet.closers = append(bd.fleet.closers, c.Close)
		return c, nil
	}
	return nil, fmt.Errorf("provider setting %s: %q does not reach %s clusters (choose kubeconfig%s)", SettingKubeClusters,
		bd.rule.Provider[SettingKubeClusters], bd.rule.Cloud, map[string]string{"aws": ", eks", "azure": ", aks", "gcp": ", gke"}[bd.rule.Cloud])
}

// unavailable is the deployer of a Kubernetes boundary whose cloud drivers
// could not start: every call fails with why.
type unavailable struct{ err error }

func (u unavailable) fail() error                 { return driver.Errorf(driver.Invalid, "%v", u.err) }
func (u unavailable) ErrorCode(error) driver.Code { return driver.Invalid }
func (u unavailable) Deploy(context.Context, driver.DeployRequest) (driver.Deployment, error) {
	return driver.Deployment{}, u.fail()
}
func (u unavailable) Status(context.Context, driver.Target, string) (driver.Status, error) {
	return driver.Status{}, u.fail()
}
func (u unavailable) Rollback(context.Context, driver.Target, string) error { return u.fail() }

// kubeGates evaluates a Kubernetes target's HTTP and workload gates on its
// pods, and its alarm and metric gates with the cloud's gate driver.
type kubeGates struct {
	pods, cloud driver.GateEvaluator
}

func (g kubeGates) EvaluateGate(ctx context.Context, t driver.Target, gate driver.Gate) (driver.Observation, error) {
	if (gate.Alarm != nil || gate.Metric != nil) && g.cloud == nil {
		return driver.Observation{}, driver.Errorf(driver.Invalid, "gate %s: the boundary's %s gate driver did not start", gate.Name, t.Cloud)
	}
	if (gate.Alarm != nil || gate.Metric != nil) && g.cloud != nil {
		return g.cloud.EvaluateGate(ctx, t, gate)
	}
	return g.pods.EvaluateGate(ctx, t, gate)
}

func (g kubeGates) ErrorCode(err error) driver.Code {
	if c := g.pods.ErrorCode(err); c != driver.Unknown || g.cloud == nil {
		return c
	}
	return g.cloud.ErrorCode(err)
}
