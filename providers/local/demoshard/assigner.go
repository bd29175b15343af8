// Package demoshard is the local demo fleet's sharding system: an Assigner
// that spreads a fixed number of cache shards over a fleet of meridian-demo
// instances, a Sharder driver on top of it, and Load, a keyed load client
// that routes each key to its shard's owner and counts the cache hit rate.
//
// The Assigner is the source of truth for who owns which shard. On every
// Reconcile it reads each member's GET /shards, treats members that answer
// and are not draining as live, and moves shards so that every shard has a
// live owner and live members own nearly equal numbers (a draining
// member's shards all move away). A shard that moves names its previous
// owner in the new owner's assignment so the warm cache entries are copied
// over before the new owner takes it (handover); the new owners are told
// first, the losers after, so a key is always served by an owner with its
// entries. A member that died cannot hand over: its shards start cold.
// Clients route a key to Route(key), or, in another process, to the
// owner the instances report (Reports); Load is such a client, which sends
// keyed load and counts its cache hit rate.
//
// A new Assigner over a running fleet (the provider restarted and adopted
// its instances) continues where the previous one stopped: its first
// Reconcile learns the owner map and the generation from what the members
// report, so it moves no shard needlessly and its assignments are not
// refused as stale. The generation moves only when an assignment changes.
//
// See docs/drain-protocol.md for the wire protocol.
package demoshard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Member is one instance the Assigner may give shards to.
type Member struct {
	ID      string
	Address string // host:port
}

// Assigner assigns one fleet's shards. It is safe for concurrent use;
// reconciles are serialized.
type Assigner struct {
	total   int
	members func(context.Context) ([]Member, error)
	client  *http.Client

	reconcile sync.Mutex // one Reconcile at a time

	mu         sync.Mutex
	owner      []string          // shard → member id, "" when unassigned
	address    map[string]string // member id → address
	generation int64
	learned    bool // owner was taken from the members' reports
}

// NewAssigner returns an Assigner of total shards over the fleet members
// lists.
func NewAssigner(total int, members func(context.Context) ([]Member, error)) *Assigner {
	return &Assigner{
		total:   total,
		members: members,
		client:  &http.Client{Timeout: 10 * time.Second},
		owner:   make([]string, total),
		address: map[string]string{},
	}
}

// Route returns the address of the member that owns key's shard.
func (a *Assigner) Route(key string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := a.owner[ShardOf(key, a.total)]
	addr, ok := a.address[id]
	return addr, ok && id != ""
}

// Owners reports how many shards each member owns.
func (a *Assigner) Owners() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := map[string]int{}
	for _, id := range a.owner {
		if id != "" {
			n[id]++
		}
	}
	return n
}

