package providers_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fake"
)

// secretStore is a driver.SecretResolver whose answers a test decides.
type secretStore struct {
	resolve func(t driver.Target, name string) (string, error)
}

func (s secretStore) Resolve(_ context.Context, t driver.Target, name string) (string, error) {
	return s.resolve(t, name)
}

func (secretStore) ErrorCode(err error) driver.Code {
	var e *driver.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return driver.Unknown
}

// values is a secretStore over a map, counting lookups.
func values(m map[string]string, lookups *int) secretStore {
	return secretStore{resolve: func(_ driver.Target, name string) (string, error) {
		*lookups++
		v, ok := m[name]
		if !ok {
			return "", driver.Errorf(driver.NotFound, "no secret %q", name)
		}
		return v, nil
	}}
}

var secretTarget = placement.Target{Service: "billing", Environment: "prod", Cloud: "local", Boundary: "public", Region: "us-east-1"}

const referencing = `{"db":{"password":{"secretRef":"billing/db-password"},"pool":4},"env":[{"name":"API_TOKEN","value":{"secretRef":"billing/api-token"}}],"replica":{"password":{"secretRef":"billing/db-password"}}}`

// TestApplyConfigResolvesSecretRefs: the driver gets the document with
// each reference replaced by the secret's value (each secret read once),
// and the document as written as its Source; RemoveConfig gives back the
// references, and RestoreConfig resolves them again, so a rotated secret
// is what the restored config holds.
func TestApplyConfigResolvesSecretRefs(t *testing.T) {
	ctx := context.Background()
	d := fake.New(nil)
	store := map[string]string{"billing/db-password": "s3cr3t-db", "billing/api-token": "t0ken-api"}
	var lookups int
	p := providers.New(d, &providers.Options{Secrets: values(store, &lookups)})

	if _, err := p.ApplyConfig(ctx, providers.ConfigRequest{Target: secretTarget, Version: "cfg-1", Data: []byte(referencing)}); err != nil {
		t.Fatal(err)
	}
	_, live := d.LiveConfig(secretTarget)
	const resolved = `{"db":{"password":"s3cr3t-db","pool":4},"env":[{"name":"API_TOKEN","value":"t0ken-api"}],"replica":{"password":"s3cr3t-db"}}`
	if string(live) != resolved || lookups != 2 {
		t.Fatalf("the driver got %s after %d lookups, want %s after 2", live, lookups, resolved)
	}

	r, err := p.RemoveConfig(ctx, secretTarget)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Data) != referencing {
		t.Fatalf("RemoveConfig's document is %s, want the references %s", r.Data, referencing)
	}
	store["billing/db-password"] = "r0tated-db"
	if _, err := p.RestoreConfig(ctx, secretTarget, r); err != nil {
		t.Fatal(err)
	}
	if _, live := d.LiveConfig(secretTarget); !bytes.Contains(live, []byte(`"password":"r0tated-db"`)) {
		t.Errorf("the restored config is %s, want the rotated secret", live)
	}
}

// TestConfigWithoutSecretRefsPassesUntouched: a document that references
// no secret reaches the driver byte for byte, even one that mentions
// secretRef as a value, and needs no secret store.
func TestConfigWithoutSecretRefsPassesUntouched(t *testing.T) {
	for _, doc := range []string{`{"pool": 4,  "name":"x"}`, `{"mode":"secretRef","list":["secretRef"]}`, `not json {"secretRef"`} {
		d := fake.New(nil)
		p := providers.New(d, nil)
		if _, err := p.ApplyConfig(context.Background(), providers.ConfigRequest{Target: secretTarget, Version: "v", Data: []byte(doc)}); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if _, live := d.LiveConfig(secretTarget); string(live) != doc {
			t.Errorf("the driver got %s, want %s untouched", live, doc)
		}
	}
}

// TestSecretRefErrors: what a failed resolution is, by code; no error
// holds a secret's value, and the driver is not called.
func TestSecretRefErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store driver.SecretResolver // nil: the worker has no store
		doc   string
		code  driver.Code
		text  string
	}{
		{"unknown secret", values(map[string]string{"billing/api-token": "t0ken-api"}, new(int)), referencing, driver.NotFound, `secret "billing/db-password"`},
		{"throttled store", secretStore{resolve: func(driver.Target, string) (string, error) {
			return "", driver.Errorf(driver.Throttled, "rate exceeded")
		}}, referencing, driver.Throttled, "rate exceeded"},
		{"no store", nil, referencing, driver.Invalid, "references secrets (billing/api-token, billing/db-password), but this worker has no secret store for local/public"},
		{"malformed reference", values(nil, new(int)), `{"db":{"password":{"secretRef":"x","version":"2"}},"l":[{"secretRef":""}]}`, driver.Invalid, "malformed secret reference at db.password, l[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fake.New(nil)
			p := providers.New(d, &providers.Options{Secrets: tc.store})
			_, err := p.ApplyConfig(context.Background(), providers.ConfigRequest{Target: secretTarget, Version: "cfg-1", Data: []byte(tc.doc)})
			if providers.Code(err) != tc.code || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("ApplyConfig: %v (code %v); want code %v and %q", err, providers.Code(err), tc.code, tc.text)
			}
			if tc.code.Retryable() != (tc.code == driver.Throttled) {
				t.Errorf("code %v retryable: %v", tc.code, tc.code.Retryable())
			}
			if strings.Contains(err.Error(), "t0ken-api") {
				t.Errorf("the error holds a secret's value: %v", err)
			}
			if v, _ := d.LiveConfig(secretTarget); v != "" {
				t.Errorf("the driver applied config %q", v)
			}
		})
	}
}
