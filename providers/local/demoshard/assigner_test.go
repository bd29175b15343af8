package demoshard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func counts(owner []string) map[string]int {
	n := map[string]int{}
	for _, id := range owner {
		n[id]++
	}
	return n
}

func TestBalance(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  []string
		live []string
		want map[string]int
		// moved bounds how many shards may change owner.
		moved int
	}{
		{"first assignment", make([]string, 8), []string{"a", "b", "c"}, map[string]int{"a": 3, "b": 3, "c": 2}, 8},
		{"balanced stays", []string{"a", "b", "a", "b"}, []string{"a", "b"}, map[string]int{"a": 2, "b": 2}, 0},
		{"drained member's shards move", []string{"a", "b", "c", "a", "b", "c"}, []string{"a", "b"}, map[string]int{"a": 3, "b": 3}, 2},
		{"a new member gets a fair share", []string{"a", "a", "a", "b", "b", "b"}, []string{"a", "b", "c"}, map[string]int{"a": 2, "b": 2, "c": 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := balance(tc.old, tc.live)
			got := counts(next)
			for id, n := range tc.want {
				if got[id] != n {
					t.Fatalf("balance(%v, %v) = %v: counts %v, want %v", tc.old, tc.live, next, got, tc.want)
				}
			}
			moved := 0
			for sh := range next {
				if !slices.Contains(tc.live, next[sh]) {
					t.Fatalf("shard %d given to %q, not live", sh, next[sh])
				}
				if next[sh] != tc.old[sh] {
					moved++
				}
			}
			if moved > tc.moved {
				t.Fatalf("%d shards moved, want at most %d", moved, tc.moved)
			}
		})
	}
}

func TestShardOfIsStableAndSpread(t *testing.T) {
	seen := map[int]int{}
	for k := range 1000 {
		key := fmt.Sprint("key-", k)
		sh := ShardOf(key, 16)
		if sh != ShardOf(key, 16) || sh < 0 || sh >= 16 {
			t.Fatalf("ShardOf(%s) = %d", key, sh)
		}
		seen[sh]++
	}
	if len(seen) != 16 {
		t.Fatalf("1000 keys fell into %d of 16 shards", len(seen))
	}
}

// TestLearn: a new Assigner takes the owner map from the members' reports;
// a shard claimed twice goes to the newer generation, then the smaller id.
func TestLearn(t *testing.T) {
	a := NewAssigner(4, nil)
	members := []Member{{ID: "b"}, {ID: "a"}, {ID: "c"}, {ID: "d"}, {ID: "e"}}
	seen := []*Shards{
		{Total: 4, Generation: 7, Shards: []int{0, 1}},
		{Total: 4, Generation: 8, Shards: []int{1, 2}}, // told last: a wins shard 1
		{Total: 4, Generation: 8, Shards: []int{2, 3}}, // same generation: a wins shard 2
		{Total: 8, Generation: 9, Shards: []int{0}},    // another shard count: ignored
		nil, // did not answer
	}
	if !a.learnLocked(members, seen) {
		t.Fatal("learnLocked reports nothing learned from answering members")
	}
	if want := []string{"b", "a", "a", "c"}; !slices.Equal(a.owner, want) {
		t.Fatalf("learned owners %v, want %v", a.owner, want)
	}
	if NewAssigner(4, nil).learnLocked(members[:1], []*Shards{nil}) {
		t.Fatal("learnLocked reports learning with no member answering")
	}
}

// member serves the member side of the drain protocol for Reconcile: it
// reports holding nothing and answers assignments with status.
func member(t *testing.T, id string, status int) Member {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			json.NewEncoder(w).Encode(Shards{Shards: []int{}})
		default:
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return Member{ID: id, Address: strings.TrimPrefix(srv.URL, "http://")}
}

// TestFailedPushKeepsOldOwners: when a member refuses its assignment, every
// shard it was to gain stays with its old owner, shards without a handover
// (here: never assigned before) included.
func TestFailedPushKeepsOldOwners(t *testing.T) {
	members := []Member{member(t, "ok", http.StatusOK), member(t, "refuses", http.StatusInternalServerError)}
	a := NewAssigner(4, func(context.Context) ([]Member, error) { return members, nil })
	if err := a.Reconcile(context.Background()); err == nil {
		t.Fatal("Reconcile succeeded with a member refusing its assignment")
	}
	owners := a.Owners()
	if owners["refuses"] != 0 || owners["ok"] != 2 {
		t.Fatalf("owners after a refused push: %v, want only ok's 2 shards assigned", owners)
	}
}
