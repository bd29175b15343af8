package placement_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// TestSecretRefsCompile: secret references at any depth of config, in
// lists and written with schema.#SecretRef compile into the model as they
// were written, and the names they hold are never taken for credentials,
// even one shaped like an AWS access key id.
func TestSecretRefsCompile(t *testing.T) {
	dir := t.TempDir()
	spec := `package fleet

import "meridian.dev/schema"

environments: prod: aws: regions: ["us-east-1"]
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: billing: {
	owner: "payments"
	artifact: image: "registry.example.com/billing"
	placement: clouds: ["aws"]
	pipeline: "standard"
	config: {
		db: password: {secretRef: "billing/db-password"}
		env: [{name: "API_TOKEN", value: {secretRef: "billing/api-token"}}]
		odd: schema.#SecretRef & {secretRef: "AKIAIOSFODNN7EXAMPLE"}
		pool: 4
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := placement.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := placement.Compile(loaded, regions.Default())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	got, err := json.Marshal(m.Services[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"db":{"password":{"secretRef":"billing/db-password"}},"env":[{"name":"API_TOKEN","value":{"secretRef":"billing/api-token"}}],"odd":{"secretRef":"AKIAIOSFODNN7EXAMPLE"},"pool":4}`
	if string(got) != want {
		t.Errorf("config = %s\nwant     %s", got, want)
	}
}

// TestSecretRef: which decoded JSON values are secret references.
func TestSecretRef(t *testing.T) {
	for _, tc := range []struct {
		v      any
		name   string
		ok, is bool
	}{
		{map[string]any{"secretRef": "billing/db-password"}, "billing/db-password", true, true},
		{map[string]any{"secretRef": "a-b/c1"}, "a-b/c1", true, true},
		{map[string]any{"secretRef": "billing//db"}, "", false, true},
		{map[string]any{"secretRef": "/billing"}, "", false, true},
		{map[string]any{"secretRef": "billing.key"}, "", false, true},
		{map[string]any{"secretRef": ""}, "", false, true},
		{map[string]any{"secretRef": 1}, "", false, true},
		{map[string]any{"secretRef": "x", "version": "2"}, "", false, true},
		{map[string]any{"password": "x"}, "", false, false},
		{"secretRef", "", false, false},
		{nil, "", false, false},
	} {
		name, ok := placement.SecretRef(tc.v)
		if name != tc.name || ok != tc.ok || placement.IsSecretRefObject(tc.v) != tc.is {
			t.Errorf("SecretRef(%v) = %q, %v (object %v); want %q, %v (object %v)", tc.v, name, ok, placement.IsSecretRefObject(tc.v), tc.name, tc.ok, tc.is)
		}
	}
}
