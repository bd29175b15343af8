package demoshard

import "hash/fnv"

// ShardOf maps a cache key to one of total shards. The demo service and the
// assigner agree on it, so a client routes a key to the shard's owner.
func ShardOf(key string, total int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(total))
}

// Shards is an instance's answer to GET /shards: the drain protocol's
// owned count and draining flag, plus the demo assignment it holds.
type Shards struct {
	Owned    int  `json:"owned"`
	Draining bool `json:"draining"`
	// Total is the fleet's shard count, 0 until the instance is assigned
	// shards (an unassigned instance serves every key).
	Total      int   `json:"total"`
	Generation int64 `json:"generation"`
	Shards     []int `json:"shards"`
}

// Assignment is the body of PUT /shards/assignment: the complete set of
// shards the instance owns from now on. Handover names, for shards new to
// the instance, the address of the previous owner to copy warm cache
// entries from before taking ownership.
type Assignment struct {
	Total      int            `json:"total"`
	Generation int64          `json:"generation"`
	Shards     []int          `json:"shards"`
	Handover   map[int]string `json:"handover,omitempty"`
}

// Export is the answer to GET /shards/export?shards=1,2: the cache entries
// the instance holds for those shards.
type Export struct {
	Entries map[string]string `json:"entries"`
}
