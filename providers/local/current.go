package local

import (
	"context"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var (
	_ driver.Surveyor       = (*Driver)(nil)
	_ driver.ConfigSurveyor = (*Driver)(nil)
	_ driver.Lister         = (*Driver)(nil)
)

// Current reports the target's live revision from the state file, with
// its image, version and change ID as Deploy recorded them, and its
// Status (a real /healthz probe of its instances).
func (p *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	if err := ctx.Err(); err != nil {
		return driver.Current{}, err
	}
	p.mu.Lock()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.Live == "" {
		p.mu.Unlock()
		return driver.Current{}, nil
	}
	rev := *ts.revision(ts.Live)
	p.mu.Unlock()
	st, err := p.Status(ctx, t, rev.ID)
	if err != nil {
		return driver.Current{}, err
	}
	return driver.Current{
		Revision: rev.ID, Image: rev.Image, Version: rev.Version, ChangeID: rev.ChangeID,
		State: st.State, Ready: st.Ready, Desired: st.Desired, Reason: st.Reason,
	}, nil
}

// CurrentConfig reports the target's live config revision and version
// from the state file.
func (p *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	if err := ctx.Err(); err != nil {
		return driver.LiveConfig{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ts := p.targetLocked(t, false)
	if ts == nil || ts.LiveConfig == "" {
		return driver.LiveConfig{}, nil
	}
	return driver.LiveConfig{Revision: ts.LiveConfig, Version: ts.config(ts.LiveConfig).Version}, nil
}

// Managed lists the targets in scope with a live revision in the state
// file: everything the local cloud runs, Meridian started.
func (p *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var ts []driver.Target
	for _, tgt := range p.state.Targets {
		if tgt.Live != "" && scope.Contains(tgt.Target) {
			ts = append(ts, tgt.Target)
		}
	}
	driver.SortByID(ts)
	return ts, nil
}
