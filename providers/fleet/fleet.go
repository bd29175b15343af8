// Package fleet builds the providers a worker serves from the spec: one
// providers.Provider per (cloud, boundary), whose drivers and their settings
// come from the boundary's rule (placement.BoundaryRule.Provider).
//
// Each cloud has default drivers, one per capability:
//
//	cloud  deploy              config          gates          secrets
//	aws    awsecs              awsappconfig    awscloudwatch  awssecretsmanager
//	azure  azurecontainerapps  azureappconfig  azuremonitor   azurekeyvault
//	gcp    gcprun              gcprun          gcpmonitoring  gcpsecretmanager
//	local  local               local           local          localsecrets
//
// (local also gives its demo sharder.) The secrets driver resolves the
// secret references of config documents inside the boundary, when its
// worker applies them (see package providers). A boundary chooses other
// drivers with the settings "driver", "configDriver", "gateDriver" and
// "secretsDriver"; "endpoint" points every client of the boundary at
// another endpoint (a proxy, a fake), and "endpoint.<driver>" one driver's
// clients only (a VPC or Private Service Connect endpoint). Every other
// setting is passed to the drivers, which document their own (profile,
// roleArn, subscription, resourceGroup, project, keyVault, secretsDir…).
// See docs/providers.md.
//
// Credentials come from each SDK's default chain for the boundary: AWS's
// (with the boundary's profile and role), azidentity's against the
// boundary's authority host, and Google's Application Default Credentials.
// Options can replace how Azure and GCP clients authenticate and connect,
// for tests and unusual setups; specs never carry credentials.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"google.golang.org/api/option"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local"
	"github.com/meridian-deploy/meridian/regions"
)

// Boundary provider settings read here; the drivers read the others.
const (
	// SettingDriver names the deploy driver (awsecs, gcprun, …).
	SettingDriver = "driver"
	// SettingConfigDriver names the config driver (awsappconfig, …).
	SettingConfigDriver = "configDriver"
	// SettingGateDriver names the gate driver (awscloudwatch, …).
	SettingGateDriver = "gateDriver"
	// SettingSecretsDriver names the secrets driver (awssecretsmanager, …).
	SettingSecretsDriver = "secretsDriver"
	// SettingEndpoint replaces the endpoint of every client of the
	// boundary: a base URL for AWS, the Resource Manager URL for Azure, a
	// host:port for GCP. "endpoint.<driver>" applies to one driver and wins.
	SettingEndpoint = "endpoint"
)

// Options configure Open; nil means defaults.
type Options struct {
	// Local configures the local cloud's provider (state directory,
	// binaries); one provider serves every local boundary.
	Local *local.Options
	// AWS returns SDK load options for an AWS boundary, applied after its
	// settings (an HTTP client, a retryer). Credentials stay with the
	// default chain: environment, shared files, SSO, web identity, roles.
	AWS func(b regions.Boundary) []func(*config.LoadOptions) error
	// Azure returns the credential and client options (transport, retry)
	// of an Azure boundary. Nil: azidentity's default chain against the
	// boundary's authority host, and the SDK's client options.
	Azure func(b regions.Boundary) (azcore.TokenCredential, policy.ClientOptions, error)
	// GCP returns client options for a GCP boundary, applied before the
	// endpoint settings (credentials other than Application Default
	// Credentials, a transport).
	GCP func(b regions.Boundary) []option.ClientOption
	// PollInterval is how often the Azure and GCP drivers poll long-running
	// operations (default theirs, 2s).
	PollInterval time.Duration
}

// Fleet holds the providers of the boundaries a worker serves.
type Fleet struct {
	set     *providers.Set
	local   *local.Driver
	closers []func() error
}

// Set returns the providers, one per (cloud, boundary) of the rules.
func (f *Fleet) Set() *providers.Set { return f.set }

// Close releases every driver's connections and stops the local cloud's
// processes.
func (f *Fleet) Close() error {
	var errs []error
	if f.local != nil {
		errs = append(errs, f.local.Close())
	}
	return errors.Join(append(errs, f.closeClients())...)
}

// Detach releases every driver's connections and leaves the local cloud's
// processes running, as services in a cloud outlive the worker that
// deployed them; a later Open on the same state directory adopts them.
func (f *Fleet) Detach() error {
	if f.local != nil {
		f.local.Detach()
	}
	return f.closeClients()
}

func (f *Fleet) closeClients() error {
	var errs []error
	for _, c := range slices.Backward(f.closers) {
		errs = append(errs, c())
	}
	f.closers = nil
	return errors.Join(errs...)
}

