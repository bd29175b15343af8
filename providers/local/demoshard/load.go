package demoshard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Router tells a Load which instance serves a key: an *Assigner (the
// source of truth, in the process that runs it) or Reports (what the
// instances say, from any process).
type Router interface {
	// Route returns the address of the instance that owns key's shard.
	Route(key string) (addr string, ok bool)
}

// Reports routes keys the way the instances at a set of addresses report
// their shards at GET /shards, as a client of a sharding system learns
// routes. It is safe for concurrent use.
type Reports struct {
	addrs  []string
	client *http.Client
	routes atomic.Pointer[[]string] // shard → owner address
}

// NewReports returns a Router over the instances at addrs (host:port); it
// routes nothing until a Refresh covers every shard.
func NewReports(addrs []string, client *http.Client) *Reports {
	return &Reports{addrs: addrs, client: client}
}

// Refresh reads every instance's shards and replaces the routes when they
// cover every shard; it reports whether they did.
func (r *Reports) Refresh(ctx context.Context) bool {
	var routes []string
	for _, addr := range r.addrs {
		sh := fetchShards(ctx, r.client, addr)
		if sh == nil || sh.Total == 0 {
			continue
		}
		if routes == nil {
			routes = make([]string, sh.Total)
		}
		for _, s := range sh.Shards {
			if s >= 0 && s < len(routes) {
				routes[s] = addr
			}
		}
	}
	if routes == nil || slices.Contains(routes, "") {
		return false
	}
	r.routes.Store(&routes)
	return true
}

// Await refreshes the routes every interval until they cover every
// shard; it fails with ctx's error when ctx ends first.
func (r *Reports) Await(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !r.Refresh(ctx) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Run refreshes the routes every interval until ctx ends.
func (r *Reports) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() { r.Refresh(ctx) })
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f()
	}
}

// Route returns the address that reported owning key's shard.
func (r *Reports) Route(key string) (string, bool) {
	routes := r.routes.Load()
	if routes == nil {
		return "", false
	}
	return (*routes)[ShardOf(key, len(*routes))], true
}

