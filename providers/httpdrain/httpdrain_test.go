package httpdrain

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// instance serves the drain protocol with a fixed answer per request.
func instance(t *testing.T, h http.HandlerFunc) driver.Instance {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return driver.Instance{ID: "i1", Address: strings.TrimPrefix(srv.URL, "http://")}
}

func TestProtocol(t *testing.T) {
	owned, draining := 3, false
	inst := instance(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /shards/drain":
			draining, owned = true, 0
		case "POST /shards/undrain":
			draining, owned = false, 3
		case "GET /shards":
		default:
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"owned": %d, "draining": %v}`, owned, draining)
	})
	s, ctx := New(nil), context.Background()
	if n, err := s.Owned(ctx, driver.Target{}, inst); err != nil || n != 3 {
		t.Fatalf("Owned = %d, %v; want 3", n, err)
	}
	if err := s.Drain(ctx, driver.Target{}, inst); err != nil || !draining {
		t.Fatalf("Drain: %v (draining %v)", err, draining)
	}
	if n, err := s.Owned(ctx, driver.Target{}, inst); err != nil || n != 0 {
		t.Fatalf("Owned after drain = %d, %v; want 0", n, err)
	}
	if err := s.Undrain(ctx, driver.Target{}, inst); err != nil || draining {
		t.Fatalf("Undrain: %v (draining %v)", err, draining)
	}
}

func TestErrorCodes(t *testing.T) {
	s := New(nil)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   driver.Code
	}{
		{"not implemented", http.StatusNotFound, "", driver.NotFound},
		{"throttled", http.StatusTooManyRequests, "", driver.Throttled},
		{"busy", http.StatusConflict, "", driver.Conflict},
		{"server error", http.StatusBadGateway, "", driver.Unavailable},
		{"bad request", http.StatusBadRequest, "", driver.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instance(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) })
			err := s.Drain(context.Background(), driver.Target{}, inst)
			if got := s.ErrorCode(err); got != tc.want {
				t.Fatalf("status %d: %v maps to %v, want %v", tc.status, err, got, tc.want)
			}
		})
	}
	t.Run("no owned count", func(t *testing.T) {
		inst := instance(t, func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{}`)) })
		if _, err := s.Owned(context.Background(), driver.Target{}, inst); err == nil {
			t.Fatal("an answer without owned was accepted")
		}
	})
	t.Run("no address", func(t *testing.T) {
		err := s.Drain(context.Background(), driver.Target{}, driver.Instance{ID: "i9"})
		if s.ErrorCode(err) != driver.Invalid {
			t.Fatalf("%v, want invalid", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		inst := instance(t, func(w http.ResponseWriter, _ *http.Request) {})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Drain(ctx, driver.Target{}, inst); s.ErrorCode(err) != driver.Canceled {
			t.Fatalf("%v, want canceled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		// The driver's own deadline is Unavailable (package driver's rule).
		if code := s.ErrorCode(fmt.Errorf("drain: %w", context.DeadlineExceeded)); code != driver.Unavailable {
			t.Fatalf("a deadline maps to %v, want unavailable", code)
		}
	})
}
