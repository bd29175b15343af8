package pipelines

import (
	"strings"
	"testing"
)

func TestConfigVersion(t *testing.T) {
	base := map[string]any{"db": map[string]any{"pool": 10, "host": "db"}, "mode": "a"}
	for _, tc := range []struct {
		name   string
		config map[string]any
		same   bool // the version is base's
	}{
		{"same content, another map", map[string]any{"mode": "a", "db": map[string]any{"host": "db", "pool": 10}}, true},
		{"an int and the float CUE decodes are one document", map[string]any{"mode": "a", "db": map[string]any{"host": "db", "pool": 10.0}}, true},
		{"a nested value changed", map[string]any{"mode": "a", "db": map[string]any{"host": "db", "pool": 20}}, false},
		{"a key added", map[string]any{"mode": "a", "db": map[string]any{"host": "db", "pool": 10}, "x": true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConfigVersion(tc.config) == ConfigVersion(base); got != tc.same {
				t.Errorf("ConfigVersion(%v) == ConfigVersion(base) is %v, want %v", tc.config, got, tc.same)
			}
		})
	}
	v := ConfigVersion(base)
	if !strings.HasPrefix(v, "cfg-") || len(v) != len("cfg-")+12 {
		t.Errorf("ConfigVersion = %q, want cfg- and 12 hex digits", v)
	}
	if ConfigVersion(nil) != ConfigVersion(map[string]any{}) {
		t.Error("no config and an empty config should be the same document")
	}
}