// fetchShards returns what the instance at addr reports on GET /shards,
// or nil when it does not answer.
func fetchShards(ctx context.Context, client *http.Client, addr string) *Shards {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/shards", nil)
	if err != nil {
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st Shards
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return &st
}

// LoadOptions configure a Load; nil means defaults.
type LoadOptions struct {
	// Keys is how many distinct keys ("key-0", "key-1", …) the load reads
	// (default 400).
	Keys int
	// Workers send requests concurrently, each one every Interval
	// (defaults 4 and 5ms).
	Workers  int
	Interval time.Duration
	// Client sends the requests (default: a client with a 2s timeout).
	Client *http.Client
}

// Load is keyed read load on a sharded demo fleet, the kind a cache's
// clients make: each request reads one key (GET /cache/{key}) from the
// instance its Router names. A request that reaches an instance that is
// down, answers 421 (it no longer owns the shard) or is not assigned
// shards yet (shard -1: it came back and serves any key, from an empty
// cache) refreshes the routes when the Router can and is retried once.
// Load records the outcome of every request it sends while started, so
// that a caller counts the hit rate over any window.
type Load struct {
	router Router
	opts   LoadOptions
	wg     sync.WaitGroup

	mu      sync.Mutex
	samples []sample
}

// sample is one request's outcome.
type sample struct {
	at       time.Time
	outcome  outcome
	rerouted bool // the first instance asked did not serve the key's shard
}

type outcome int

const (
	hit    outcome = iota
	miss           // the owner did not hold the key: loaded from the "backend"
	failed         // no answer, or an error
)

// NewLoad returns a Load routed by router.
func NewLoad(router Router, opts *LoadOptions) *Load {
	o := LoadOptions{Keys: 400, Workers: 4, Interval: 5 * time.Millisecond, Client: &http.Client{Timeout: 2 * time.Second}}
	if opts != nil {
		o.Keys = cmp.Or(opts.Keys, o.Keys)
		o.Workers = cmp.Or(opts.Workers, o.Workers)
		o.Interval = cmp.Or(opts.Interval, o.Interval)
		o.Client = cmp.Or(opts.Client, o.Client)
	}
	return &Load{router: router, opts: o}
}

func key(k int) string { return fmt.Sprint("key-", k) }

// Warm reads every key once, unrecorded, so that the owners' caches hold
// them.
func (l *Load) Warm(ctx context.Context) {
	for k := range l.opts.Keys {
		l.Read(ctx, key(k))
	}
}

// Read reads key once, unrecorded, and reports whether it hit a warm
// cache.
func (l *Load) Read(ctx context.Context, key string) bool {
	o, _ := l.get(ctx, key)
	return o == hit
}

// Routes returns the address each key is routed to now.
func (l *Load) Routes() map[string]string {
	routes := map[string]string{}
	for k := range l.opts.Keys {
		routes[key(k)], _ = l.router.Route(key(k))
	}
	return routes
}

// Start runs the workers until ctx ends; Wait waits for them.
func (l *Load) Start(ctx context.Context) {
	for range l.opts.Workers {
		l.wg.Go(func() {
			every(ctx, l.opts.Interval, func() {
				o, rerouted := l.get(ctx, key(rand.IntN(l.opts.Keys)))
				if ctx.Err() != nil {
					return // ended mid-request: not counted
				}
				l.mu.Lock()
				l.samples = append(l.samples, sample{time.Now(), o, rerouted})
				l.mu.Unlock()
			})
		})
	}
}

// Wait waits for the workers Start started to end.
func (l *Load) Wait() { l.wg.Wait() }

// errNoRoute is a request's error when the Router names no instance.
var errNoRoute = errors.New("demoshard: no instance serves the key's shard")

// get reads key from the instance that serves it, rerouting once.
func (l *Load) get(ctx context.Context, key string) (o outcome, rerouted bool) {
	for {
		var e struct {
			Hit   bool `json:"hit"`
			Shard int  `json:"shard"`
		}
		code, err := 0, errNoRoute
		if addr, ok := l.router.Route(key); ok {
			code, err = l.fetch(ctx, addr, key, &e)
		}
		misrouted := err != nil || code == http.StatusMisdirectedRequest || (code == http.StatusOK && e.Shard < 0)
		switch {
		case misrouted && !rerouted && ctx.Err() == nil:
			if r, ok := l.router.(interface{ Refresh(context.Context) bool }); ok {
				r.Refresh(ctx)
			}
			rerouted = true
			continue
		case err != nil || code != http.StatusOK:
			return failed, rerouted
		case e.Hit:
			return hit, rerouted
		}
		return miss, rerouted
	}
}

// fetch sends GET /cache/{key} to addr and decodes a 200 answer into e.
func (l *Load) fetch(ctx context.Context, addr, key string, e any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/cache/"+url.PathEscape(key), nil)
	if err != nil {
		return 0, err
	}
	resp, err := l.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(e)
}

// Count counts requests by outcome.
type Count struct{ Requests, Hits, Misses, Failed, Rerouted int64 }

// Add adds o's requests to c's.
func (c *Count) Add(o Count) {
	c.Requests += o.Requests
	c.Hits += o.Hits
	c.Misses += o.Misses
	c.Failed += o.Failed
	c.Rerouted += o.Rerouted
}

// HitRate is the share of requests that hit a warm cache, 0 for none;
// misses and failures count against it.
func (c Count) HitRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Hits) / float64(c.Requests)
}

// Count counts the recorded requests made from from to to.
func (l *Load) Count(from, to time.Time) Count {
	l.mu.Lock()
	defer l.mu.Unlock()
	var c Count
	for _, s := range l.samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		c.Requests++
		if s.rerouted {
			c.Rerouted++
		}
		switch s.outcome {
		case hit:
			c.Hits++
		case miss:
			c.Misses++
		default:
			c.Failed++
		}
	}
	return c
}
