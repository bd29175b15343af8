package fleet

import (
	"maps"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/azureappconfig"
	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/azurekeyvault"
	"github.com/meridian-deploy/meridian/providers/azuremonitor"
	"github.com/meridian-deploy/meridian/providers/cloud/azure"
)

// azureAuth is how an Azure boundary's clients authenticate and connect.
type azureAuth struct {
	cred   azcore.TokenCredential
	client policy.ClientOptions
}

// azureOptions returns the credential and options of an Azure driver of
// the boundary. The credential is resolved once: Options.Azure, else
// azidentity's default chain against the boundary's authority host
// and tenant (azure.DefaultCredential). With
// an endpoint setting, Resource Manager calls go there, still with tokens
// for the boundary's audience.
func (bd *boundary) azureOptions(driver string) (azcore.TokenCredential, *azure.Options, error) {
	if bd.azure == nil {
		a := &azureAuth{}
		var err error
		if bd.opts.Azure != nil {
			a.cred, a.client, err = bd.opts.Azure(bd.b)
		} else {
			a.cred, err = azure.DefaultCredential(azureOptions(bd.rule))
		}
		if err != nil {
			return nil, nil, err
		}
		bd.azure = a
	}
	co := bd.azure.client
	if e := bd.endpoint(driver); e != "" {
		c := co.Cloud
		if len(c.Services) == 0 {
			var err error
			if c, err = azure.Cloud(bd.b); err != nil {
				return nil, nil, err
			}
		}
		services := maps.Clone(c.Services) // the SDK's clouds share their maps: never write to them
		rm := services[cloud.ResourceManager]
		rm.Endpoint = e
		services[cloud.ResourceManager] = rm
		c.Services = services
		co.Cloud = c
	}
	opts := azureOptions(bd.rule)
	opts.ClientOptions, opts.PollInterval = co, bd.opts.PollInterval
	return bd.azure.cred, opts, nil
}

func buildContainerApps(bd *boundary) (any, error) {
	cred, opts, err := bd.azureOptions("azurecontainerapps")
	if err != nil {
		return nil, err
	}
	return azurecontainerapps.New(cred, opts)
}

func buildAzureMonitor(bd *boundary) (any, error) {
	cred, opts, err := bd.azureOptions("azuremonitor")
	if err != nil {
		return nil, err
	}
	return azuremonitor.New(cred, opts)
}

// buildAzureAppConfig builds the App Configuration driver, whose stores
// are data-plane endpoints of their own (the appConfigEndpoint and
// appConfigStore settings), not Resource Manager's.
func buildAzureAppConfig(bd *boundary) (any, error) {
	cred, opts, err := bd.azureOptions("")
	if err != nil {
		return nil, err
	}
	return azureappconfig.New(cred, opts)
}

// buildKeyVault builds the Key Vault resolver, whose vaults are data-plane
// endpoints of their own (the keyVault and keyVaultURL settings), as App
// Configuration's stores are.
func buildKeyVault(bd *boundary) (any, error) {
	cred, opts, err := bd.azureOptions("")
	if err != nil {
		return nil, err
	}
	return azurekeyvault.New(cred, opts)
}

// azureOptions are the options of an Azure driver serving the boundary of
// rule, with its provider settings.
func azureOptions(rule placement.BoundaryRule) *azure.Options {
	return &azure.Options{Boundary: rule.Boundary, Settings: rule.Provider}
}
