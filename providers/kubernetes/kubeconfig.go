package kubernetes

import (
	"cmp"
	"context"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Kubeconfig reaches clusters through the contexts of a kubeconfig file,
// for any cluster (and for EKS, AKS or GKE where the file's exec plugins
// fetch the tokens). A target's cluster is the context Context names.
type Kubeconfig struct {
	// Path is the file (default: $KUBECONFIG, else ~/.kube/config).
	Path string
	// Context names a target's context, with driver.Expand's placeholders
	// (default "{cell}").
	Context string
}

func (k Kubeconfig) rules() *clientcmd.ClientConfigLoadingRules {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.Path != "" {
		rules.ExplicitPath = k.Path
	}
	return rules
}

// Config is the client configuration of t's context.
func (k Kubeconfig) Config(_ context.Context, t driver.Target) (*rest.Config, error) {
	name := driver.Expand(cmp.Or(k.Context, "{cell}"), t)
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.rules(), &clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
	if err != nil {
		return nil, driver.Errorf(driver.Invalid, "cluster %s: kubeconfig context %q: %v", t.Cell, name, err)
	}
	return cfg, nil
}
