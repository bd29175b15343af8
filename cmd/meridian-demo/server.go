package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meridian-deploy/meridian/providers/local/demoshard"
)

// server is one demo instance: its identity, its live config, and its cache
// shards. Every field below mu is guarded by it.
type server struct {
	instance, version, configPath string
	loadCost                      time.Duration
	client                        *http.Client

	mu         sync.Mutex
	config     json.RawMessage
	configSum  string
	configStat string // size and mtime of the file last read
	errorRate  float64
	cache      map[string]string
	total      int // shard count; 0 while unassigned (serve every key)
	generation int64
	owned      map[int]bool
	draining   bool
	hits       int64
	misses     int64
	refused    int64
}

func newServer(instance, version, configPath string, loadCost time.Duration) *server {
	return &server{
		instance: instance, version: version, configPath: configPath, loadCost: loadCost,
		client: &http.Client{Timeout: 10 * time.Second},
		config: json.RawMessage(`{}`), configSum: sum(nil),
		cache: map[string]string{}, owned: map[int]bool{},
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleInfo)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /cache/{key}", s.handleCache)
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /shards", s.handleShards)
	mux.HandleFunc("POST /shards/drain", s.handleDrain(true))
	mux.HandleFunc("POST /shards/undrain", s.handleDrain(false))
	mux.HandleFunc("PUT /shards/assignment", s.handleAssignment)
	mux.HandleFunc("GET /shards/export", s.handleExport)
	return mux
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// reloadConfig reads the config file if it changed since the last read. A
// missing file is the empty config; an invalid one is logged and ignored.
func (s *server) reloadConfig() {
	if s.configPath == "" {
		return
	}
	stat := "missing"
	if fi, err := os.Stat(s.configPath); err == nil {
		stat = fmt.Sprintf("%d@%d", fi.Size(), fi.ModTime().UnixNano())
	}
	s.mu.Lock()
	unchanged := stat == s.configStat
	s.mu.Unlock()
	if unchanged {
		return
	}
	data, err := os.ReadFile(s.configPath)
	if os.IsNotExist(err) {
		data, err = nil, nil
	}
	if err != nil {
		log.Printf("config: %v", err)
		return
	}
	var doc struct {
		ErrorRate float64 `json:"errorRate"`
	}
	raw := json.RawMessage(`{}`)
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &doc); err != nil {
			log.Printf("config %s: %v (keeping the previous config)", s.configPath, err)
			return
		}
		raw = data
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.config, s.configSum, s.configStat, s.errorRate = raw, sum(data), stat, doc.ErrorRate
	log.Printf("config loaded (errorRate %g)", doc.ErrorRate)
}

// watchConfig re-reads the config on SIGHUP and when the file changes.
func (s *server) watchConfig(ctx context.Context, hup <-chan os.Signal, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.mu.Lock()
			s.configStat = "" // force a read
			s.mu.Unlock()
		case <-tick.C:
		}
		s.reloadConfig()
	}
}

// failing reports why this request must fail, or "".
func (s *server) failing() string {
	if strings.Contains(s.version, "bad") {
		return fmt.Sprintf("version %s is bad", s.version)
	}
	s.mu.Lock()
	rate := s.errorRate
	s.mu.Unlock()
	if rate > 0 && rand.Float64() < rate {
		return fmt.Sprintf("config errorRate %g", rate)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// Info is the answer to GET /.
type Info struct {
	Instance     string          `json:"instance"`
	Version      string          `json:"version"`
	PID          int             `json:"pid"`
	Config       json.RawMessage `json:"config"`
	ConfigSHA256 string          `json:"configSha256"`
}

func (s *server) handleInfo(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	info := Info{Instance: s.instance, Version: s.version, PID: os.Getpid(), Config: s.config, ConfigSHA256: s.configSum}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, info)
}

func (s *server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if why := s.failing(); why != "" {
		writeError(w, http.StatusInternalServerError, "unhealthy: "+why)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version, "instance": s.instance})
}

// ownsLocked reports whether the instance serves key's shard.
func (s *server) ownsLocked(key string) (shard int, ok bool) {
	if s.total == 0 {
		return -1, true
	}
	shard = demoshard.ShardOf(key, s.total)
	return shard, s.owned[shard]
}

// CacheEntry is the answer to GET /cache/{key}.
type CacheEntry struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Hit      bool   `json:"hit"`
	Shard    int    `json:"shard"`
	Instance string `json:"instance"`
}

