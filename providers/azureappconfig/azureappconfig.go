// Package azureappconfig is Meridian's config driver on Azure App
// Configuration (data plane, azappconfig v1.2.0).
//
// Each config version is one key-value: key "meridian/<service>/config",
// label "<environment>/<version>", content type application/json, value the
// JSON document. Versions are immutable: applying a version that exists
// with other data is refused. What a target runs is a sentinel key-value,
// key "meridian/<service>/live", label "<environment>/<region>[/<cell>]",
// whose value is the JSON pointer {"version": live, "previous": before}: an
// application watches the sentinel (App Configuration providers refresh on
// a sentinel key) and loads the config key under the label
// "<environment>/<version>". ApplyConfig writes the version and moves the
// sentinel, RollbackConfig moves the sentinel back, both with If-Match on
// the sentinel's ETag so that concurrent moves conflict instead of racing.
// RemoveConfig deletes the sentinel the same way, and CurrentConfig reads
// it. A revision is the version.
//
// A version whose document holds resolved secrets (ConfigRequest.Source
// set) has a second key-value, key "meridian/<service>/config-source"
// under the same label, holding the document as written, with its secret
// references: RemoveConfig returns that one, never the values.
//
// The store is the boundary's "appConfigEndpoint" setting (a URL template),
// else https://<store>.<suffix> with store from "appConfigStore" (default
// "meridian-{environment}") and the boundary's suffix: azconfig.io,
// azconfig.azure.us (us-gov) or azconfig.azure.cn (china).
package azureappconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azappconfig"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Options configures the driver; nil means defaults.
type Options = azure.Options

// Boundary provider settings the driver reads (each may be suffixed
// ".<environment>").
const (
	SettingEndpoint = "appConfigEndpoint" // store URL template
	SettingStore    = "appConfigStore"    // store name template
)

// suffixes are the App Configuration DNS suffixes of Azure's clouds, by
// the catalog's boundary source.
var suffixes = map[string]string{
	"AzurePublic":       "azconfig.io",
	"AzureUSGovernment": "azconfig.azure.us",
	"AzureChina":        "azconfig.azure.cn",
}

// ContentType is the content type of config versions.
const ContentType = "application/json"

// Driver delivers config through the App Configuration stores of one
// Azure boundary. It implements driver.Configurer and
// driver.ConfigRemover.
type Driver struct {
	scope   azure.Scope
	suffix  string
	clients *azure.Clients[*azappconfig.Client]
}

var _ driver.Configurer = (*Driver)(nil)

// New returns a driver that calls App Configuration with cred (see
// azure.DefaultCredential) in the cloud of opts.Boundary.
func New(cred azcore.TokenCredential, opts *Options) (*Driver, error) {
	scope, err := azure.NewScope(opts)
	if err != nil {
		return nil, err
	}
	return &Driver{
		scope:  scope,
		suffix: suffixes[scope.Boundary.Source],
		clients: azure.NewClients(func(endpoint string) (*azappconfig.Client, error) {
			return azappconfig.NewClient(endpoint, cred, &azappconfig.ClientOptions{ClientOptions: scope.Client})
		}),
	}, nil
}

// ErrorCode maps the driver's errors to driver codes.
func (d *Driver) ErrorCode(err error) driver.Code { return azure.ErrorCode(err) }

// Endpoint is the App Configuration store a target's config lives in.
func (d *Driver) Endpoint(t driver.Target) (string, error) {
	if err := d.scope.Check(t); err != nil {
		return "", err
	}
	if e := d.scope.Setting(SettingEndpoint, t); e != "" {
		return driver.Expand(e, t), nil
	}
	store := d.scope.Setting(SettingStore, t)
	if store == "" {
		store = "meridian-{environment}"
	}
	return fmt.Sprintf("https://%s.%s", driver.Expand(store, t), d.suffix), nil
}

// store is a target's store client and its keys.
type store struct {
	client      *azappconfig.Client
	endpoint    string
	configKey   string // meridian/<service>/config
	sourceKey   string // meridian/<service>/config-source
	sentinelKey string // meridian/<service>/live
	environment string
	scope       string // the sentinel's label
}

