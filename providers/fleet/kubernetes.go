package fleet

import (
	"context"
	"net/http"
	"time"

	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/httpdrain"
	"github.com/meridian-deploy/meridian/providers/kubernetes"
)

// Boundary settings of the Kubernetes provider.
const (
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
	d, err := kubernetes.New(kubernetes.Options{Clusters: kubernetes.Kubeconfig{
		Path: bd.rule.Provider[SettingKubeconfig], Context: bd.rule.Provider[SettingKubeContext]}})
	if err != nil {
		return nil, err
	}
	return providers.New(d, &providers.Options{
		Gates:   kubeGates{pods: d, cloud: cloudGates},
		Sharder: httpdrain.New(&httpdrain.Options{Client: &http.Client{Timeout: 5 * time.Second}}),
		Secrets: secrets,
	}), nil
}

// kubeGates evaluates a Kubernetes target's HTTP and workload gates on its
// pods, and its alarm and metric gates with the cloud's gate driver.
type kubeGates struct {
	pods, cloud driver.GateEvaluator
}

func (g kubeGates) EvaluateGate(ctx context.Context, t driver.Target, gate driver.Gate) (driver.Observation, error) {
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
