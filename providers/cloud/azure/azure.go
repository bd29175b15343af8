// Package azure holds what Meridian's Azure drivers (azurecontainerapps,
// azureappconfig, azuremonitor) share: the cloud configuration each
// sovereign boundary resolves to (AzurePublic, AzureUSGovernment,
// AzureChina), client options built from it, the credential from
// azidentity's default chain, the convention that maps a target to a
// subscription, resource group and resource name, and the mapping of
// azcore.ResponseError codes to driver codes.
//
// An Azure driver serves exactly one boundary: its clients talk to that
// cloud's Resource Manager endpoint with tokens for that cloud's audience,
// and it refuses targets of any other boundary, so nothing meant for a
// sovereign cloud is ever sent to the public one. Credentials never come
// from specs or workflow inputs: DefaultCredential uses azidentity's
// default chain (environment, workload identity, managed identity, Azure
// CLI, Azure Developer CLI) against the boundary's authority host.
package azure

import (
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// clouds maps the catalog's source names of Azure boundaries to the SDK's
// cloud configurations.
var clouds = map[string]cloud.Configuration{
	"AzurePublic":       cloud.AzurePublic,
	"AzureUSGovernment": cloud.AzureGovernment,
	"AzureChina":        cloud.AzureChina,
}

// Boundary returns the catalog's Azure boundary with id (public, us-gov,
// china); "" means public.
func Boundary(id string) (regions.Boundary, error) {
	if id == "" {
		id = "public"
	}
	b, ok := regions.Default().Boundary("azure", id)
	if !ok {
		return regions.Boundary{}, driver.Errorf(driver.Invalid, "azure: unknown boundary %q", id)
	}
	return b, nil
}

// Cloud returns the SDK's cloud configuration for boundary b: its
// authority host and its Resource Manager endpoint and token audience.
func Cloud(b regions.Boundary) (cloud.Configuration, error) {
	c, ok := clouds[b.Source]
	if !ok || b.Cloud != "azure" {
		return cloud.Configuration{}, driver.Errorf(driver.Invalid, "azure: boundary %s/%s (%s) has no known cloud configuration", b.Cloud, b.ID, b.Source)
	}
	return c, nil
}

// SettingTenant is the boundary provider setting naming the Microsoft
// Entra tenant the default credential chain authenticates in (not secret).
const SettingTenant = "tenantId"

// DefaultCredential returns azidentity's default credential chain
// (environment, workload identity, managed identity, Azure CLI, Azure
// Developer CLI) for the boundary of opts: its cloud's authority host, the
// tenant of its "tenantId" setting, and opts' transport and retries.
func DefaultCredential(opts *Options) (azcore.TokenCredential, error) {
	scope, err := NewScope(opts)
	if err != nil {
		return nil, err
	}
	return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: scope.Client,
		TenantID:      scope.Settings[SettingTenant],
	})
}

// Options configures an Azure driver. A nil *Options means defaults, and
// the zero value of every field is its default.
type Options struct {
	// Boundary is the Azure boundary the driver serves: public (the
	// default), us-gov or china.
	Boundary string
	// Settings are the boundary's provider settings from the spec
	// (placement.BoundaryRule.Provider): subscription, resource group and
	// resource name templates, App Configuration store. Never credentials.
	Settings map[string]string
	// ClientOptions are the SDK's client options: transport, retry,
	// logging. Their Cloud, when set, replaces the boundary's (a fake's
	// endpoints in tests).
	ClientOptions policy.ClientOptions
	// PollInterval is the wait between two polls of a long-running
	// operation when the service sends no Retry-After (default 2s).
	PollInterval time.Duration
}

// PollEvery returns the poll interval, defaulted.
func (o *Options) PollEvery() time.Duration {
	if o == nil || o.PollInterval <= 0 {
		return 2 * time.Second
	}
	return o.PollInterval
}

// Scope is the boundary a driver serves, the client options bound to its
// cloud, and the settings that map its targets to resources.
type Scope struct {
	Boundary regions.Boundary
	Settings map[string]string
	Client   policy.ClientOptions
	Poll     time.Duration
}

// NewScope resolves opts (nil means defaults) to a Scope: the boundary, and
// client options whose Cloud is the boundary's unless opts set one.
func NewScope(opts *Options) (Scope, error) {
	if opts == nil {
		opts = &Options{}
	}
	b, err := Boundary(opts.Boundary)
	if err != nil {
		return Scope{}, err
	}
	co := opts.ClientOptions
	if co.Cloud.ActiveDirectoryAuthorityHost == "" && len(co.Cloud.Services) == 0 {
		if co.Cloud, err = Cloud(b); err != nil {
			return Scope{}, err
		}
	}
	return Scope{Boundary: b, Settings: opts.Settings, Client: co, Poll: opts.PollEvery()}, nil
}

