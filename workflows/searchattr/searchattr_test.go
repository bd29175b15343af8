package searchattr

import (
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
)

// TestTypesFitSQLiteVisibility: every attribute is a Keyword with a name of
// its own, and there are no more than the 10 custom Keyword attributes the
// SQLite visibility store of the embedded server allows.
func TestTypesFitSQLiteVisibility(t *testing.T) {
	types := Types()
	if len(types) != len(All) || len(types) > 10 {
		t.Fatalf("%d names for %d attributes: want one each, at most 10", len(types), len(All))
	}
	for name, typ := range types {
		if typ != enums.INDEXED_VALUE_TYPE_KEYWORD || !strings.HasPrefix(name, "Meridian") {
			t.Errorf("%s: %s, want a Keyword named Meridian…", name, typ)
		}
	}
}
