package azurecontainerapps

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

var (
	_ driver.Surveyor = (*Driver)(nil)
	_ driver.Lister   = (*Driver)(nil)
)

// Current reports the revision that serves the app's traffic (the
// largest share of a split), the image and version its artifact
// container runs, its rollout as Status reads it, and the change ID the
// app's tags record when Meridian made that revision live. An app that
// does not exist or is being deleted runs nothing.
func (d *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	a, err := d.App(t)
	if err != nil {
		return driver.Current{}, err
	}
	app, err := a.get(ctx)
	switch {
	case azure.ErrorCode(err) == driver.NotFound:
		return driver.Current{}, nil
	case err != nil:
		return driver.Current{}, err
	case deref((*string)(app.Properties.ProvisioningState)) == string(armappcontainers.ContainerAppProvisioningStateDeleting):
		return driver.Current{}, nil
	}
	current, _, err := live(app)
	if err != nil || current == "" {
		return driver.Current{}, err
	}
	rev, err := a.revision(ctx, current)
	if err != nil {
		return driver.Current{}, err
	}
	if rev == nil || rev.Properties == nil {
		return driver.Current{}, fmt.Errorf("%s sends its traffic to revision %s, which it does not have", a, current)
	}
	st := revisionStatus(current, rev.Properties)
	c := driver.Current{Revision: current, State: st.State, Ready: st.Ready, Desired: st.Desired, Reason: st.Reason}
	if tmpl := rev.Properties.Template; tmpl != nil {
		if i, err := d.container(t, tmpl.Containers, ""); err == nil {
			if image, version := driver.SplitImage(deref(tmpl.Containers[i].Image)); version != "" {
				c.Image, c.Version = image, version
			}
		}
	}
	if tag(app, TagRevision) == current {
		c.ChangeID = tag(app, TagChangeID)
	}
	return c, nil
}

// Managed lists the apps tagged meridian-target in the subscription of
// the scope (of its environment, when the subscription setting differs
// per environment), but those being deleted.
func (d *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	probe := driver.Target{Service: scope.Service, Environment: scope.Environment, Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region}
	res, err := d.scope.Resource(probe)
	if err != nil {
		return nil, err
	}
	client, err := d.apps.For(res.Subscription)
	if err != nil {
		return nil, err
	}
	var ts []driver.Target
	pages := client.NewListBySubscriptionPager(nil)
	for pages.More() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list container apps of subscription %s: %w", res.Subscription, err)
		}
		for _, app := range page.Value {
			if app.Properties != nil && deref((*string)(app.Properties.ProvisioningState)) == string(armappcontainers.ContainerAppProvisioningStateDeleting) {
				continue
			}
			if t, ok := driver.ParseID(tag(*app, TagTarget)); ok && scope.Contains(t) {
				ts = append(ts, t)
			}
		}
	}
	driver.SortByID(ts)
	return ts, nil
}
