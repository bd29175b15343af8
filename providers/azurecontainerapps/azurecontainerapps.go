// Package azurecontainerapps is Meridian's driver for Azure Container Apps.
//
// A target maps to one container app: subscription from the boundary's
// "subscription" provider setting, resource group from "resourceGroup"
// (default "{cell}" for a target with a cell, else
// "meridian-{environment}-{region}"), and app name from "containerApp"
// (default "{service}"); each setting may be suffixed ".<environment>".
// The app must exist, with ingress (traffic weights need it). A revision is
// the revision name, "<app>--<suffix>".
//
// Deploy switches the app to multiple-revision mode and, in one PATCH (a
// long-running operation it waits for), sets the template's image to
// image:version in the container that runs the artifact's repository, the
// revision suffix derived from the version, and 100% of the traffic to the
// new revision. Deploying the image the live revision (the one with 100%
// of the traffic) already runs changes nothing; deploying a version whose
// revision still exists sends the traffic back to it. Status reads the
// revision: Failed provisioning, Unhealthy health or a Failed running state
// is a failed rollout with Azure's provisioning error as the reason;
// Provisioned, Healthy and Running with every replica up is ready. Rollback
// reactivates the revision if needed and sends it 100% of the traffic.
// Remove deletes the app and Restore recreates it with the removed
// revision's template under its name. Deploy and Rollback tag the app
// meridian-target (the target's ID); Current reads the app, its live
// revision and tags, and Managed lists the subscription's apps with that
// tag.
//
// Previous is the revision that served the traffic before the deploy (the
// largest share of a split), whoever made it, so even the first Meridian
// release to a running app can be rolled back to what served before; it is
// "" only when no revision received traffic.
package azurecontainerapps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Options configures the driver; nil means defaults.
type Options = azure.Options

// SettingContainer is a boundary provider setting the driver reads besides
// azure's: it names the container whose image Deploy replaces
// when no container runs the artifact's repository and there are several.
const SettingContainer = "container"

// Tags Deploy and Rollback keep on the app.
const (
	TagRevision = "meridian-revision" // the revision Meridian made live
	TagPrevious = "meridian-previous" // the one live before it
	TagChangeID = "meridian-change-id"
	TagTarget   = "meridian-target" // the target's ID, which Managed lists
)

// Driver deploys to the container apps of one Azure boundary. It
// implements driver.Deployer.
type Driver struct {
	scope     azure.Scope
	apps      *azure.Clients[*armappcontainers.ContainerAppsClient]
	revisions *azure.Clients[*armappcontainers.ContainerAppsRevisionsClient]
}

var _ driver.Deployer = (*Driver)(nil)

// New returns a driver that calls Azure Resource Manager with cred (see
// azure.DefaultCredential) in the cloud of opts.Boundary.
func New(cred azcore.TokenCredential, opts *Options) (*Driver, error) {
	scope, err := azure.NewScope(opts)
	if err != nil {
		return nil, err
	}
	return &Driver{
		scope:     scope,
		apps:      azure.NewARMClients(scope, cred, armappcontainers.NewContainerAppsClient),
		revisions: azure.NewARMClients(scope, cred, armappcontainers.NewContainerAppsRevisionsClient),
	}, nil
}

// ErrorCode maps the driver's errors to driver codes.
func (d *Driver) ErrorCode(err error) driver.Code { return azure.ErrorCode(err) }

// App is the container app a target maps to.
type App struct {
	azure.Resource
	Name string

	apps      *armappcontainers.ContainerAppsClient
	revisions *armappcontainers.ContainerAppsRevisionsClient
}

func (a App) String() string {
	return fmt.Sprintf("container app %s in resource group %s", a.Name, a.ResourceGroup)
}

// App maps a target to its container app.
func (d *Driver) App(t driver.Target) (App, error) {
	res, name, err := d.scope.ContainerApp(t)
	if err != nil {
		return App{}, err
	}
	a := App{Resource: res, Name: name}
	if a.apps, err = d.apps.For(res.Subscription); err != nil {
		return App{}, err
	}
	if a.revisions, err = d.revisions.For(res.Subscription); err != nil {
		return App{}, err
	}
	return a, nil
}

func (a App) get(ctx context.Context) (armappcontainers.ContainerApp, error) {
	resp, err := a.apps.Get(ctx, a.ResourceGroup, a.Name, nil)
	if err != nil {
		return armappcontainers.ContainerApp{}, fmt.Errorf("get %s: %w", a, err)
	}
	if resp.Properties == nil || resp.Properties.Template == nil {
		return armappcontainers.ContainerApp{}, driver.Errorf(driver.Invalid, "%s has no template", a)
	}
	return resp.ContainerApp, nil
}

// revision returns the named revision, nil if the app has none by that name.
func (a App) revision(ctx context.Context, name string) (*armappcontainers.Revision, error) {
	resp, err := a.revisions.GetRevision(ctx, a.ResourceGroup, a.Name, name, nil)
	if azure.ErrorCode(err) == driver.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get revision %s of %s: %w", name, a, err)
	}
	return &resp.Revision, nil
}

