package demoshard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// instance serves the demo instance's GET /shards (owning shard of 2) and
// GET /cache/{key}: a hit for keys of its shard, 421 for others.
func instance(t *testing.T, shard int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/shards" {
			json.NewEncoder(w).Encode(Shards{Total: 2, Shards: []int{shard}})
			return
		}
		key := strings.TrimPrefix(r.URL.Path, "/cache/")
		if ShardOf(key, 2) != shard {
			w.WriteHeader(http.StatusMisdirectedRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"hit": true, "shard": shard})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestLoadRoutesByReports: keys go to the instance that reports their
// shard, and Count counts the requests of a window.
func TestLoadRoutesByReports(t *testing.T) {
	ctx := context.Background()
	addrs := []string{instance(t, 0), instance(t, 1)}
	routes := NewReports(addrs, http.DefaultClient)
	if _, ok := routes.Route("key-0"); ok {
		t.Fatal("Reports routes before a Refresh")
	}
	if err := routes.Await(ctx, time.Millisecond); err != nil {
		t.Fatalf("Await: %v", err)
	}
	if addr, _ := routes.Route("key-0"); addr != addrs[ShardOf("key-0", 2)] {
		t.Fatalf("key-0 routed to %s, want the owner of shard %d", addr, ShardOf("key-0", 2))
	}
	sent := &sentRequests{after: 10, done: make(chan struct{})}
	load := NewLoad(routes, &LoadOptions{Keys: 20, Workers: 2, Interval: time.Millisecond, Client: &http.Client{Transport: sent}})
	if !load.Read(ctx, "key-1") {
		t.Fatal("a read from the owner missed")
	}
	lctx, stop := context.WithCancel(ctx)
	from := time.Now()
	load.Start(lctx)
	<-sent.done
	stop()
	load.Wait()
	c := load.Count(from, time.Now())
	if c.HitRate() != 1 || c.Hits != c.Requests || c.Rerouted != 0 {
		t.Fatalf("count %+v, want every request a hit at the first instance asked", c)
	}
	if empty := load.Count(time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)); empty != (Count{}) || empty.HitRate() != 0 {
		t.Fatalf("a window without requests counts %+v", empty)
	}
}

// sentRequests closes done once after requests have been sent.
type sentRequests struct {
	mu    sync.Mutex
	n     int
	after int
	done  chan struct{}
}

func (s *sentRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	s.mu.Lock()
	if s.n++; s.n == s.after {
		close(s.done)
	}
	s.mu.Unlock()
	return resp, err
}
