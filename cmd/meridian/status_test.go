package main

import (
	"strings"
	"testing"
)

func TestStatusOfUnknownRelease(t *testing.T) {
	for _, args := range [][]string{{"status", "release/api/never"}, {"pause", "api/never"}} {
		r := meridian(t, args...)
		if want := "no release release/api/never in namespace " + steerServer.Namespace(); r.code != 1 || r.err == nil || r.err.Error() != want {
			t.Errorf("meridian %s: exit %d, %v; want %q", strings.Join(args, " "), r.code, r.err, want)
		}
	}
}