// update PATCHes the app and waits for the long-running operation.
func (d *Driver) update(ctx context.Context, a App, patch armappcontainers.ContainerApp) error {
	poller, err := a.apps.BeginUpdate(ctx, a.ResourceGroup, a.Name, patch, nil)
	if err != nil {
		return fmt.Errorf("update %s: %w", a, err)
	}
	if _, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: d.scope.Poll}); err != nil {
		return fmt.Errorf("update %s: %w", a, err)
	}
	return nil
}

// live returns the revision that receives the largest share of the app's
// traffic (all of it, outside a split) and that share in percent; "" when
// no revision receives any.
func live(app armappcontainers.ContainerApp) (string, int32, error) {
	cfg := app.Properties.Configuration
	if cfg == nil || cfg.Ingress == nil {
		return "", 0, driver.Errorf(driver.Invalid, "container app %s has no ingress: Meridian shifts traffic between revisions and needs it", deref(app.Name))
	}
	shares := map[string]int32{}
	for _, tw := range cfg.Ingress.Traffic {
		name := deref(tw.RevisionName)
		if tw.LatestRevision != nil && *tw.LatestRevision {
			name = deref(app.Properties.LatestReadyRevisionName)
			if name == "" {
				name = deref(app.Properties.LatestRevisionName)
			}
		}
		if name != "" && tw.Weight != nil {
			shares[name] += *tw.Weight
		}
	}
	var best string
	var share int32
	for name, w := range shares {
		if w > share || w == share && name < best {
			best, share = name, w
		}
	}
	return best, share, nil
}

// Deploy rolls req.Image:req.Version out to the target's container app.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	a, err := d.App(req.Target)
	if err != nil {
		return driver.Deployment{}, err
	}
	if req.Image == "" || req.Version == "" {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "container apps: deploy needs an image and a version")
	}
	app, err := a.get(ctx)
	if err != nil {
		return driver.Deployment{}, err
	}
	current, share, err := live(app)
	if err != nil {
		return driver.Deployment{}, err
	}
	image := req.Image + ":" + req.Version
	tmpl := app.Properties.Template
	i, err := d.container(req.Target, tmpl.Containers, req.Image)
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("%s: %w", a, err)
	}
	if share == 100 {
		rev, err := a.revision(ctx, current)
		if err != nil {
			return driver.Deployment{}, err
		}
		if rev != nil && runs(rev, i, image) {
			return driver.Deployment{Revision: current, Previous: tag(app, TagPrevious)}, nil
		}
	}
	suffix := Suffix(req.Version)
	name := a.Name + "--" + suffix
	existing, err := a.revision(ctx, name)
	if err != nil {
		return driver.Deployment{}, err
	}
	switch {
	case existing != nil && !runs(existing, i, image):
		return driver.Deployment{}, driver.Errorf(driver.Conflict, "%s: revision %s exists and does not run %s", a, name, image)
	case existing != nil:
		err = d.shift(ctx, a, app, req.Target, existing, current, req.ChangeID)
	default:
		containers := make([]*armappcontainers.Container, len(tmpl.Containers))
		copy(containers, tmpl.Containers)
		c := *containers[i]
		c.Image = to.Ptr(image)
		containers[i] = &c
		next := *tmpl
		next.Containers = containers
		next.RevisionSuffix = to.Ptr(suffix)
		patch := trafficPatch(app, req.Target, name, current, req.ChangeID)
		patch.Properties.Template = &next
		err = d.update(ctx, a, patch)
	}
	if err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: name, Previous: current, Changed: true}, nil
}

// trafficPatch is the PATCH that sends all traffic to revision, in
// multiple-revision mode, and records it in the app's tags.
func trafficPatch(app armappcontainers.ContainerApp, t driver.Target, revision, previous, changeID string) armappcontainers.ContainerApp {
	tags := map[string]*string{}
	for k, v := range app.Tags {
		if !strings.HasPrefix(k, "meridian-") {
			tags[k] = v
		}
	}
	tags[TagRevision] = to.Ptr(revision)
	tags[TagTarget] = to.Ptr(t.ID())
	if previous != "" {
		tags[TagPrevious] = to.Ptr(previous)
	}
	if changeID != "" {
		tags[TagChangeID] = to.Ptr(changeID)
	}
	return armappcontainers.ContainerApp{
		Tags: tags,
		Properties: &armappcontainers.ContainerAppProperties{
			Configuration: &armappcontainers.Configuration{
				ActiveRevisionsMode: to.Ptr(armappcontainers.ActiveRevisionsModeMultiple),
				Ingress: &armappcontainers.Ingress{
					Traffic: []*armappcontainers.TrafficWeight{{RevisionName: to.Ptr(revision), Weight: to.Ptr[int32](100)}},
				},
			},
		},
	}
}

// shift activates rev if it is inactive and sends it all traffic.
func (d *Driver) shift(ctx context.Context, a App, app armappcontainers.ContainerApp, t driver.Target, rev *armappcontainers.Revision, previous, changeID string) error {
	name := deref(rev.Name)
	if p := rev.Properties; p != nil && p.Active != nil && !*p.Active {
		if _, err := a.revisions.ActivateRevision(ctx, a.ResourceGroup, a.Name, name, nil); err != nil {
			return fmt.Errorf("activate revision %s of %s: %w", name, a, err)
		}
	}
	return d.update(ctx, a, trafficPatch(app, t, name, previous, changeID))
}

