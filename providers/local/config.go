package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// ApplyConfig writes the config document to the target's config file, which
// every instance re-reads (it is also sent SIGHUP); ConfigStatus reports
// when all of them serve it. The file and state.json are readable by this
// user only: they hold resolved secrets. state.json also records the
// request's Source, which RemoveConfig returns instead of them.
func (p *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	if err := ctx.Err(); err != nil {
		return driver.Deployment{}, err
	}
	var doc map[string]any
	if err := json.Unmarshal(req.Data, &doc); err != nil {
		return driver.Deployment{}, fmt.Errorf("config %s for %s: want a JSON object: %v: %w", req.Version, req.Target.ID(), err, errInvalid)
	}
	defer p.lockOp()()
	ts := p.targetLocked(req.Target, true)
	previous := ts.LiveConfig
	if live := ts.config(previous); live != nil && live.Version == req.Version && bytes.Equal(live.Data, req.Data) {
		return driver.Deployment{Revision: live.ID, Previous: p.previousConfigLocked(ts), Changed: false}, nil
	}
	c := &configRevision{ID: fmt.Sprintf("c%d-%s", len(ts.Configs)+1, req.Version), Version: req.Version, Data: bytes.Clone(req.Data), Source: bytes.Clone(req.Source)}
	ts.Configs = append(ts.Configs, c)
	if err := p.makeLiveLocked(ts, c); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: c.ID, Previous: previous, Changed: true}, nil
}

// previousConfigLocked is the config revision applied before the live one.
func (p *Driver) previousConfigLocked(ts *target) string {
	for i, c := range ts.Configs {
		if c.ID == ts.LiveConfig && i > 0 {
			return ts.Configs[i-1].ID
		}
	}
	return ""
}

// RollbackConfig makes config revision live again.
func (p *Driver) RollbackConfig(ctx context.Context, t driver.Target, revision string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer p.lockOp()()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.config(revision) == nil {
		return fmt.Errorf("rollback config %s: revision %q: %w", t.ID(), revision, errNotFound)
	}
	return p.makeLiveLocked(ts, ts.config(revision))
}

// makeLiveLocked writes c to the config file, records it live and tells
// the running instances to re-read it.
func (p *Driver) makeLiveLocked(ts *target, c *configRevision) error {
	tid := ts.Target.ID()
	if err := writeFileAtomic(p.configPath(tid), c.Data); err != nil {
		return fmt.Errorf("config %s: %w", tid, err)
	}
	ts.LiveConfig = c.ID
	if err := p.saveLocked(); err != nil {
		return err
	}
	for _, in := range ts.Instances {
		if in.PID != 0 && p.aliveLocked(in.PID) {
			syscall.Kill(in.PID, syscall.SIGHUP)
		}
	}
	return nil
}

// ConfigStatus reports how many running instances serve config revision.
func (p *Driver) ConfigStatus(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	if err := ctx.Err(); err != nil {
		return driver.Status{}, err
	}
	p.mu.Lock()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.config(revision) == nil {
		p.mu.Unlock()
		return driver.Status{}, fmt.Errorf("config status %s: revision %q: %w", t.ID(), revision, errNotFound)
	}
	c := ts.config(revision)
	live := ts.LiveConfig
	var running []instance
	for _, in := range ts.Instances {
		if in.PID != 0 {
			running = append(running, *in)
		}
	}
	p.mu.Unlock()
	st := driver.Status{Revision: revision, Desired: len(running)}
	if revision != live {
		st.State, st.Reason = driver.StateFailed, "replaced by "+live
		if live == "" {
			st.Reason = "removed: the target has no config"
		}
		return st, nil
	}
	sum := sha256.Sum256(c.Data)
	want := hex.EncodeToString(sum[:])
	for _, in := range running {
		var info struct {
			ConfigSHA256 string `json:"configSha256"`
		}
		if err := getJSON(ctx, "http://"+in.address()+"/", &info); err == nil && info.ConfigSHA256 == want {
			st.Ready++
		}
	}
	if err := ctx.Err(); err != nil {
		return driver.Status{}, err
	}
	st.State = driver.StateProgressing
	if st.Ready == st.Desired {
		st.State = driver.StateReady
	}
	return st, nil
}
