package workflows

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestChangeDiff(t *testing.T) {
	base := Change{Kind: KindVersion, ID: "c1", Version: "v2", Image: "registry.example.com/api", Trigger: "ci", Who: "bot"}
	for _, tc := range []struct {
		name    string
		edit    func(*Change)
		was, is []string
	}{
		{"identical", func(*Change) {}, nil, nil},
		{"another trigger and who", func(c *Change) { c.Trigger, c.Who = "cli", "alice" }, nil, nil},
		{"another version", func(c *Change) { c.Version = "v3" }, []string{"version v2"}, []string{"version v3"}},
		{"another kind and image", func(c *Change) { c.Kind, c.Image = KindRestart, "" },
			[]string{"kind version", "image registry.example.com/api"}, []string{"kind restart", "image none"}},
		{"config added", func(c *Change) { c.Config = json.RawMessage(`{"a":1}`) },
			[]string{"config none"}, []string{"config " + configDigest(json.RawMessage(`{"a":1}`))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			was, is := changeDiff(base, c)
			if !slices.Equal(was, tc.was) || !slices.Equal(is, tc.is) {
				t.Errorf("changeDiff = %q, %q; want %q, %q", was, is, tc.was, tc.is)
			}
		})
	}
}

func TestConfigDigestIgnoresLayout(t *testing.T) {
	a := configDigest(json.RawMessage(`{"b": 2, "a": {"x": 1.50}}`))
	b := configDigest(json.RawMessage(`{"a":{"x":1.50},"b":2}`))
	if a != b || a == "" {
		t.Errorf("digests %q and %q, want one", a, b)
	}
	if c := configDigest(json.RawMessage(`{"a":{"x":1.5},"b":2}`)); c == a {
		t.Errorf("1.5 and 1.50 share digest %q; numbers are compared as written", c)
	}
	if configDigest(nil) != "" || configDigest(json.RawMessage("null")) != "" {
		t.Error("no config should have no digest")
	}
}

// A config's version is its content's: the same document in any key order
// has one version, another document another, and none has none.
func TestConfigChangeVersionIsContent(t *testing.T) {
	a, err := ConfigChange(map[string]any{"b": 2, "a": map[string]any{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindConfig || string(a.Config) != `{"a":{"x":"y"},"b":2}` || a.Version != "cfg-"+configDigest(a.Config)[len("sha256:"):] || len(a.Version) != len("cfg-")+12 {
		t.Errorf("ConfigChange = %+v (config %s)", a, a.Config)
	}
	if b, _ := ConfigChange(map[string]any{"a": map[string]any{"x": "y"}, "b": 2}); b.Version != a.Version {
		t.Errorf("versions %q and %q for one document", a.Version, b.Version)
	}
	if c, _ := ConfigChange(map[string]any{"b": 3, "a": map[string]any{"x": "y"}}); c.Version == a.Version {
		t.Errorf("another document has version %q too", c.Version)
	}
	if _, err := ConfigChange(nil); err == nil {
		t.Error("no config has a config change")
	}
}