func (s store) String() string { return "app configuration store " + s.endpoint }

// versionLabel is the label of a config version's key-value.
func (s store) versionLabel(version string) string { return s.environment + "/" + version }

func (d *Driver) store(t driver.Target) (store, error) {
	endpoint, err := d.Endpoint(t)
	if err != nil {
		return store{}, err
	}
	c, err := d.clients.For(endpoint)
	if err != nil {
		return store{}, err
	}
	scope := t.Environment + "/" + t.Region
	if t.Cell != "" {
		scope += "/" + t.Cell
	}
	return store{
		client:      c,
		endpoint:    endpoint,
		configKey:   "meridian/" + t.Service + "/config",
		sourceKey:   "meridian/" + t.Service + "/config-source",
		sentinelKey: "meridian/" + t.Service + "/live",
		environment: t.Environment,
		scope:       scope,
	}, nil
}

// get returns a key-value, nil if it does not exist.
func (s store) get(ctx context.Context, key, label string) (*azappconfig.Setting, error) {
	resp, err := s.client.GetSetting(ctx, key, &azappconfig.GetSettingOptions{Label: to.Ptr(label)})
	if azure.ErrorCode(err) == driver.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s (label %s) from %s: %w", key, label, s, err)
	}
	return &resp.Setting, nil
}

// Pointer is the sentinel's value: the live version and the one before it.
type Pointer struct {
	Version  string `json:"version"`
	Previous string `json:"previous,omitempty"`
}

// sentinel is the target's sentinel key-value and the pointer it holds.
type sentinel struct {
	Pointer
	etag *azcore.ETag // nil when the target never had config
}

// live reads the sentinel.
func (s store) live(ctx context.Context) (sentinel, error) {
	kv, err := s.get(ctx, s.sentinelKey, s.scope)
	if err != nil || kv == nil {
		return sentinel{}, err
	}
	var p Pointer
	if kv.Value == nil || json.Unmarshal([]byte(*kv.Value), &p) != nil || p.Version == "" {
		return sentinel{}, driver.Errorf(driver.Invalid, "%s (label %s) in %s is not a Meridian pointer", s.sentinelKey, s.scope, s)
	}
	return sentinel{Pointer: p, etag: kv.ETag}, nil
}

// point moves the sentinel from live to version, only if it has not moved
// since it was read (If-Match its ETag, or If-None-Match * for the first).
func (s store) point(ctx context.Context, live sentinel, version string) error {
	value, err := json.Marshal(Pointer{Version: version, Previous: live.Version})
	if err != nil {
		return err
	}
	label := to.Ptr(s.scope)
	if live.etag == nil {
		_, err = s.client.AddSetting(ctx, s.sentinelKey, to.Ptr(string(value)), &azappconfig.AddSettingOptions{Label: label, ContentType: to.Ptr(ContentType)})
	} else {
		_, err = s.client.SetSetting(ctx, s.sentinelKey, to.Ptr(string(value)), &azappconfig.SetSettingOptions{Label: label, ContentType: to.Ptr(ContentType), OnlyIfUnchanged: live.etag})
	}
	if err != nil {
		return fmt.Errorf("point %s (label %s) of %s at %s: %w", s.sentinelKey, s.scope, s, version, err)
	}
	return nil
}

// ApplyConfig writes req.Version (if new) and makes it the target's live config.
func (d *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	if req.Version == "" {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "app configuration: apply needs a version")
	}
	s, err := d.store(req.Target)
	if err != nil {
		return driver.Deployment{}, err
	}
	live, err := s.live(ctx)
	if err != nil {
		return driver.Deployment{}, err
	}
	if live.Version == req.Version {
		return driver.Deployment{Revision: req.Version, Previous: live.Previous}, nil
	}
	if err := s.write(ctx, s.configKey, req.Version, string(req.Data)); err != nil {
		return driver.Deployment{}, err
	}
	if req.Source != nil {
		if err := s.write(ctx, s.sourceKey, req.Version, string(req.Source)); err != nil {
			return driver.Deployment{}, err
		}
	}
	if err := s.point(ctx, live, req.Version); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: req.Version, Previous: live.Version, Changed: true}, nil
}

