package aws

import (
	"sync"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Clients makes and caches one SDK client per (boundary, region), so that
// every call for a target goes to its own region inside its own partition.
type Clients[C any] struct {
	only      string // the one boundary served, "" for any
	newClient func(b regions.Boundary, region string) C

	mu sync.Mutex
	m  map[string]C
}

// NewClients returns a cache that builds clients with newClient. When only
// is not "", targets of any other boundary are refused: a driver whose
// configuration holds one boundary's credentials serves that boundary alone.
func NewClients[C any](only string, newClient func(b regions.Boundary, region string) C) *Clients[C] {
	return &Clients[C]{only: only, newClient: newClient, m: map[string]C{}}
}

// For returns the client for t's boundary and region, after checking that
// the target is an AWS target whose region lies in its boundary.
func (c *Clients[C]) For(t driver.Target) (C, error) {
	var zero C
	if t.Cloud != "aws" {
		return zero, driver.Errorf(driver.Invalid, "aws: target %s is not an aws target", t.ID())
	}
	if c.only != "" && t.Boundary != c.only {
		return zero, driver.Errorf(driver.Invalid, "aws: target %s is outside boundary %s, the only one this driver serves", t.ID(), c.only)
	}
	b, err := Boundary(t.Boundary)
	if err != nil {
		return zero, err
	}
	if err := CheckRegion(b, t.Region); err != nil {
		return zero, err
	}
	key := b.ID + "/" + t.Region
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.m[key]
	if !ok {
		cl = c.newClient(b, t.Region)
		c.m[key] = cl
	}
	return cl, nil
}
