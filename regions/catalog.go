package regions

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

//go:generate go run ./internal/gen -data ../../shared/data -out catalog.json

//go:embed catalog.json
var embedded []byte

// Catalog is an immutable, indexed set of regions and boundaries. Lookups are
// map based. Returned values share their Paired slices with the catalog:
// treat them as read-only.
type Catalog struct {
	version    string
	regions    []Region   // sorted by cloud, boundary, id
	boundaries []Boundary // sorted by cloud, id
	clouds     []string   // sorted

	byKey      map[key]int // (cloud, region id) → index in regions
	byID       map[string][]int
	boundaryOf map[key]int // (cloud, boundary id) → index in boundaries
	byCloud    map[string][]int
	byBoundary map[string][]int // boundary id (any cloud) → regions
}

type key struct{ cloud, id string }

// Default returns the catalog embedded in the binary, parsed once.
var Default = sync.OnceValue(func() *Catalog {
	c, err := parse(embedded)
	if err != nil {
		// catalog.json is generated and checked by the tests; a failure here
		// is a broken build, not bad input.
		panic("regions: embedded catalog.json: " + err.Error())
	}
	return c
})

// file is the layout of catalog.json. Each record also carries provenance
// (which source every fact came from); the catalog reads only the facts.
type file struct {
	Version    string     `json:"version"`
	Boundaries []Boundary `json:"boundaries"`
	Regions    []Region   `json:"regions"`
}

func parse(data []byte) (*Catalog, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Version == "" {
		return nil, fmt.Errorf("no version")
	}
	c := &Catalog{
		version:    f.Version,
		regions:    f.Regions,
		boundaries: f.Boundaries,
		byKey:      make(map[key]int, len(f.Regions)),
		byID:       make(map[string][]int),
		boundaryOf: make(map[key]int, len(f.Boundaries)),
		byCloud:    make(map[string][]int),
		byBoundary: make(map[string][]int),
	}
	slices.SortFunc(c.boundaries, func(a, b Boundary) int {
		return cmp.Or(cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(c.regions, compareRegions)
	for i, b := range c.boundaries {
		k := key{b.Cloud, b.ID}
		if _, dup := c.boundaryOf[k]; dup {
			return nil, fmt.Errorf("duplicate boundary %s/%s", b.Cloud, b.ID)
		}
		c.boundaryOf[k] = i
		if _, seen := c.byCloud[b.Cloud]; !seen {
			c.byCloud[b.Cloud] = []int{}
			c.clouds = append(c.clouds, b.Cloud)
		}
		if _, seen := c.byBoundary[b.ID]; !seen {
			c.byBoundary[b.ID] = []int{}
		}
	}
	for i := range c.regions {
		r := &c.regions[i]
		if r.Paired == nil {
			r.Paired = []string{}
		}
		k := key{r.Cloud, r.ID}
		if _, dup := c.byKey[k]; dup {
			return nil, fmt.Errorf("duplicate region %s:%s", r.Cloud, r.ID)
		}
		if _, ok := c.boundaryOf[key{r.Cloud, r.Boundary}]; !ok {
			return nil, fmt.Errorf("region %s:%s: unknown boundary %q", r.Cloud, r.ID, r.Boundary)
		}
		c.byKey[k] = i
		c.byID[r.ID] = append(c.byID[r.ID], i)
		c.byCloud[r.Cloud] = append(c.byCloud[r.Cloud], i)
		c.byBoundary[r.Boundary] = append(c.byBoundary[r.Boundary], i)
	}
	return c, nil
}

// compareRegions orders regions by cloud, boundary and id, the catalog's order.
func compareRegions(a, b Region) int {
	return cmp.Or(cmp.Compare(a.Cloud, b.Cloud), cmp.Compare(a.Boundary, b.Boundary), cmp.Compare(a.ID, b.ID))
}

// Version identifies the catalog's data: a format number and a digest of the
// source facts it was generated from.
func (c *Catalog) Version() string { return c.version }

// Regions returns every region, sorted by cloud, boundary and id.
func (c *Catalog) Regions() []Region { return slices.Clone(c.regions) }

// Boundaries returns every boundary, sorted by cloud and id.
func (c *Catalog) Boundaries() []Boundary { return slices.Clone(c.boundaries) }

// Clouds returns the cloud names, sorted.
func (c *Catalog) Clouds() []string { return slices.Clone(c.clouds) }

// Region looks up a region by cloud and the cloud's own region id.
func (c *Catalog) Region(cloud, id string) (Region, bool) {
	i, ok := c.byKey[key{cloud, id}]
	if !ok {
		return Region{}, false
	}
	return c.regions[i], true
}

// Boundary looks up a boundary by cloud and boundary id.
func (c *Catalog) Boundary(cloud, id string) (Boundary, bool) {
	i, ok := c.boundaryOf[key{cloud, id}]
	if !ok {
		return Boundary{}, false
	}
	return c.boundaries[i], true
}

// ByID returns the regions of every cloud that has a region with this id
// (for example aws and local both have us-east-1), sorted by cloud.
func (c *Catalog) ByID(id string) []Region { return c.pick(c.byID[id]) }

// Select returns the regions matching sel, in catalog order. It uses the
// catalog's indexes where the selector allows, so it is cheaper than calling
// Matches on every region.
func (c *Catalog) Select(sel Selector) []Region {
	switch sel.Kind {
	case KindRegion:
		if sel.Cloud != "" {
			r, ok := c.Region(sel.Cloud, sel.Value)
			if !ok {
				return nil
			}
			return []Region{r}
		}
		return c.ByID(sel.Value)
	case KindCloud:
		return c.pick(c.byCloud[sel.Value])
	case KindBoundary:
		return c.pick(c.byBoundary[sel.Value])
	}
	var out []Region
	for _, r := range c.regions {
		if sel.Matches(r) {
			out = append(out, r)
		}
	}
	return out
}

func (c *Catalog) pick(idx []int) []Region {
	if len(idx) == 0 {
		return nil
	}
	out := make([]Region, len(idx))
	for i, j := range idx {
		out[i] = c.regions[j]
	}
	return out
}

// hasBoundary reports whether any cloud has a boundary with this id.
func (c *Catalog) hasBoundary(id string) bool {
	_, ok := c.byBoundary[id]
	return ok
}

// hasCloud reports whether the catalog knows the cloud.
func (c *Catalog) hasCloud(cloud string) bool {
	_, ok := c.byCloud[cloud]
	return ok
}