func (s *server) handleCache(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if why := s.failing(); why != "" {
		writeError(w, http.StatusInternalServerError, why)
		return
	}
	s.mu.Lock()
	shard, ok := s.ownsLocked(key)
	if !ok {
		s.refused++
		s.mu.Unlock()
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("shard %d of key %q is not owned by %s", shard, key, s.instance))
		return
	}
	value, hit := s.cache[key]
	if hit {
		s.hits++
	} else {
		s.misses++
	}
	s.mu.Unlock()
	if !hit {
		// A miss loads the value from the "backend".
		select {
		case <-r.Context().Done():
			return
		case <-time.After(s.loadCost):
		}
		value = "value-of-" + key
		s.mu.Lock()
		if _, still := s.ownsLocked(key); still {
			s.cache[key] = value
		}
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, CacheEntry{Key: key, Value: value, Hit: hit, Shard: shard, Instance: s.instance})
}

// Stats is the answer to GET /stats.
type Stats struct {
	Instance string  `json:"instance"`
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	Refused  int64   `json:"refused"`
	HitRate  float64 `json:"hitRate"`
	Entries  int     `json:"entries"`
}

func (s *server) handleStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := Stats{Instance: s.instance, Hits: s.hits, Misses: s.misses, Refused: s.refused, Entries: len(s.cache)}
	s.mu.Unlock()
	if n := st.Hits + st.Misses; n > 0 {
		st.HitRate = float64(st.Hits) / float64(n)
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *server) shardsLocked() demoshard.Shards {
	shards := make([]int, 0, len(s.owned))
	for sh := range s.owned {
		shards = append(shards, sh)
	}
	slices.Sort(shards)
	return demoshard.Shards{Owned: len(shards), Draining: s.draining, Total: s.total, Generation: s.generation, Shards: shards}
}

func (s *server) handleShards(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := s.shardsLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (s *server) handleDrain(draining bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.draining = draining
		st := s.shardsLocked()
		s.mu.Unlock()
		log.Printf("draining: %v (owns %d shards)", draining, st.Owned)
		writeJSON(w, http.StatusOK, st)
	}
}

// handleAssignment takes a new shard assignment. Shards handed over from a
// previous owner are first filled with that owner's warm entries, so keys
// keep hitting once the client routes them here.
func (s *server) handleAssignment(w http.ResponseWriter, r *http.Request) {
	var a demoshard.Assignment
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		writeError(w, http.StatusBadRequest, "assignment: "+err.Error())
		return
	}
	if a.Total <= 0 || slices.ContainsFunc(a.Shards, func(sh int) bool { return sh < 0 || sh >= a.Total }) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("assignment: shards must lie in [0, total=%d)", a.Total))
		return
	}
	s.mu.Lock()
	stale := a.Generation < s.generation
	s.mu.Unlock()
	if stale {
		writeError(w, http.StatusConflict, fmt.Sprintf("assignment generation %d is older than %d", a.Generation, s.generation))
		return
	}
	imported := s.importHandover(r.Context(), a.Handover)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total != a.Total {
		clear(s.cache) // a different shard map: nothing is known to be owned
	}
	s.total, s.generation = a.Total, a.Generation
	s.owned = map[int]bool{}
	for _, sh := range a.Shards {
		s.owned[sh] = true
	}
	for k, v := range imported {
		s.cache[k] = v
	}
	for k := range s.cache {
		if !s.owned[demoshard.ShardOf(k, s.total)] {
			delete(s.cache, k)
		}
	}
	writeJSON(w, http.StatusOK, s.shardsLocked())
}

// importHandover copies the warm entries of handed-over shards from their
// previous owners. A previous owner that does not answer is skipped: those
// shards start cold.
func (s *server) importHandover(ctx context.Context, handover map[int]string) map[string]string {
	byOwner := map[string][]string{}
	for sh, addr := range handover {
		byOwner[addr] = append(byOwner[addr], strconv.Itoa(sh))
	}
	entries := map[string]string{}
	for addr, shards := range byOwner {
		u := "http://" + addr + "/shards/export?shards=" + url.QueryEscape(strings.Join(shards, ","))
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			continue
		}
		resp, err := s.client.Do(req)
		if err != nil {
			log.Printf("handover from %s: %v", addr, err)
			continue
		}
		var exp demoshard.Export
		err = json.NewDecoder(resp.Body).Decode(&exp)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			log.Printf("handover from %s: status %d %v", addr, resp.StatusCode, err)
			continue
		}
		for k, v := range exp.Entries {
			entries[k] = v
		}
	}
	return entries
}

func (s *server) handleExport(w http.ResponseWriter, r *http.Request) {
	want := map[int]bool{}
	for _, f := range strings.Split(r.URL.Query().Get("shards"), ",") {
		sh, err := strconv.Atoi(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("shards: %q is not a shard number", f))
			return
		}
		want[sh] = true
	}
	s.mu.Lock()
	exp := demoshard.Export{Entries: map[string]string{}}
	if s.total > 0 {
		for k, v := range s.cache {
			if want[demoshard.ShardOf(k, s.total)] {
				exp.Entries[k] = v
			}
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, exp)
}
