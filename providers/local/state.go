package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// state is what state.json holds.
type state struct {
	Targets map[string]*target `json:"targets"` // by Target.ID()
}

// target is one target's group of processes and its history.
type target struct {
	Target driver.Target `json:"target"`
	// Revisions are every revision deployed, oldest first.
	Revisions []*revision `json:"revisions"`
	// Live is the revision the target runs or is rolling out to;
	// State and Reason tell how that rollout stands.
	Live   string       `json:"live,omitempty"`
	State  driver.State `json:"state,omitempty"`
	Reason string       `json:"reason,omitempty"`
	// Stable is the last revision whose rollout finished ready.
	Stable   string    `json:"stable,omitempty"`
	Desired  int       `json:"desired"`
	Sharding *sharding `json:"sharding,omitempty"`

	Instances    []*instance `json:"instances"`
	NextInstance int         `json:"nextInstance"`

	Configs    []*configRevision `json:"configs,omitempty"`
	LiveConfig string            `json:"liveConfig,omitempty"`
}

// sharding is how the state file records a target's driver.Sharding, in
// the format state files have always had: the drain timeout as a Go
// duration string ("10s").
type sharding struct {
	Sharder        string `json:"sharder"`
	MaxUnavailable int    `json:"maxUnavailable"`
	DrainTimeout   string `json:"drainTimeout"`
}

// shardingState is s as the state file records it, nil for nil.
func shardingState(s *driver.Sharding) *sharding {
	if s == nil {
		return nil
	}
	return &sharding{Sharder: s.Sharder, MaxUnavailable: s.MaxUnavailable, DrainTimeout: s.DrainTimeout.String()}
}

// drainTimeout is the recorded drain timeout, 0 when none is set.
func (s *sharding) drainTimeout() time.Duration {
	d, _ := time.ParseDuration(s.DrainTimeout)
	return d
}

type revision struct {
	ID       string `json:"id"`
	Image    string `json:"image"`
	Version  string `json:"version"`
	ChangeID string `json:"changeId,omitempty"`
	// Previous is the revision that was ready when this one was deployed.
	Previous string `json:"previous,omitempty"`
	// Failure is why this revision's last rollout failed, if it did.
	Failure string `json:"failure,omitempty"`
}

type instance struct {
	ID       string `json:"id"`
	Revision string `json:"revision"`
	PID      int    `json:"pid"` // 0 when stopped
	Port     int    `json:"port"`
	// Serving is set once the instance passed its readiness check, and
	// cleared while it stops or restarts; only serving instances own shards.
	Serving bool `json:"serving"`
}

type configRevision struct {
	ID      string          `json:"id"`
	Version string          `json:"version"`
	Data    json.RawMessage `json:"data"`
	// Source is the document as written, with its secret references,
	// when Data holds resolved secrets (driver.ConfigRequest.Source).
	Source json.RawMessage `json:"source,omitempty"`
}

func (in *instance) address() string { return fmt.Sprintf("127.0.0.1:%d", in.Port) }

func (ts *target) revision(id string) *revision {
	for _, r := range ts.Revisions {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (ts *target) instance(id string) *instance {
	for _, in := range ts.Instances {
		if in.ID == id {
			return in
		}
	}
	return nil
}

func (ts *target) config(id string) *configRevision {
	for _, c := range ts.Configs {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (ts *target) removeInstance(id string) {
	for i, in := range ts.Instances {
		if in.ID == id {
			ts.Instances = append(ts.Instances[:i], ts.Instances[i+1:]...)
			return
		}
	}
}

// dir is the target's directory under the state dir.
func (p *Driver) dir(id string) string {
	return filepath.Join(p.opts.StateDir, "targets", strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(id))
}

func (p *Driver) configPath(id string) string { return filepath.Join(p.dir(id), "config.json") }

func (p *Driver) statePath() string { return filepath.Join(p.opts.StateDir, "state.json") }

// lockOp takes the operation lock, then the state lock, for a call that
// changes a target (Deploy, Rollback, ApplyConfig, RollbackConfig); the
// func it returns releases both.
func (p *Driver) lockOp() (unlock func()) {
	p.ops.Lock()
	p.mu.Lock()
	return func() {
		p.mu.Unlock()
		p.ops.Unlock()
	}
}

// targetLocked returns the target's state, creating it when create is set.
func (p *Driver) targetLocked(t driver.Target, create bool) *target {
	ts := p.state.Targets[t.ID()]
	if ts == nil && create {
		ts = &target{Target: t}
		p.state.Targets[t.ID()] = ts
	}
	return ts
}

func (p *Driver) load() error {
	p.state = state{Targets: map[string]*target{}}
	data, err := os.ReadFile(p.statePath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local provider: %w", err)
	}
	if err := json.Unmarshal(data, &p.state); err != nil {
		return fmt.Errorf("local provider: %s: %w", p.statePath(), err)
	}
	if p.state.Targets == nil {
		p.state.Targets = map[string]*target{}
	}
	return nil
}

// save writes state.json atomically.
func (p *Driver) save() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveLocked()
}

func (p *Driver) saveLocked() error {
	data, err := json.MarshalIndent(p.state, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p.statePath(), data)
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// adopt checks every recorded instance: one whose process still runs and
// answers as itself is kept, any other is recorded as stopped. Sharded
// targets get their assigner back and unfinished rollouts resume.
func (p *Driver) adopt() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*p.opts.ReadyTimeout)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ts := range p.state.Targets {
		for _, in := range ts.Instances {
			if in.PID != 0 && !(pidAlive(in.PID) && identify(ctx, in) == nil) {
				in.PID, in.Serving = 0, false
			}
		}
		if ts.Sharding != nil {
			p.startFleetLocked(id)
		}
		if ts.State == driver.StateProgressing {
			p.startRolloutLocked(id)
		}
	}
	p.saveLocked()
}