// capability is what a driver does for a Provider.
type capability int

const (
	deploy capability = 1 << iota
	configure
	gates
	secrets
)

func (c capability) String() string {
	switch c {
	case deploy:
		return "deploy"
	case configure:
		return "config"
	case secrets:
		return "secrets"
	}
	return "gate"
}

// driverDef is a driver Open can build: the cloud it serves, what it does,
// and how to build it for a boundary.
type driverDef struct {
	cloud string
	can   capability
	build func(*boundary) (any, error)
}

// drivers are the drivers Open knows, by the name a boundary's settings use.
var drivers = map[string]driverDef{
	"awsecs":             {"aws", deploy, buildECS},
	"awsappconfig":       {"aws", configure, buildAppConfig},
	"awscloudwatch":      {"aws", gates, buildCloudWatch},
	"azurecontainerapps": {"azure", deploy, buildContainerApps},
	"azureappconfig":     {"azure", configure, buildAzureAppConfig},
	"azuremonitor":       {"azure", gates, buildAzureMonitor},
	"gcprun":             {"gcp", deploy | configure, buildCloudRun},
	"gcpmonitoring":      {"gcp", gates, buildCloudMonitoring},
	"local":              {"local", deploy | configure | gates, buildLocal},
	"awssecretsmanager":  {"aws", secrets, buildSecretsManager},
	"azurekeyvault":      {"azure", secrets, buildKeyVault},
	"gcpsecretmanager":   {"gcp", secrets, buildSecretManager},
	"localsecrets":       {"local", secrets, buildLocalSecrets},
}

// choice is the drivers chosen for one boundary, by capability.
type choice struct {
	deploy, config, gates, secrets string
}

// defaults are each cloud's drivers.
var defaults = map[string]choice{
	"aws":   {"awsecs", "awsappconfig", "awscloudwatch", "awssecretsmanager"},
	"azure": {"azurecontainerapps", "azureappconfig", "azuremonitor", "azurekeyvault"},
	"gcp":   {"gcprun", "gcprun", "gcpmonitoring", "gcpsecretmanager"},
	"local": {"local", "local", "local", "localsecrets"},
}

// choose reads the driver settings of a rule, checked against the cloud
// each driver serves and what it can do.
func choose(r placement.BoundaryRule) (choice, error) {
	c, ok := defaults[r.Cloud]
	if !ok {
		return choice{}, fmt.Errorf("boundary %s/%s: no drivers for cloud %q (known clouds: %s)",
			r.Cloud, r.Boundary, r.Cloud, strings.Join(slices.Sorted(maps.Keys(defaults)), ", "))
	}
	for _, s := range []struct {
		key  string
		can  capability
		name *string
	}{
		{SettingDriver, deploy, &c.deploy},
		{SettingConfigDriver, configure, &c.config},
		{SettingGateDriver, gates, &c.gates},
		{SettingSecretsDriver, secrets, &c.secrets},
	} {
		name := r.Provider[s.key]
		if name == "" {
			continue
		}
		if d, ok := drivers[name]; !ok || d.cloud != r.Cloud || d.can&s.can == 0 {
			return choice{}, fmt.Errorf("boundary %s/%s: provider setting %s: %q is not a %s driver for %s (choose one of: %s)",
				r.Cloud, r.Boundary, s.key, name, s.can, r.Cloud, strings.Join(able(r.Cloud, s.can), ", "))
		}
		*s.name = name
	}
	return c, nil
}

