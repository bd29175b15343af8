package placement

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"cuelang.org/go/cue"
)

// A service's config holds no secret values (see credentials.go). It names
// them instead: an object {secretRef: "billing/db-password"}, at any depth
// of config and in lists, is a secret reference. The document that travels
// through workflows keeps the reference; the worker of the target's
// boundary replaces it with the secret's value when it applies the config
// (see package providers), so only the name is ever in Temporal's history.

// SecretRefKey is the one key of a secret reference.
const SecretRefKey = "secretRef"

// maxSecretName is the longest secret name: the longest Azure Key Vault
// secret name, the most restrictive of the stores.
const maxSecretName = 127

// secretNameRE is a portable secret name: letters and digits in words
// joined by single dashes or slashes, valid in every store once each slash
// becomes a dash where the store has no slashes (Key Vault, Secret Manager).
var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9]+([/-][A-Za-z0-9]+)*$`)

// SecretRef returns the secret a decoded JSON value references, and whether
// it is a valid secret reference: an object whose only key is secretRef,
// holding a secret name (see checkSecretName).
func SecretRef(v any) (name string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", false
	}
	name, ok = m[SecretRefKey].(string)
	if !ok || checkSecretName(name) != nil {
		return "", false
	}
	return name, true
}

// IsSecretRefObject reports whether a decoded JSON value is an object with
// a secretRef key: a secret reference, valid or not.
func IsSecretRefObject(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[SecretRefKey]
	return ok
}

// checkSecretName reports why name cannot name a secret, nil when it can.
func checkSecretName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty secret name; name a secret, such as \"billing/db-password\"")
	case len(name) > maxSecretName || !secretNameRE.MatchString(name):
		return fmt.Errorf("secret name %q: want at most %d letters and digits in words joined by single dashes or slashes, such as \"billing/db-password\"", name, maxSecretName)
	}
	return nil
}

// secretRefs reports every malformed secret reference in the services'
// config: a secretRef that is not a string, an empty or unportable name,
// and any other key beside secretRef.
func (c *compiler) secretRefs() {
	for _, name := range slices.Sorted(maps.Keys(c.doc.Services)) {
		c.walkSecretRefs(sel("services", name, "config"), c.doc.Services[name].Config)
	}
}

func (c *compiler) walkSecretRefs(path []cue.Selector, v any) {
	switch v := v.(type) {
	case map[string]any:
		if IsSecretRefObject(v) {
			c.checkSecretRef(path, v)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			c.walkSecretRefs(append(slices.Clip(path), cue.Str(k)), v[k])
		}
	case []any:
		for i, e := range v {
			c.walkSecretRefs(append(slices.Clip(path), cue.Index(i)), e)
		}
	}
}

func (c *compiler) checkSecretRef(path []cue.Selector, ref map[string]any) {
	at := append(slices.Clip(path), cue.Str(SecretRefKey))
	switch name, ok := ref[SecretRefKey].(string); {
	case !ok:
		c.errorAt(c.literalPos(at), "%s: must be a string naming a secret, such as \"billing/db-password\"", cue.MakePath(at...))
	case checkSecretName(name) != nil:
		c.errorAt(c.literalPos(at), "%s: %v", cue.MakePath(at...), checkSecretName(name))
	}
	for _, k := range slices.Sorted(maps.Keys(ref)) {
		if k != SecretRefKey {
			c.errorf(append(slices.Clip(path), cue.Str(k)), "%s: a secret reference holds only secretRef, not %q; the object stands for the secret's value as a whole", cue.MakePath(path...), k)
		}
	}
}
