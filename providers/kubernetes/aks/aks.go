// Package aks reaches Azure Kubernetes Service clusters for the
// kubernetes driver: a target's cell names a managed cluster (in the
// resource group the boundary's settings give, see package azure), whose
// server and CA come from its user credentials (Resource Manager's
// listClusterUserCredential, in the boundary's cloud: Azure, Azure
// Government, Azure China), and whose bearer token is a Microsoft Entra
// token for the AKS server application, from the worker's own credential
// (azidentity's chain), as kubelogin gets it. The cluster's Azure RBAC or
// Kubernetes RBAC authorizes that identity.
package aks

import (
	"cmp"
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// ServerScope is the token scope of AKS's Entra server application, the
// same in every Azure cloud.
const ServerScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

// Clusters resolves AKS clusters; it implements kubernetes.Clusters.
type Clusters struct {
	scope    azure.Scope
	cred     azcore.TokenCredential
	clusters *azure.Clients[*armcontainerservice.ManagedClustersClient]
	name     string
}

// New returns the resolver of one boundary's clusters (opts.Boundary),
// calling Resource Manager with cred. name is a target's cluster name,
// with driver.Expand's placeholders (default "{cell}").
func New(cred azcore.TokenCredential, opts *azure.Options, name string) (*Clusters, error) {
	scope, err := azure.NewScope(opts)
	if err != nil {
		return nil, err
	}
	return &Clusters{scope: scope, cred: cred, name: cmp.Or(name, "{cell}"),
		clusters: azure.NewARMClients(scope, cred, armcontainerservice.NewManagedClustersClient)}, nil
}

// Config is the client configuration of t's cluster.
func (c *Clusters) Config(ctx context.Context, t driver.Target) (*rest.Config, error) {
	res, err := c.scope.Resource(t)
	if err != nil {
		return nil, err
	}
	client, err := c.clusters.For(res.Subscription)
	if err != nil {
		return nil, err
	}
	name := driver.Expand(c.name, t)
	out, err := client.ListClusterUserCredentials(ctx, res.ResourceGroup, name, nil)
	if err != nil {
		return nil, fmt.Errorf("aks: cluster %s in resource group %s: user credentials: %w", name, res.ResourceGroup, err)
	}
	if len(out.Kubeconfigs) == 0 {
		return nil, driver.Errorf(driver.Invalid, "aks: cluster %s has no user kubeconfig", name)
	}
	kc, err := clientcmd.Load(out.Kubeconfigs[0].Value)
	if err != nil {
		return nil, driver.Errorf(driver.Invalid, "aks: cluster %s: its kubeconfig: %v", name, err)
	}
	cur := kc.Contexts[kc.CurrentContext]
	if cur == nil || kc.Clusters[cur.Cluster] == nil {
		return nil, driver.Errorf(driver.Invalid, "aks: cluster %s: its kubeconfig names no cluster", name)
	}
	server := kc.Clusters[cur.Cluster]
	token, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{ServerScope}})
	if err != nil {
		return nil, fmt.Errorf("aks: a token for cluster %s: %w", name, err)
	}
	return &rest.Config{Host: server.Server, BearerToken: token.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: server.CertificateAuthorityData}}, nil
}

// ErrorCode classifies Resource Manager's errors.
func (c *Clusters) ErrorCode(err error) driver.Code { return azure.ErrorCode(err) }
