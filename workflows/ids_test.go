package workflows

import (
	"strings"
	"testing"
)

func TestVersionsAndChangeIDsAreSafe(t *testing.T) {
	for _, v := range []string{"1.0.0", "v2", "2026.12.04-rc1", "sha-1c9e0f3", "_x", strings.Repeat("a", 128)} {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%q) = %v, want nil", v, err)
		}
	}
	for _, v := range []string{"", "v1–fix", "v1\nfix", "v1\xff", "-v1", ".v1", "v 1", "v1/x", "v1:x", strings.Repeat("a", 129)} {
		if err := CheckVersion(v); err == nil {
			t.Errorf("CheckVersion(%q) = nil, want an error", v)
		}
	}
	for _, id := range []string{"c1", "3f1a9c0d2b7e", "tour-20261204T014830Z-v3-bad", "1.0.0-1c9e0f3a7b21", "PROJ-42+hotfix", strings.Repeat("a", 255)} {
		if err := CheckChangeID(id); err != nil {
			t.Errorf("CheckChangeID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", "c1\n", "c–1", "c1\xff", "-c1", "a/b", "a b", strings.Repeat("a", 256)} {
		if err := CheckChangeID(id); err == nil {
			t.Errorf("CheckChangeID(%q) = nil, want an error", id)
		}
	}
	if err := CheckVersion(strings.Repeat("x", 10000)); err == nil || len(err.Error()) > 200 {
		t.Errorf("a 10k-character version: %v, want a short error", err)
	}
}
