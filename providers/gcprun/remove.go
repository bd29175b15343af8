package gcprun

import (
	"context"
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
)

var (
	_ driver.Remover       = (*Driver)(nil)
	_ driver.ConfigRemover = (*Driver)(nil)
)

// Remove deletes the target's Cloud Run service (and with it its
// revisions), whoever created it, and waits for the deletion, which Cloud
// Run applies in seconds. The Removal's Revision is the revision that
// served, and its Spec the service as Restore recreates it (protojson): its
// settings, and a template that runs what that revision ran under its
// name. The Spec goes into workflow histories, so a config holding
// resolved secrets (EnvConfigSource set) is left out of it: Restore brings
// the revision back without config, and RestoreConfig of the ConfigRemoval
// puts the config back. A service that does not exist is already removed.
func (d *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	svc, live, err := d.existing(ctx, t)
	if svc == nil || err != nil {
		return driver.Removal{}, err
	}
	r := driver.Removal{Revision: svc.Template.GetRevision(), Instances: 1}
	tmpl := fromLive(svc, live)
	if live != nil {
		r.Revision = short(live.Name)
		tmpl.Annotations, tmpl.Labels = live.Annotations, live.Labels
	}
	tmpl.Revision = r.Revision
	if configOf(tmpl).source != nil {
		setConfig(ingress(tmpl), configVars{}) // resolved secrets: RestoreConfig brings the config back
	}
	if image, version := driver.SplitImage(ingress(tmpl).GetImage()); version != "" {
		r.Image, r.Version = image, version
	}
	spec, err := protojson.Marshal(&runpb.Service{
		Description: svc.Description, Labels: svc.Labels, Annotations: svc.Annotations,
		Client: svc.Client, ClientVersion: svc.ClientVersion, Ingress: svc.Ingress, LaunchStage: svc.LaunchStage,
		BinaryAuthorization: svc.BinaryAuthorization, Scaling: svc.Scaling, CustomAudiences: svc.CustomAudiences,
		InvokerIamDisabled: svc.InvokerIamDisabled, DefaultUriDisabled: svc.DefaultUriDisabled,
		Template: tmpl, Traffic: latest(),
	})
	if err != nil {
		return driver.Removal{}, err
	}
	r.Spec = string(spec)
	op, err := d.services.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svc.Name, Etag: svc.Etag})
	if gcp.ErrorCode(err) == driver.NotFound {
		return driver.Removal{}, nil // deleted meanwhile
	} else if err != nil {
		return driver.Removal{}, err
	}
	if err := d.await(ctx, op); err != nil {
		return driver.Removal{}, err
	}
	return r, nil
}

// Restore recreates the deleted service from r.Spec, whose template names
// the removed revision, and waits until Cloud Run has created that
// revision; Status reads its rollout. A service that exists again has its
// traffic sent back to r.Revision, as Rollback does.
func (d *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	name, err := d.ServiceName(t)
	if err != nil {
		return driver.Deployment{}, err
	}
	spec := &runpb.Service{}
	if err := protojson.Unmarshal([]byte(r.Spec), spec); err != nil || spec.Template.GetRevision() != r.Revision || !strings.HasPrefix(r.Revision, short(name)+"-") {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "%s: %q is not a removal of this Cloud Run service", name, r.Revision)
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	switch {
	case err == nil:
		live, err := d.live(ctx, svc)
		if err != nil {
			return driver.Deployment{}, err
		}
		if live != nil && short(live.Name) == r.Revision {
			return driver.Deployment{Revision: r.Revision}, nil
		}
		if err := d.Rollback(ctx, t, r.Revision); err != nil {
			return driver.Deployment{}, err
		}
		return driver.Deployment{Revision: r.Revision, Previous: short(live.GetName()), Changed: true}, nil
	case gcp.ErrorCode(err) != driver.NotFound:
		return driver.Deployment{}, err
	}
	parent, id, _ := strings.Cut(name, "/services/")
	op, err := d.services.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: id, Service: proto.Clone(spec).(*runpb.Service)})
	if err != nil {
		return driver.Deployment{}, err
	}
	if err := d.awaitRevision(ctx, op, name+"/revisions/"+r.Revision); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: r.Revision, Changed: true}, nil
}

// RemoveConfig rolls out a revision without the config variables. The
// ConfigRemoval's Data is the document the live revision carried, as
// written (EnvConfigSource) when it holds resolved secrets.
func (d *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	svc, live, err := d.existing(ctx, t)
	if svc == nil || err != nil {
		return driver.ConfigRemoval{}, err
	}
	var carrier interface{ GetContainers() []*runpb.Container } = svc.Template
	if live != nil {
		carrier = live
	}
	version := configVersion(carrier)
	if version == "" && configVersion(svc.Template) == "" {
		return driver.ConfigRemoval{}, nil
	}
	cfg := configOf(carrier)
	r := driver.ConfigRemoval{Revision: version, Version: version, Data: cfg.data}
	if cfg.source != nil {
		r.Data = cfg.source
	}
	if _, err := d.reconfigure(ctx, svc, live, configVars{}); err != nil {
		return driver.ConfigRemoval{}, err
	}
	if version == "" {
		return driver.ConfigRemoval{}, nil // only a rollout carried config
	}
	return r, nil
}

// existing returns the target's service and its live revision (nil when
// none serves); a nil service, without an error, when there is none.
func (d *Driver) existing(ctx context.Context, t driver.Target) (*runpb.Service, *runpb.Revision, error) {
	name, err := d.ServiceName(t)
	if err != nil {
		return nil, nil, err
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if gcp.ErrorCode(err) == driver.NotFound {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	live, err := d.live(ctx, svc)
	if err != nil {
		return nil, nil, err
	}
	return svc, live, nil
}
