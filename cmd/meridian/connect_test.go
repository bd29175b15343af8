package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A Temporal server that cannot be reached is one line that says why,
// without gRPC's wrapping, for every command that dials.
func TestUnreachableTemporal(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	tests := []struct {
		address, flag, why string
	}{
		{"127.0.0.1:1", "", "connection refused (no server listens there; meridian dev runs one)"},
		{strings.TrimPrefix(web.URL, "http://"), "", "an HTTP server answers there, not a Temporal frontend (a Web UI port?)"},
		{steerServer.Address(), "--tls", "the server does not speak TLS, and the connection asks for it"},
		{silent.Addr().String(), "", "no answer in time (is it a Temporal frontend?)"},
	}
	for _, tt := range tests {
		commands := [][]string{{"status", "x/c1"}, {"approve", "x/c1"}, {"history", "--service", "api"}, {"worker", "--boundary", "local/public"}}
		if tt.address == silent.Addr().String() {
			if testing.Short() {
				continue
			}
			commands = commands[:1] // the SDK waits 5 s for an answer
		}
		for _, args := range commands {
			args = append(args, "--address", tt.address, "--namespace", "default")
			if tt.flag != "" {
				args = append(args, tt.flag)
			}
			r := meridian(t, args...)
			want := "cannot reach Temporal at " + tt.address + " (namespace default): " + tt.why
			if r.code != 1 || r.err == nil || r.err.Error() != want {
				t.Errorf("meridian %s: exit %d, %v; want %q", strings.Join(args, " "), r.code, r.err, want)
			}
		}
	}
}

// A namespace the server does not have is one line naming it, for every
// command that dials, the worker included (it would otherwise start and
// fail its pollers).
func TestUnknownNamespace(t *testing.T) {
	for _, args := range [][]string{{"status", "x/c1"}, {"history", "--service", "api"}, {"worker", "--boundary", "local/public"}} {
		args = append(args, "--address", steerServer.Address(), "--namespace", "nope")
		r := meridian(t, args...)
		want := "namespace nope does not exist at " + steerServer.Address() + ": give --namespace (or TEMPORAL_NAMESPACE) of one that does"
		if r.code != 1 || r.err == nil || r.err.Error() != want {
			t.Errorf("meridian %s: exit %d, %v; want %q", strings.Join(args, " "), r.code, r.err, want)
		}
	}
}
