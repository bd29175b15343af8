package pipelines

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// ConfigVersion names a service's resolved config document (its config
// after defaults) by its content: "cfg-" and the first 12 hex digits of the
// SHA-256 of its JSON encoding, which sorts keys. The same document always
// has the same version, whatever the order it was written in; no config and
// an empty one are the same document ({}). It is the version a config
// release carries, and what `meridian diff` shows instead of config values.
func ConfigVersion(config map[string]any) string {
	if config == nil {
		config = map[string]any{}
	}
	b, err := json.Marshal(config)
	if err != nil {
		// A compiled config is JSON; this only keeps the function total.
		b = fmt.Appendf(nil, "%v", config)
	}
	sum := sha256.Sum256(b)
	return "cfg-" + hex.EncodeToString(sum[:])[:12]
}