// write adds the key-value key of a config version, or checks that the
// one there holds the same data.
func (s store) write(ctx context.Context, key, version, data string) error {
	label := s.versionLabel(version)
	_, err := s.client.AddSetting(ctx, key, to.Ptr(data), &azappconfig.AddSettingOptions{Label: to.Ptr(label), ContentType: to.Ptr(ContentType)})
	var resp *azcore.ResponseError
	if errors.As(err, &resp) && resp.StatusCode == http.StatusPreconditionFailed {
		existing, err := s.get(ctx, key, label)
		if err != nil {
			return err
		}
		if existing == nil || existing.Value == nil || *existing.Value != data {
			return driver.Errorf(driver.Invalid, "config version %s of %s exists in %s with other data: versions are immutable and shared by the environment's targets (a secret it references differs between them, or changed since it was applied: give each region its own store with the appConfigStore setting, or release a new config version)", version, key, s)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("add %s (label %s) to %s: %w", key, label, s, err)
	}
	return nil
}

// ConfigStatus reports whether version is the target's live config.
func (d *Driver) ConfigStatus(ctx context.Context, t driver.Target, version string) (driver.Status, error) {
	s, err := d.store(t)
	if err != nil {
		return driver.Status{}, err
	}
	kv, err := s.get(ctx, s.configKey, s.versionLabel(version))
	if err != nil {
		return driver.Status{}, err
	}
	if kv == nil {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s has no config version %q of %s", s, version, s.configKey)
	}
	live, err := s.live(ctx)
	if err != nil {
		return driver.Status{}, err
	}
	st := driver.Status{Revision: version, State: driver.StateReady, Ready: 1, Desired: 1}
	if live.Version != version {
		st.State, st.Ready = driver.StateFailed, 0
		st.Reason = fmt.Sprintf("config %s is not live for %s: %s (label %s) points at %q", version, s.scope, s.sentinelKey, s.scope, live.Version)
	}
	return st, nil
}

// RollbackConfig points the target's sentinel back at version.
func (d *Driver) RollbackConfig(ctx context.Context, t driver.Target, version string) error {
	s, err := d.store(t)
	if err != nil {
		return err
	}
	kv, err := s.get(ctx, s.configKey, s.versionLabel(version))
	if err != nil {
		return err
	}
	if kv == nil {
		return driver.Errorf(driver.NotFound, "%s has no config version %q to roll back to", s, version)
	}
	live, err := s.live(ctx)
	if err != nil {
		return err
	}
	if live.Version == version {
		return nil
	}
	return s.point(ctx, live, version)
}

var _ driver.ConfigRemover = (*Driver)(nil)

// RemoveConfig deletes the target's sentinel (If-Match its ETag, so that a
// concurrent move conflicts), so that the target has no live config; the
// version key-values stay, shared with the environment's other targets
// and immutable, and ApplyConfig of the removed version points a new
// sentinel at its key-value again. The ConfigRemoval's document is the
// version's config-source key-value when it has one.
func (d *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	s, err := d.store(t)
	if err != nil {
		return driver.ConfigRemoval{}, err
	}
	live, err := s.live(ctx)
	if err != nil || live.etag == nil {
		return driver.ConfigRemoval{}, err
	}
	r := driver.ConfigRemoval{Revision: live.Version, Version: live.Version}
	for _, key := range []string{s.sourceKey, s.configKey} {
		kv, err := s.get(ctx, key, s.versionLabel(live.Version))
		if err != nil {
			return driver.ConfigRemoval{}, err
		}
		if kv != nil && kv.Value != nil {
			r.Data = []byte(*kv.Value)
			break
		}
	}
	_, err = s.client.DeleteSetting(ctx, s.sentinelKey, &azappconfig.DeleteSettingOptions{Label: to.Ptr(s.scope), OnlyIfUnchanged: live.etag})
	if err != nil {
		return driver.ConfigRemoval{}, fmt.Errorf("delete %s (label %s) from %s: %w", s.sentinelKey, s.scope, s, err)
	}
	return r, nil
}
