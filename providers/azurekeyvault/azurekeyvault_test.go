package azurekeyvault_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azurekeyvault"
	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

var target = driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "us-gov", Region: "usgovvirginia"}

// TestResolve reads secrets with the real azsecrets client from the fake
// over TLS: the client answers Key Vault's authentication challenge with
// a token for the resource it names, slashes of a name become dashes, a
// rotated secret's newest version is read, and errors have their codes.
func TestResolve(t *testing.T) {
	fake := azurefake.New()
	defer fake.Close()
	cred := &azurefake.Credential{}
	const vault = "kv-billing.example.com" // the fake's client dials example.com hosts at the fake
	fake.PutKeyVaultSecret(vault, "billing-db-password", "s3cr3t-v1")
	r, err := azurekeyvault.New(cred, &azure.Options{
		Boundary:      "us-gov",
		Settings:      map[string]string{azurekeyvault.SettingVaultURL: "https://kv-{service}.example.com"},
		ClientOptions: fake.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := r.Resolve(ctx, target, "billing/db-password"); v != "s3cr3t-v1" || err != nil {
		t.Fatalf("Resolve = %q, %v", v, err)
	}
	if scopes := slices.Compact(cred.Scopes()); !slices.Equal(scopes, []string{"https://example.com/.default"}) {
		t.Errorf("tokens were asked for %v, want the challenge's resource", scopes)
	}
	fake.PutKeyVaultSecret(vault, "billing-db-password", "s3cr3t-v2")
	if v, _ := r.Resolve(ctx, target, "billing/db-password"); v != "s3cr3t-v2" {
		t.Errorf("after a rotation Resolve = %q, want the newest version", v)
	}
	for _, tc := range []struct {
		what, name string
		setup      func()
		tg         driver.Target
		code       driver.Code
	}{
		{"a missing secret", "billing/missing", func() {}, target, driver.NotFound},
		{"a store throttled past the retries", "billing/db-password", func() { fake.Throttle(5) }, target, driver.Throttled},
		{"a target of another boundary", "billing/db-password", func() {}, driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: "public", Region: "westeurope"}, driver.Invalid},
	} {
		tc.setup()
		_, err := r.Resolve(ctx, tc.tg, tc.name)
		if r.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v (code %v), want %v", tc.what, err, r.ErrorCode(err), tc.code)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error holds a secret's value: %v", tc.what, err)
		}
	}
}

// TestVaultURL: each boundary's vaults are in its own cloud's domain, and
// the settings choose the vault per environment.
func TestVaultURL(t *testing.T) {
	for _, tc := range []struct {
		boundary, region string
		settings         map[string]string
		want             string
	}{
		{"public", "westeurope", nil, "https://meridian-prod.vault.azure.net"},
		{"us-gov", "usgovvirginia", nil, "https://meridian-prod.vault.usgovcloudapi.net"},
		{"china", "chinanorth3", nil, "https://meridian-prod.vault.azure.cn"},
		{"public", "westeurope", map[string]string{"keyVault": "kv-{service}", "keyVault.prod": "kv-prod-{region}"}, "https://kv-prod-westeurope.vault.azure.net"},
		{"us-gov", "usgovvirginia", map[string]string{"keyVaultURL": "https://kv.privatelink.vaultcore.usgovcloudapi.net"}, "https://kv.privatelink.vaultcore.usgovcloudapi.net"},
	} {
		r, err := azurekeyvault.New(&azurefake.Credential{}, &azure.Options{Boundary: tc.boundary, Settings: tc.settings})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.VaultURL(driver.Target{Service: "billing", Environment: "prod", Cloud: "azure", Boundary: tc.boundary, Region: tc.region})
		if got != tc.want || err != nil {
			t.Errorf("%s %v: VaultURL = %q, %v; want %q", tc.boundary, tc.settings, got, err, tc.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]string{"billing/db-password": "billing-db-password", "db": "db", "a/b-c/d": "a-b-c-d", "x_y": "", strings.Repeat("a", 128): ""} {
		got, err := azurekeyvault.SecretName(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("SecretName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}
