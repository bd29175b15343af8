package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Secret references.
//
// A config document holds secrets as references, {"secretRef": "NAME"}
// (see placement.SecretRef), and so does every workflow input and result
// that carries it. ApplyConfig and RestoreConfig replace each reference by
// the value Options.Secrets resolves for the target, right before the
// driver applies the document: resolution runs inside the boundary, on
// the worker that serves its task queue, and the values exist only in the
// request to the driver and in the target's own config store.
//
// What comes back must not carry them: a ConfigRemoval goes into history,
// and a driver that reads the removed config back from its backend would
// read the resolved values. The Provider cannot map those back to
// references itself (it keeps no state, and the worker that restores a
// config may not be the one that applied it), so it hands the driver the
// document as written beside the resolved one (driver.ConfigRequest's
// Source), and each driver records it where it keeps the config and
// returns it as ConfigRemoval.Data (or, where the backend keeps every
// version, nothing). RestoreConfig then resolves the references again.
// The conformance suite (drivertest) checks that no value comes back.

// secretRefKey, quoted, is in every document that holds a reference:
// documents without it pass through untouched, byte for byte.
var secretRefKey = []byte(strconv.Quote(placement.SecretRefKey))

// resolve returns data with each secret reference replaced by the secret's
// value in t's store, and data itself as the source; data unchanged and a
// nil source when it references no secret. op names the Provider method
// in errors, which name secrets but never hold their values.
func (p *Provider) resolve(ctx context.Context, op string, t placement.Target, data []byte) (resolved, source []byte, err error) {
	if !bytes.Contains(data, secretRefKey) {
		return data, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return data, nil, nil // not JSON: the driver refuses it
	}
	refs := map[string]string{} // name → value
	var bad []string
	walkRefs(doc, "", func(path string, ref any) {
		if name, ok := placement.SecretRef(ref); ok {
			refs[name] = ""
		} else {
			bad = append(bad, path)
		}
	})
	switch {
	case len(bad) > 0:
		return nil, nil, &Error{Code: driver.Invalid, Op: op, Err: fmt.Errorf("config for %s: malformed secret reference at %s (want {\"secretRef\": NAME} and nothing else)", t.ID(), strings.Join(bad, ", "))}
	case len(refs) == 0:
		return data, nil, nil
	case p.secrets == nil:
		return nil, nil, &Error{Code: driver.Invalid, Op: op, Err: fmt.Errorf("config for %s references secrets (%s), but this worker has no secret store for %s/%s",
			t.ID(), strings.Join(slices.Sorted(maps.Keys(refs)), ", "), t.Cloud, t.Boundary)}
	}
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		value, err := p.secrets.Resolve(ctx, driverTarget(t), name)
		if err != nil {
			return nil, nil, wrap(ctx, p.secrets, op, fmt.Errorf("config for %s: secret %q: %w", t.ID(), name, err))
		}
		refs[name] = value
	}
	resolved, err = json.Marshal(replaceRefs(doc, refs))
	if err != nil {
		return nil, nil, &Error{Code: driver.Invalid, Op: op, Err: fmt.Errorf("config for %s: %v", t.ID(), err)}
	}
	return resolved, data, nil
}

// walkRefs calls visit with every object of v that has a secretRef key,
// and its path (db.password, env[0].value); it does not descend into them.
func walkRefs(v any, path string, visit func(path string, ref any)) {
	switch v := v.(type) {
	case map[string]any:
		if placement.IsSecretRefObject(v) {
			visit(path, v)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walkRefs(v[k], strings.TrimPrefix(path+"."+k, "."), visit)
		}
	case []any:
		for i, e := range v {
			walkRefs(e, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	}
}

// replaceRefs returns v with each secret reference replaced by its value
// in values.
func replaceRefs(v any, values map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		if name, ok := placement.SecretRef(v); ok {
			return values[name]
		}
		for k, e := range v {
			v[k] = replaceRefs(e, values)
		}
	case []any:
		for i, e := range v {
			v[i] = replaceRefs(e, values)
		}
	}
	return v
}