// ARM returns the Resource Manager client options of the scope.
func (s Scope) ARM() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: s.Client}
}

// Boundary provider settings that map targets to resources. Each may be
// suffixed with ".<environment>" to apply to one environment only.
const (
	// SettingSubscription is the subscription id targets live in (required).
	SettingSubscription = "subscription"
	// SettingResourceGroup is a resource group name template; default
	// "{cell}" for targets with a cell, else "meridian-{environment}-{region}".
	SettingResourceGroup = "resourceGroup"
	// SettingContainerApp is the container app name template; default "{service}".
	SettingContainerApp = "containerApp"
)

// Setting returns the boundary setting key for target t: "key.<environment>"
// when set, else "key".
func (s Scope) Setting(key string, t driver.Target) string {
	if v := s.Settings[key+"."+t.Environment]; v != "" {
		return v
	}
	return s.Settings[key]
}

// Check refuses a target outside the scope's boundary, or whose region is
// not one of the boundary's Azure regions.
func (s Scope) Check(t driver.Target) error {
	if t.Cloud != "azure" || t.Boundary != s.Boundary.ID {
		return driver.Errorf(driver.Invalid, "target %s is outside this driver's boundary azure/%s", t.ID(), s.Boundary.ID)
	}
	r, ok := regions.Default().Region("azure", t.Region)
	if !ok || r.Boundary != s.Boundary.ID {
		return driver.Errorf(driver.Invalid, "target %s: %q is not an Azure region of boundary %s", t.ID(), t.Region, s.Boundary.ID)
	}
	return nil
}

// Resource is where a target lives: its subscription and resource group.
type Resource struct {
	Subscription  string
	ResourceGroup string
}

// Resource maps a target to its subscription and resource group (see
// SettingSubscription and SettingResourceGroup), after Check.
func (s Scope) Resource(t driver.Target) (Resource, error) {
	if err := s.Check(t); err != nil {
		return Resource{}, err
	}
	sub := driver.Expand(s.Setting(SettingSubscription, t), t)
	if sub == "" {
		return Resource{}, driver.Errorf(driver.Invalid, "no Azure subscription for target %s: set the boundary's provider setting %q or %q",
			t.ID(), SettingSubscription+"."+t.Environment, SettingSubscription)
	}
	rg := s.Setting(SettingResourceGroup, t)
	if rg == "" {
		rg = "meridian-{environment}-{region}"
		if t.Cell != "" {
			rg = "{cell}"
		}
	}
	return Resource{Subscription: sub, ResourceGroup: driver.Expand(rg, t)}, nil
}

// ContainerApp maps a target to its container app: where it lives (see
// Resource) and its name (see SettingContainerApp).
func (s Scope) ContainerApp(t driver.Target) (Resource, string, error) {
	res, err := s.Resource(t)
	if err != nil {
		return Resource{}, "", err
	}
	name := s.Setting(SettingContainerApp, t)
	if name == "" {
		name = "{service}"
	}
	return res, driver.Expand(name, t), nil
}

// ID is the resource id of the resource of type (Microsoft.App/containerApps, …)
// and name in r.
func (r Resource) ID(typ, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s", r.Subscription, r.ResourceGroup, typ, name)
}

// Clients makes and caches one SDK client per subscription (Azure's ARM
// clients are bound to one).
type Clients[C any] struct {
	newClient func(subscription string) (C, error)

	mu sync.Mutex
	m  map[string]C
}

// NewClients returns a cache that builds clients with newClient.
func NewClients[C any](newClient func(subscription string) (C, error)) *Clients[C] {
	return &Clients[C]{newClient: newClient, m: map[string]C{}}
}

// NewARMClients returns a cache of Resource Manager clients made with
// newClient (armappcontainers.NewContainerAppsClient, …) for cred, bound
// to s's cloud.
func NewARMClients[C any](s Scope, cred azcore.TokenCredential, newClient func(string, azcore.TokenCredential, *arm.ClientOptions) (C, error)) *Clients[C] {
	return NewClients(func(subscription string) (C, error) { return newClient(subscription, cred, s.ARM()) })
}

// For returns the client for subscription.
func (c *Clients[C]) For(subscription string) (C, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[subscription]
	if !ok {
		var err error
		if cl, err = c.newClient(subscription); err != nil {
			return cl, err
		}
		c.m[subscription] = cl
	}
	return cl, nil
}