// Run reconciles at once and then every interval until ctx ends.
func (a *Assigner) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		a.Reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Reconcile observes the members, moves shards off draining and missing
// members, rebalances, and pushes the assignments that changed under a new
// generation. When nothing changed it pushes nothing and keeps the
// generation.
func (a *Assigner) Reconcile(ctx context.Context) error {
	a.reconcile.Lock()
	defer a.reconcile.Unlock()
	members, err := a.members(ctx)
	if err != nil {
		return fmt.Errorf("demoshard: list members: %w", err)
	}
	seen := make([]*Shards, len(members)) // nil: the member did not answer
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { seen[i] = a.observe(ctx, m) })
	}
	wg.Wait()

	alive := map[string]bool{}
	var live []string
	a.mu.Lock()
	if !a.learned {
		a.learned = a.learnLocked(members, seen)
	}
	for i, m := range members {
		a.address[m.ID] = m.Address
		if seen[i] != nil {
			alive[m.ID] = true
			a.generation = max(a.generation, seen[i].Generation)
			if !seen[i].Draining {
				live = append(live, m.ID)
			}
		}
	}
	old := slices.Clone(a.owner)
	address := maps.Clone(a.address)
	generation := a.generation + 1
	a.mu.Unlock()
	if len(live) == 0 {
		return nil // nobody to move shards to: keep the assignment
	}
	next := balance(old, live)

	// Tell the members gaining shards first, with handover from their
	// previous owners, then everyone whose set differs.
	gained := map[string]map[int]string{}
	for sh, id := range next {
		if old[sh] != id {
			if gained[id] == nil {
				gained[id] = map[int]string{}
			}
			if prev := old[sh]; prev != "" && alive[prev] {
				gained[id][sh] = address[prev]
			} else {
				gained[id][sh] = ""
			}
		}
	}
	differs := func(i int) bool {
		return seen[i] != nil && (seen[i].Total != a.total || !slices.Equal(shardsOf(next, members[i].ID), seen[i].Shards))
	}
	changed := len(gained) > 0
	for i := range members {
		changed = changed || differs(i)
	}
	if !changed {
		return nil // every member holds its assignment: no new generation
	}
	var errs []error
	pushed := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(gained)) {
		if err := a.push(ctx, address[id], generation, shardsOf(next, id), gained[id]); err != nil {
			errs = append(errs, err)
			for sh := range gained[id] {
				next[sh] = old[sh] // keep the old owner until the next reconcile
			}
		}
		pushed[id] = true
	}
	a.mu.Lock()
	a.owner, a.generation = next, generation
	a.mu.Unlock()
	for i, m := range members {
		if !pushed[m.ID] && differs(i) {
			if err := a.push(ctx, m.Address, generation, shardsOf(next, m.ID), nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("demoshard: %v", errs)
	}
	return nil
}

// learnLocked takes the owner map from the shards the answering members
// report holding under this Assigner's total. A shard two members claim
// (the previous Assigner stopped after telling the gainer, before telling
// the loser) goes to the claim of the newer generation, then to the
// smaller member id. It reports whether any member answered: until one
// does there is nothing to learn.
func (a *Assigner) learnLocked(members []Member, seen []*Shards) bool {
	claim := make([]int64, a.total) // generation of owner[sh]'s claim
	answered := false
	for i, m := range members {
		st := seen[i]
		if st == nil {
			continue
		}
		answered = true
		if st.Total != a.total {
			continue // never assigned, or assigned under another shard count
		}
		for _, sh := range st.Shards {
			if sh < 0 || sh >= a.total {
				continue
			}
			if cur := a.owner[sh]; cur == "" || st.Generation > claim[sh] || st.Generation == claim[sh] && m.ID < cur {
				a.owner[sh], claim[sh] = m.ID, st.Generation
			}
		}
	}
	return answered
}

// balance returns a new shard → owner map over live members: every shard
// owned by a live member, counts differing by at most one, moving as few
// shards as possible.
func balance(old []string, live []string) []string {
	next := slices.Clone(old)
	count := map[string]int{}
	isLive := map[string]bool{}
	for _, id := range live {
		isLive[id] = true
		count[id] = 0
	}
	for _, id := range next {
		if isLive[id] {
			count[id]++
		}
	}
	limit := (len(next) + len(live) - 1) / len(live)
	for sh := len(next) - 1; sh >= 0; sh-- {
		id := next[sh]
		if !isLive[id] {
			next[sh] = ""
		} else if count[id] > limit {
			count[id]--
			next[sh] = ""
		}
	}
	least := func() string {
		return slices.MinFunc(live, func(x, y string) int { return count[x] - count[y] })
	}
	most := func() string {
		return slices.MaxFunc(live, func(x, y string) int { return count[x] - count[y] })
	}
	for sh, id := range next {
		if id == "" {
			to := least()
			next[sh] = to
			count[to]++
		}
	}
	for {
		from, to := most(), least()
		if count[from]-count[to] <= 1 {
			return next
		}
		sh := slices.Index(next, from)
		next[sh] = to
		count[from]--
		count[to]++
	}
}

func shardsOf(owner []string, id string) []int {
	shards := []int{}
	for sh, o := range owner {
		if o == id {
			shards = append(shards, sh)
		}
	}
	return shards
}

// observe returns what the member reports on GET /shards, or nil.
func (a *Assigner) observe(ctx context.Context, m Member) *Shards {
	return fetchShards(ctx, a.client, m.Address)
}

// push sends a member its assignment. gained maps the shards it gains to
// the address of their previous owner, "" for a shard without a handover;
// push leaves it as it is, so that a caller can undo every gained shard
// when push fails.
func (a *Assigner) push(ctx context.Context, addr string, generation int64, shards []int, gained map[int]string) error {
	handover := maps.Clone(gained)
	maps.DeleteFunc(handover, func(_ int, from string) bool { return from == "" })
	body, err := json.Marshal(Assignment{Total: a.total, Generation: generation, Shards: shards, Handover: handover})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/shards/assignment", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s/shards/assignment: %s", addr, resp.Status)
	}
	return nil
}
