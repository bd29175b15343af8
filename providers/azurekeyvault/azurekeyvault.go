// Package azurekeyvault resolves the secret references of config documents
// ({"secretRef": "NAME"}) in Azure Key Vault: it implements
// driver.SecretResolver, which the portable type calls right before a
// config driver applies a document (see package providers).
//
// A target's vault is the boundary's "keyVaultURL" setting (a URL
// template, for a private endpoint or a test), else
// https://<vault>.<suffix> with vault from "keyVault" (a name template,
// default "meridian-{environment}") and the suffix of the boundary's
// cloud: vault.azure.net, vault.usgovcloudapi.net (us-gov) or
// vault.azure.cn (china); each setting may be suffixed ".<environment>".
// Key Vault names have no slashes, so each slash of a secret's name is a
// dash there: "billing/db-password" is the secret billing-db-password.
// Resolve reads its current version, so a rotated secret is what the next
// config release applies. Tokens come from the boundary's credential, for
// the resource Key Vault's authentication challenge names (the SDK checks
// that it matches the vault's domain); the identity needs the Key Vault
// Secrets User role (or a get-secret access policy).
package azurekeyvault

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Options configures the resolver; nil means defaults.
type Options = azure.Options

// Boundary provider settings the resolver reads (each may be suffixed
// ".<environment>").
const (
	SettingVaultURL = "keyVaultURL" // vault URL template
	SettingVault    = "keyVault"    // vault name template
)

// suffixes are Key Vault's DNS suffixes in Azure's clouds, by the
// catalog's boundary source.
var suffixes = map[string]string{
	"AzurePublic":       "vault.azure.net",
	"AzureUSGovernment": "vault.usgovcloudapi.net",
	"AzureChina":        "vault.azure.cn",
}

// Resolver reads secrets from the Key Vaults of one Azure boundary.
type Resolver struct {
	scope   azure.Scope
	suffix  string
	clients *azure.Clients[*azsecrets.Client]
}

var _ driver.SecretResolver = (*Resolver)(nil)

// New returns a resolver that calls Key Vault with cred (see
// azure.DefaultCredential) in the cloud of opts.Boundary.
func New(cred azcore.TokenCredential, opts *Options) (*Resolver, error) {
	scope, err := azure.NewScope(opts)
	if err != nil {
		return nil, err
	}
	return &Resolver{
		scope:  scope,
		suffix: suffixes[scope.Boundary.Source],
		clients: azure.NewClients(func(vaultURL string) (*azsecrets.Client, error) {
			return azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: scope.Client})
		}),
	}, nil
}

// ErrorCode maps Key Vault and resolver errors to driver codes: a secret
// that does not exist (SecretNotFound) is NotFound, 429 Throttled, 403
// (no permission, a disabled secret) PermissionDenied.
func (r *Resolver) ErrorCode(err error) driver.Code { return azure.ErrorCode(err) }

// VaultURL is the Key Vault a target's secrets are read from.
func (r *Resolver) VaultURL(t driver.Target) (string, error) {
	if err := r.scope.Check(t); err != nil {
		return "", err
	}
	if u := r.scope.Setting(SettingVaultURL, t); u != "" {
		return driver.Expand(u, t), nil
	}
	vault := r.scope.Setting(SettingVault, t)
	if vault == "" {
		vault = "meridian-{environment}"
	}
	return fmt.Sprintf("https://%s.%s", driver.Expand(vault, t), r.suffix), nil
}

// vaultName is a valid Key Vault secret name.
var vaultName = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// SecretName is the Key Vault name of the spec's secret name: each slash
// a dash.
func SecretName(name string) (string, error) {
	n := strings.ReplaceAll(name, "/", "-")
	if !vaultName.MatchString(n) {
		return "", driver.Errorf(driver.Invalid, "secret name %q cannot be a Key Vault secret name (letters, digits and dashes, at most 127)", name)
	}
	return n, nil
}

// Resolve returns the current version's value of the secret name in t's
// vault.
func (r *Resolver) Resolve(ctx context.Context, t driver.Target, name string) (string, error) {
	vault, err := r.VaultURL(t)
	if err != nil {
		return "", err
	}
	n, err := SecretName(name)
	if err != nil {
		return "", err
	}
	c, err := r.clients.For(vault)
	if err != nil {
		return "", err
	}
	resp, err := c.GetSecret(ctx, n, "", nil)
	if err != nil {
		return "", fmt.Errorf("get secret %s from key vault %s: %w", n, vault, err)
	}
	if resp.Value == nil {
		return "", driver.Errorf(driver.Invalid, "secret %s in key vault %s has no value", n, vault)
	}
	return *resp.Value, nil
}