// container picks the container whose image Deploy replaces: the one that
// runs repository, else the one named by the container setting, else the
// only one.
func (d *Driver) container(t driver.Target, cs []*armappcontainers.Container, repository string) (int, error) {
	images, names := make([]string, len(cs)), make([]string, len(cs))
	for i, c := range cs {
		images[i], names[i] = deref(c.Image), deref(c.Name)
	}
	if i, ok := driver.Container(images, names, repository, d.scope.Setting(SettingContainer, t)); ok {
		return i, nil
	}
	return 0, driver.Errorf(driver.Invalid, "no container runs %s: name one with the %s setting", repository, SettingContainer)
}

// runs reports whether revision rev runs image in container i.
func runs(rev *armappcontainers.Revision, i int, image string) bool {
	if rev.Properties == nil || rev.Properties.Template == nil || i >= len(rev.Properties.Template.Containers) {
		return false
	}
	return deref(rev.Properties.Template.Containers[i].Image) == image
}

// Suffix derives a revision suffix from a version: lowercase letters,
// digits and single dashes, starting with a letter, at most 24 characters.
// A version that had to be changed to fit gets a short hash of the
// original, so that distinct versions keep distinct revisions.
func Suffix(version string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(version) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "v" + s
	}
	if s == version && len(s) <= 24 {
		return s
	}
	sum := sha256.Sum256([]byte(version))
	return strings.TrimRight(s[:min(len(s), 16)], "-") + "-" + hex.EncodeToString(sum[:])[:7]
}

func tag(app armappcontainers.ContainerApp, key string) string {
	return deref(app.Tags[key])
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Status reports the rollout of revision on the target's app.
func (d *Driver) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	a, err := d.App(t)
	if err != nil {
		return driver.Status{}, err
	}
	if revision == "" {
		return d.removalStatus(ctx, a)
	}
	rev, err := a.revision(ctx, revision)
	if err != nil {
		return driver.Status{}, err
	}
	if rev == nil || rev.Properties == nil {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s has no revision %q", a, revision)
	}
	return revisionStatus(revision, rev.Properties), nil
}

// desired is how many replicas a ready revision runs: its template's
// minimum replica count, at least one.
func desired(p *armappcontainers.RevisionProperties) int {
	if p.Template != nil && p.Template.Scale != nil && p.Template.Scale.MinReplicas != nil && *p.Template.Scale.MinReplicas > 0 {
		return int(*p.Template.Scale.MinReplicas)
	}
	return 1
}

func revisionStatus(name string, p *armappcontainers.RevisionProperties) driver.Status {
	want := desired(p)
	st := driver.Status{Revision: name, State: driver.StateProgressing, Desired: want}
	if p.Replicas != nil {
		st.Ready = min(int(*p.Replicas), want)
	}
	provisioning := deref((*string)(p.ProvisioningState))
	health := deref((*string)(p.HealthState))
	running := deref((*string)(p.RunningState))
	switch {
	case provisioning == string(armappcontainers.RevisionProvisioningStateFailed),
		health == string(armappcontainers.RevisionHealthStateUnhealthy),
		running == string(armappcontainers.RevisionRunningStateFailed):
		st.State, st.Ready = driver.StateFailed, 0
		st.Reason = fmt.Sprintf("revision %s: provisioning %s, health %s, running state %s", name, provisioning, health, running)
		if e := deref(p.ProvisioningError); e != "" {
			st.Reason += ": " + e
		}
	case p.Active != nil && !*p.Active:
		st.State, st.Ready = driver.StateFailed, 0
		st.Reason = fmt.Sprintf("revision %s is inactive", name)
	case provisioning == string(armappcontainers.RevisionProvisioningStateProvisioned) &&
		health == string(armappcontainers.RevisionHealthStateHealthy) &&
		running == string(armappcontainers.RevisionRunningStateRunning) && st.Ready == want:
		st.State = driver.StateReady
	}
	return st
}

// Rollback sends all of the target's traffic back to revision.
func (d *Driver) Rollback(ctx context.Context, t driver.Target, revision string) error {
	if revision == "" {
		return driver.Errorf(driver.Invalid, "container apps: rollback needs a revision")
	}
	a, err := d.App(t)
	if err != nil {
		return err
	}
	app, err := a.get(ctx)
	if err != nil {
		return err
	}
	rev, err := a.revision(ctx, revision)
	if err != nil {
		return err
	}
	if rev == nil {
		return driver.Errorf(driver.NotFound, "%s has no revision %q to roll back to", a, revision)
	}
	current, share, err := live(app)
	if err != nil {
		return err
	}
	if current == revision && share == 100 && (rev.Properties == nil || rev.Properties.Active == nil || *rev.Properties.Active) {
		return nil
	}
	return d.shift(ctx, a, app, t, rev, current, tag(app, TagChangeID))
}