// able lists the drivers of cloud that can do c.
func able(cloud string, c capability) []string {
	var names []string
	for name, d := range drivers {
		if d.cloud == cloud && d.can&c != 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Open builds the provider of every rule's (cloud, boundary). A rule
// naming an unknown cloud, boundary or driver fails the whole Open with an
// error naming the boundary. Close or Detach the Fleet when done.
func Open(ctx context.Context, rules []placement.BoundaryRule, opts *Options) (*Fleet, error) {
	if opts == nil {
		opts = &Options{}
	}
	f := &Fleet{set: providers.NewSet()}
	for _, r := range rules {
		p, kp, err := f.open(ctx, r, opts)
		if err != nil {
			_ = f.Detach()
			return nil, err
		}
		f.set.Add(r.Cloud, r.Boundary, p)
		f.set.AddRuntime(placement.RuntimeKubernetes, r.Cloud, r.Boundary, kp)
	}
	return f, nil
}

// boundary is what the drivers of one boundary are built from. Drivers
// serving several capabilities (gcprun, local) are built once.
type boundary struct {
	ctx   context.Context
	rule  placement.BoundaryRule
	b     regions.Boundary
	opts  *Options
	fleet *Fleet
	built map[string]any
	aws   *aws.Config // loaded on first use
	azure *azureAuth  // resolved on first use
}

// open builds the providers of one rule: its cloud's drivers, and the
// Kubernetes driver for its Kubernetes targets.
func (f *Fleet) open(ctx context.Context, r placement.BoundaryRule, opts *Options) (*providers.Provider, *providers.Provider, error) {
	c, err := choose(r)
	if err != nil {
		return nil, nil, err
	}
	b, ok := regions.Default().Boundary(r.Cloud, r.Boundary)
	if !ok {
		return nil, nil, fmt.Errorf("boundary %s/%s: not in the region catalog", r.Cloud, r.Boundary)
	}
	bd := &boundary{ctx: ctx, rule: r, b: b, opts: opts, fleet: f, built: map[string]any{}}
	var po providers.Options
	dep, err := build[driver.Deployer](bd, c.deploy)
	if err == nil {
		po.Configurer, err = build[driver.Configurer](bd, c.config)
	}
	if err == nil {
		po.Gates, err = build[driver.GateEvaluator](bd, c.gates)
	}
	if err == nil {
		po.Secrets, err = build[driver.SecretResolver](bd, c.secrets)
	}
	if err != nil && r.Runtime == placement.RuntimeKubernetes {
		// A Kubernetes boundary's clusters need none of the cloud's
		// drivers (a kubeconfig reaches them): it serves them without,
		// and what would need them fails with the reason.
		err = fmt.Errorf("boundary %s/%s: its %s drivers could not start: %w", r.Cloud, r.Boundary, r.Cloud, err)
		kp, kerr := kubernetesProvider(bd, nil, nil)
		if kerr != nil {
			return nil, nil, fmt.Errorf("boundary %s/%s: %w", r.Cloud, r.Boundary, kerr)
		}
		return providers.New(unavailable{err}, nil), kp, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("boundary %s/%s: %w", r.Cloud, r.Boundary, err)
	}
	if lp, ok := dep.(*local.Driver); ok {
		po.Sharder = lp.Sharder()
	}
	kp, err := kubernetesProvider(bd, po.Gates, po.Secrets)
	if err != nil {
		return nil, nil, fmt.Errorf("boundary %s/%s: %w", r.Cloud, r.Boundary, err)
	}
	return providers.New(dep, &po), kp, nil
}

// build returns the driver name of the boundary as a T, building it on first use.
func build[T any](bd *boundary, name string) (T, error) {
	var zero T
	d, ok := bd.built[name]
	if !ok {
		var err error
		if d, err = drivers[name].build(bd); err != nil {
			return zero, fmt.Errorf("driver %s: %w", name, err)
		}
		// The local provider is stopped or detached by Close and Detach.
		if c, ok := d.(interface{ Close() error }); ok && d != any(bd.fleet.local) {
			bd.fleet.closers = append(bd.fleet.closers, c.Close)
		}
		bd.built[name] = d
	}
	t, ok := d.(T)
	if !ok {
		return zero, fmt.Errorf("driver %s does not implement %T", name, (*T)(nil))
	}
	return t, nil
}

// endpoint is the endpoint setting for a driver: "endpoint.<driver>", else
// "endpoint", else "" (the SDK's own for the boundary).
func (bd *boundary) endpoint(driver string) string {
	if e := bd.rule.Provider[SettingEndpoint+"."+driver]; e != "" {
		return e
	}
	return bd.rule.Provider[SettingEndpoint]
}

func buildLocal(bd *boundary) (any, error) {
	f := bd.fleet
	if f.local == nil {
		lp, err := local.New(bd.opts.Local)
		if err != nil {
			return nil, err
		}
		f.local = lp
	}
	return f.local, nil
}

// buildLocalSecrets reads the local cloud's secrets from the boundary's
// "secretsDir" setting, else from the local provider's secrets directory
// (local.Options.SecretsDir).
func buildLocalSecrets(bd *boundary) (any, error) {
	if dir := bd.rule.Provider[local.SettingSecretsDir]; dir != "" {
		return local.NewSecretFiles(dir), nil
	}
	if _, err := buildLocal(bd); err != nil {
		return nil, err
	}
	return bd.fleet.local.Secrets(), nil
}
