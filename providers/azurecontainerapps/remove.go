package azurecontainerapps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

var _ driver.Remover = (*Driver)(nil)

// Remove deletes the target's container app, whoever created it, and its
// revisions with it; Resource Manager reports it Deleting until the
// deletion is done. The Removal's Revision is the revision that served
// the traffic and its Spec the app as Restore recreates it (JSON): its
// location, tags, identity, environment, configuration and the live
// revision's template under that revision's suffix. An app whose
// configuration holds secret values is refused with code Invalid and left
// as it is: Resource Manager never returns those values, so it could not
// be recreated (secrets that reference Key Vault can). An app that does
// not exist is already removed.
func (d *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	a, err := d.App(t)
	if err != nil {
		return driver.Removal{}, err
	}
	app, err := a.get(ctx)
	switch {
	case azure.ErrorCode(err) == driver.NotFound:
		return driver.Removal{}, nil
	case err != nil:
		return driver.Removal{}, err
	case deref((*string)(app.Properties.ProvisioningState)) == string(armappcontainers.ContainerAppProvisioningStateDeleting):
		return driver.Removal{}, nil // being deleted already
	}
	current, _, err := live(app)
	if err != nil {
		return driver.Removal{}, err
	}
	if current == "" {
		current = deref(app.Properties.LatestRevisionName)
	}
	rev, err := a.revision(ctx, current)
	if err != nil {
		return driver.Removal{}, err
	}
	if rev == nil || rev.Properties == nil || rev.Properties.Template == nil {
		return driver.Removal{}, driver.Errorf(driver.Invalid, "%s: revision %q has no template to restore it from", a, current)
	}
	cfg := *app.Properties.Configuration
	for _, s := range cfg.Secrets {
		if s.KeyVaultURL == nil {
			return driver.Removal{}, driver.Errorf(driver.Invalid, "%s holds secret %s, whose value Resource Manager does not return: it could not be recreated, so Meridian does not delete it", a, deref(s.Name))
		}
	}
	ingress := *cfg.Ingress
	ingress.Traffic = []*armappcontainers.TrafficWeight{{LatestRevision: to.Ptr(true), Weight: to.Ptr[int32](100)}}
	ingress.Fqdn = nil
	cfg.Ingress = &ingress
	tmpl := *rev.Properties.Template
	_, suffix, _ := strings.Cut(current, "--")
	tmpl.RevisionSuffix = to.Ptr(suffix)
	spec, err := json.Marshal(armappcontainers.ContainerApp{
		Location: app.Location, Tags: app.Tags, Identity: app.Identity, ExtendedLocation: app.ExtendedLocation,
		Properties: &armappcontainers.ContainerAppProperties{
			Configuration: &cfg, EnvironmentID: app.Properties.EnvironmentID, ManagedEnvironmentID: app.Properties.ManagedEnvironmentID,
			WorkloadProfileName: app.Properties.WorkloadProfileName, Template: &tmpl,
		},
	})
	if err != nil {
		return driver.Removal{}, err
	}
	r := driver.Removal{Revision: current, Instances: desired(rev.Properties), Spec: string(spec)}
	if i, err := d.container(t, tmpl.Containers, ""); err == nil {
		if image, version := driver.SplitImage(deref(tmpl.Containers[i].Image)); version != "" {
			r.Image, r.Version = image, version
		}
	}
	if _, err := a.apps.BeginDelete(ctx, a.ResourceGroup, a.Name, nil); azure.ErrorCode(err) == driver.NotFound {
		return driver.Removal{}, nil // deleted meanwhile
	} else if err != nil {
		return driver.Removal{}, fmt.Errorf("delete %s: %w", a, err)
	}
	return r, nil
}

// removalStatus is the Status of revision "": progressing while the app
// is being deleted, failed while it exists, NotFound once it is gone.
func (d *Driver) removalStatus(ctx context.Context, a App) (driver.Status, error) {
	app, err := a.get(ctx)
	if err != nil {
		return driver.Status{}, err
	}
	if deref((*string)(app.Properties.ProvisioningState)) == string(armappcontainers.ContainerAppProvisioningStateDeleting) {
		return driver.Status{State: driver.StateProgressing, Reason: fmt.Sprintf("%s is being deleted", a)}, nil
	}
	current, _, _ := live(app)
	return driver.Status{State: driver.StateFailed, Reason: fmt.Sprintf("%s exists and serves %q", a, current)}, nil
}

// Restore recreates the deleted app from r.Spec (a PUT, waited for), whose
// template makes the removed revision again under its name. While the old
// app is still being deleted Restore fails with code Conflict, to be
// retried; an app that exists again has its traffic sent back to
// r.Revision, as Rollback does.
func (d *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	a, err := d.App(t)
	if err != nil {
		return driver.Deployment{}, err
	}
	var spec armappcontainers.ContainerApp
	if err := json.Unmarshal([]byte(r.Spec), &spec); err != nil || spec.Properties == nil || spec.Properties.Template == nil ||
		a.Name+"--"+deref(spec.Properties.Template.RevisionSuffix) != r.Revision {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "%s: %q is not a removal of this app", a, r.Revision)
	}
	app, err := a.get(ctx)
	switch {
	case err == nil && deref((*string)(app.Properties.ProvisioningState)) == string(armappcontainers.ContainerAppProvisioningStateDeleting):
		return driver.Deployment{}, driver.Errorf(driver.Conflict, "%s is still being deleted: restore it once it is gone", a)
	case err == nil:
		current, share, err := live(app)
		if err != nil {
			return driver.Deployment{}, err
		}
		if current == r.Revision && share == 100 {
			return driver.Deployment{Revision: r.Revision}, nil
		}
		if err := d.Rollback(ctx, t, r.Revision); err != nil {
			return driver.Deployment{}, err
		}
		return driver.Deployment{Revision: r.Revision, Previous: current, Changed: true}, nil
	case azure.ErrorCode(err) != driver.NotFound:
		return driver.Deployment{}, err
	}
	poller, err := a.apps.BeginCreateOrUpdate(ctx, a.ResourceGroup, a.Name, spec, nil)
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("recreate %s: %w", a, err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: d.scope.Poll}); err != nil {
		return driver.Deployment{}, fmt.Errorf("recreate %s: %w", a, err)
	}
	return driver.Deployment{Revision: r.Revision, Changed: true}, nil
}
