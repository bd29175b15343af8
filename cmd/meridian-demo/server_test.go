package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/httpdrain"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

func get(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func TestHealthFollowsVersionAndConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	good := newServer("i1", "v1", cfg, 0)
	bad := newServer("i2", "v2-bad", cfg, 0)
	gs, bs := httptest.NewServer(good.routes()), httptest.NewServer(bad.routes())
	defer gs.Close()
	defer bs.Close()

	if code := get(t, gs.URL+"/healthz", nil); code != 200 {
		t.Fatalf("v1 healthz = %d, want 200", code)
	}
	if code := get(t, bs.URL+"/healthz", nil); code != 500 {
		t.Fatalf("v2-bad healthz = %d, want 500", code)
	}
	if err := os.WriteFile(cfg, []byte(`{"errorRate": 1, "greeting": "hi"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	good.reloadConfig()
	if code := get(t, gs.URL+"/healthz", nil); code != 500 {
		t.Fatalf("healthz with errorRate 1 = %d, want 500", code)
	}
	var info Info
	get(t, gs.URL+"/", &info)
	if info.Version != "v1" || info.Instance != "i1" || !strings.Contains(string(info.Config), "greeting") {
		t.Fatalf("GET / = %+v", info)
	}
	if err := os.WriteFile(cfg, []byte(`{"errorRate": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	good.reloadConfig()
	if code := get(t, gs.URL+"/healthz", nil); code != 200 {
		t.Fatalf("healthz after errorRate 0 = %d, want 200", code)
	}
	// An invalid file keeps the previous config.
	if err := os.WriteFile(cfg, []byte(`{not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	good.reloadConfig()
	if code := get(t, gs.URL+"/healthz", nil); code != 200 {
		t.Fatalf("healthz after an invalid config = %d, want 200", code)
	}
}

// TestDrainMovesWarmShards runs three instances under an Assigner, drains
// one through the HTTP drain protocol, and checks its shards moved with
// their warm entries.
func TestDrainMovesWarmShards(t *testing.T) {
	ctx := context.Background()
	var members []demoshard.Member
	for i := range 3 {
		srv := httptest.NewServer(newServer(fmt.Sprintf("i%d", i), "v1", "", 0).routes())
		defer srv.Close()
		members = append(members, demoshard.Member{ID: fmt.Sprintf("i%d", i), Address: strings.TrimPrefix(srv.URL, "http://")})
	}
	a := demoshard.NewAssigner(16, func(context.Context) ([]demoshard.Member, error) { return members, nil })
	if err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if owners := a.Owners(); len(owners) != 3 || owners["i0"] < 5 || owners["i0"] > 6 {
		t.Fatalf("owners after first reconcile = %v, want 16 shards spread over 3", owners)
	}
	fetch := func(key string) CacheEntry {
		addr, ok := a.Route(key)
		if !ok {
			t.Fatalf("no route for %s", key)
		}
		var e CacheEntry
		if code := get(t, "http://"+addr+"/cache/"+key, &e); code != 200 {
			t.Fatalf("GET /cache/%s at its owner = %d", key, code)
		}
		return e
	}
	for k := range 50 {
		if e := fetch(fmt.Sprint("k", k)); e.Hit {
			t.Fatalf("first fetch of %s was a hit", e.Key)
		}
	}

	s := demoshard.NewSharder(func(driver.Target) *demoshard.Assigner { return a })
	inst := driver.Instance{ID: "i0", Address: members[0].Address}
	if err := s.Drain(ctx, driver.Target{}, inst); err != nil {
		t.Fatal(err)
	}
	if owned, err := s.Owned(ctx, driver.Target{}, inst); err != nil || owned != 0 {
		t.Fatalf("after drain i0 owns %d (%v), want 0", owned, err)
	}
	for k := range 50 {
		if e := fetch(fmt.Sprint("k", k)); !e.Hit || e.Instance == "i0" {
			t.Fatalf("after drain %s: %+v, want a warm hit on another instance", e.Key, e)
		}
	}
	// A drained instance refuses keys it no longer owns.
	var refused map[string]string
	if code := get(t, "http://"+members[0].Address+"/cache/k1", &refused); code != http.StatusMisdirectedRequest {
		t.Fatalf("drained instance answered %d, want 421", code)
	}
	if err := s.Undrain(ctx, driver.Target{}, inst); err != nil {
		t.Fatal(err)
	}
	if owned, _ := s.Owned(ctx, driver.Target{}, inst); owned < 5 {
		t.Fatalf("after undrain i0 owns %d, want its share back", owned)
	}
	for k := range 50 {
		if e := fetch(fmt.Sprint("k", k)); !e.Hit {
			t.Fatalf("after undrain %s missed on %s", e.Key, e.Instance)
		}
	}
	var st Stats
	get(t, "http://"+members[1].Address+"/stats", &st)
	if st.Hits == 0 || st.HitRate <= 0 {
		t.Fatalf("stats = %+v, want hits", st)
	}
	// The generic driver classifies a dead instance as unavailable.
	if _, err := httpdrain.New(&httpdrain.Options{Client: &http.Client{Timeout: time.Second}}).Owned(ctx, driver.Target{}, driver.Instance{ID: "x", Address: "127.0.0.1:1"}); httpdrain.New(nil).ErrorCode(err) != driver.Unavailable {
		t.Fatalf("Owned of a dead instance: %v, want unavailable", err)
	}
}

func TestRunRefusesBadAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "example.com:80", "no-port"} {
		if err := run(options{addr: addr}); err == nil {
			t.Fatalf("run with --addr %s succeeded", addr)
		}
	}
}
