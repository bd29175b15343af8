package gcprun

import (
	"context"
	"encoding/json"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Config reaches the service's ingress container as environment variables
// of a new revision: the JSON document and its version, and, when the
// document holds resolved secrets, the document as written, with its
// secret references (ConfigRequest.Source), which is what RemoveConfig
// returns and what Remove's Spec keeps of the config (see Remove).
const (
	EnvConfig        = "MERIDIAN_CONFIG"
	EnvConfigVersion = "MERIDIAN_CONFIG_VERSION"
	EnvConfigSource  = "MERIDIAN_CONFIG_SOURCE"
)

// ApplyConfig rolls a config version out as a new revision of the target's
// service: the live revision's image with EnvConfig and EnvConfigVersion
// (and EnvConfigSource) set. The Deployment's Revision and Previous are
// config versions.
func (d *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	if req.Version == "" || !json.Valid(req.Data) {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "config for %s: a version and a JSON document are required", req.Target.ID())
	}
	return d.configure(ctx, req.Target, configVars{req.Version, req.Data, req.Source})
}

// configVars are the config variables of a revision: version "" for none.
type configVars struct {
	version      string
	data, source []byte
}

// configOf returns the config variables a revision carries.
func configOf(r interface{ GetContainers() []*runpb.Container }) configVars {
	c := ingress(r)
	v := configVars{version: env(c, EnvConfigVersion), data: []byte(env(c, EnvConfig))}
	if src := env(c, EnvConfigSource); src != "" {
		v.source = []byte(src)
	}
	return v
}

// configure makes cfg the target's live config; version "" removes the
// config variables.
func (d *Driver) configure(ctx context.Context, t driver.Target, cfg configVars) (driver.Deployment, error) {
	name, err := d.ServiceName(t)
	if err != nil {
		return driver.Deployment{}, err
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil {
		return driver.Deployment{}, err
	}
	live, err := d.live(ctx, svc)
	if err != nil {
		return driver.Deployment{}, err
	}
	return d.reconfigure(ctx, svc, live, cfg)
}

// reconfigure is configure on the service and live revision (nil when
// none serves) the caller has read.
func (d *Driver) reconfigure(ctx context.Context, svc *runpb.Service, live *runpb.Revision, cfg configVars) (driver.Deployment, error) {
	version := cfg.version
	prev := configVersion(svc.Template)
	if live != nil {
		prev = configVersion(live)
		if prev == version && (pinnedTo(svc) == short(live.Name) || configVersion(svc.Template) == version) {
			return driver.Deployment{Revision: version, Previous: live.Annotations[annotationPreviousConfig]}, nil
		}
	}
	if pinnedTo(svc) == "" && configVersion(svc.Template) == version {
		return driver.Deployment{Revision: version, Previous: svc.Template.Annotations[annotationPreviousConfig]}, nil
	}
	tmpl := fromLive(svc, live)
	app := ingress(tmpl)
	if app == nil {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "Cloud Run service %s has no container", svc.Name)
	}
	setConfig(app, cfg)
	tmpl.Revision = revisionName(svc, "config-"+version)
	annotate(tmpl, live, "")
	tmpl.Annotations[annotationPreviousConfig] = prev
	if err := d.roll(ctx, svc, tmpl); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: version, Previous: prev, Changed: true}, nil
}

// ConfigStatus reports the rollout of a config version: the status of the
// live revision when it carries version, else of the newest revision that
// carries it, which is failed once a later revision (another config, or
// none after RemoveConfig) replaced it and it serves no traffic.
func (d *Driver) ConfigStatus(ctx context.Context, t driver.Target, version string) (driver.Status, error) {
	svc, rev, err := d.carrying(ctx, t, version)
	if err != nil {
		return driver.Status{}, err
	}
	st := status(svc, rev)
	st.Revision = version
	if rev.Name != svc.LatestCreatedRevision && traffic(svc, short(rev.Name)) == 0 && st.State != driver.StateFailed {
		st.State, st.Ready = driver.StateFailed, 0
		st.Reason = "config version " + version + " is no longer live: " + short(svc.LatestCreatedRevision) + " replaced it"
	}
	return st, nil
}

// RollbackConfig makes version the live config again, re-applying the
// documents recorded on the newest revision that carried it. Version ""
// removes the config variables.
func (d *Driver) RollbackConfig(ctx context.Context, t driver.Target, version string) error {
	if version == "" {
		_, err := d.configure(ctx, t, configVars{})
		return err
	}
	_, rev, err := d.carrying(ctx, t, version)
	if err != nil {
		return err
	}
	_, err = d.configure(ctx, t, configOf(rev))
	return err
}

// carrying finds the revision that carries config version on t's service.
func (d *Driver) carrying(ctx context.Context, t driver.Target, version string) (*runpb.Service, *runpb.Revision, error) {
	name, err := d.ServiceName(t)
	if err != nil {
		return nil, nil, err
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil {
		return nil, nil, err
	}
	live, err := d.live(ctx, svc)
	if err != nil {
		return nil, nil, err
	}
	if live != nil && configVersion(live) == version {
		return svc, live, nil
	}
	it := d.revisions.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: name})
	var newest *runpb.Revision
	for {
		rev, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if configVersion(rev) == version && (newest == nil || rev.CreateTime.AsTime().After(newest.CreateTime.AsTime())) {
			newest = rev
		}
	}
	if newest == nil {
		return nil, nil, driver.Errorf(driver.NotFound, "config version %s was never applied to %s", version, name)
	}
	return svc, newest, nil
}

// configVersion is the config version a revision or template carries.
func configVersion(r interface{ GetContainers() []*runpb.Container }) string {
	return env(ingress(r), EnvConfigVersion)
}

func env(c *runpb.Container, name string) string {
	for _, e := range c.GetEnv() {
		if e.Name == name {
			return e.GetValue()
		}
	}
	return ""
}

// setConfig sets (or, for version "", removes) the config variables.
func setConfig(c *runpb.Container, cfg configVars) {
	var kept []*runpb.EnvVar
	for _, e := range c.Env {
		if e.Name != EnvConfig && e.Name != EnvConfigVersion && e.Name != EnvConfigSource {
			kept = append(kept, e)
		}
	}
	if cfg.version != "" {
		kept = append(kept,
			&runpb.EnvVar{Name: EnvConfig, Values: &runpb.EnvVar_Value{Value: string(cfg.data)}},
			&runpb.EnvVar{Name: EnvConfigVersion, Values: &runpb.EnvVar_Value{Value: cfg.version}})
		if cfg.source != nil {
			kept = append(kept, &runpb.EnvVar{Name: EnvConfigSource, Values: &runpb.EnvVar_Value{Value: string(cfg.source)}})
		}
	}
	c.Env = kept
}
