package gcprun

import (
	"context"
	"fmt"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var (
	_ driver.Surveyor       = (*Driver)(nil)
	_ driver.ConfigSurveyor = (*Driver)(nil)
	_ driver.Lister         = (*Driver)(nil)
)

// current returns the target's service and its current revision: the one
// traffic is pinned to (after a rollback), else the latest created one,
// which traffic follows once it is ready, else the one serving. A nil
// service, without an error, when there is none.
func (d *Driver) current(ctx context.Context, t driver.Target) (*runpb.Service, *runpb.Revision, error) {
	svc, live, err := d.existing(ctx, t)
	if svc == nil || err != nil {
		return nil, nil, err
	}
	name := pinnedTo(svc)
	if name == "" {
		name = short(svc.LatestCreatedRevision)
	}
	if name == "" || live != nil && short(live.Name) == name {
		return svc, live, nil
	}
	rev, err := d.revisions.GetRevision(ctx, &runpb.GetRevisionRequest{Name: svc.Name + "/revisions/" + name})
	if err != nil {
		return nil, nil, err
	}
	return svc, rev, nil
}

// Current reports the target's current revision (see current), the image
// and version its ingress container runs, the change ID Deploy annotated
// it with, and its Status.
func (d *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	svc, rev, err := d.current(ctx, t)
	if rev == nil || err != nil {
		return driver.Current{}, err
	}
	st := status(svc, rev)
	c := driver.Current{Revision: st.Revision, ChangeID: rev.Annotations[annotationChange], State: st.State, Ready: st.Ready, Desired: st.Desired, Reason: st.Reason}
	if image, version := driver.SplitImage(ingress(rev).GetImage()); version != "" {
		c.Image, c.Version = image, version
	}
	return c, nil
}

// CurrentConfig reports the config version the current revision carries
// (config revisions are versions).
func (d *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	_, rev, err := d.current(ctx, t)
	if rev == nil || err != nil {
		return driver.LiveConfig{}, err
	}
	v := configVersion(rev)
	return driver.LiveConfig{Revision: v, Version: v}, nil
}

// Managed lists the services labelled with a target's environment in the
// scope's region, in the project of the scope's environment (the
// boundary's "project.<environment>" or "project" setting): targets whose
// cell names another project are listed only by a scope of that project,
// which Scope cannot name.
func (d *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	project, err := d.scope.Project(driver.Target{Service: scope.Service, Environment: scope.Environment, Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region})
	if err != nil {
		return nil, err
	}
	parent := fmt.Sprintf("projects/%s/locations/%s", project, scope.Region)
	var ts []driver.Target
	it := d.services.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent})
	for {
		svc, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, err
		}
		env, ok := svc.Labels[labelEnvironment]
		t := driver.Target{Service: short(svc.Name), Environment: env, Cloud: "gcp", Boundary: d.scope.Boundary.ID, Region: scope.Region, Cell: svc.Labels[labelCell]}
		if ok && env != "" && scope.Contains(t) {
			ts = append(ts, t)
		}
	}
	driver.SortByID(ts)
	return ts, nil
}
