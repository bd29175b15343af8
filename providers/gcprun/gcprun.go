// Package gcprun is the Cloud Run (Admin API v2) driver: it rolls container
// images out to Cloud Run services as new revisions, reads readiness from
// the revisions' conditions, rolls back by sending all traffic to the
// previous revision, and delivers config as revision environment variables.
//
// A target maps to the service
// projects/{project}/locations/{region}/services/{service}, where the
// project comes from gcp.Scope.Project (the target's cell, else the
// boundary's "project.<environment>" or "project" provider setting).
//
// Deploy does not wait for the rollout: it updates the service's template
// (image and revision name), waits only until Cloud Run has created the
// revision, and returns; Status polls the revision. Rollback waits for its
// traffic update, which Cloud Run applies in seconds. Remove deletes the
// service and Restore recreates it under the removed revision's name;
// RemoveConfig rolls out a revision without the config variables.
//
// Deploy labels the service with the target's environment (and cell);
// Current reads the service and the revision it serves or rolls out to,
// CurrentConfig the config variables of that revision, and Managed lists
// the labelled services of the scope's project and region.
package gcprun

import (
	"context"
	"errors"
	"fmt"
	"strings"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Options configures the driver; nil means defaults.
type Options = gcp.Options

// Annotations Meridian writes on the revisions it creates, and the label it
// puts on services it creates.
const (
	annotationChange   = "meridian.dev/change-id"
	annotationPrevious = "meridian.dev/previous-revision"
	// annotationPreviousConfig is the config version live before a config revision.
	annotationPreviousConfig = "meridian.dev/previous-config"
	labelManagedBy           = "managed-by"
	// labelEnvironment and labelCell are the target's environment and
	// cell, which Deploy labels every service it deploys to with, for
	// Managed to list.
	labelEnvironment = "meridian-environment"
	labelCell        = "meridian-cell"
)

// Driver deploys to Cloud Run services of one boundary. It implements
// driver.Deployer, driver.Configurer, driver.Remover,
// driver.ConfigRemover, driver.Surveyor, driver.ConfigSurveyor and
// driver.Lister.
type Driver struct {
	scope     gcp.Scope
	services  *run.ServicesClient
	revisions *run.RevisionsClient
	opts      *Options
}

var (
	_ driver.Deployer   = (*Driver)(nil)
	_ driver.Configurer = (*Driver)(nil)
)

// New returns a driver for the Cloud Run services of boundary b, whose
// clients use b's universe domain and Application Default Credentials
// unless opts.ClientOptions say otherwise. Close it when done.
func New(ctx context.Context, b regions.Boundary, opts *Options) (*Driver, error) {
	if opts == nil {
		opts = &Options{}
	}
	services, revisions, err := gcp.NewClients(ctx, b, opts, run.NewServicesClient, run.NewRevisionsClient)
	if err != nil {
		return nil, err
	}
	retry := []gax.CallOption{opts.CallOption()}
	services.CallOptions.GetService = retry
	services.CallOptions.CreateService = retry
	services.CallOptions.UpdateService = retry
	services.CallOptions.DeleteService = retry
	services.CallOptions.ListServices = retry
	services.LROClient.CallOptions.GetOperation = retry
	revisions.CallOptions.GetRevision = retry
	revisions.CallOptions.ListRevisions = retry
	return &Driver{scope: gcp.Scope{Boundary: b, Settings: opts.Settings}, services: services, revisions: revisions, opts: opts}, nil
}

// Close releases the driver's connections.
func (d *Driver) Close() error {
	return errors.Join(d.services.Close(), d.revisions.Close())
}

// ErrorCode maps the driver's errors to driver codes.
func (d *Driver) ErrorCode(err error) driver.Code { return gcp.ErrorCode(err) }

// ServiceName is the Cloud Run service a target maps to.
func (d *Driver) ServiceName(t driver.Target) (string, error) {
	project, err := d.scope.Project(t)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("projects/%s/locations/%s/services/%s", project, t.Region, t.Service), nil
}

// Deploy rolls Image:Version out to the target's service. A service that
// does not exist yet is created (labelled managed-by=meridian).
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	name, err := d.ServiceName(req.Target)
	if err != nil {
		return driver.Deployment{}, err
	}
	if req.Image == "" || req.Version == "" {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "deploy to %s: image and version are required", req.Target.ID())
	}
	image := req.Image + ":" + req.Version
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if gcp.ErrorCode(err) == driver.NotFound {
		return d.create(ctx, name, image, req)
	}
	if err != nil {
		return driver.Deployment{}, err
	}
	live, err := d.live(ctx, svc)
	if err != nil {
		return driver.Deployment{}, err
	}
	if dep, ok := unchanged(svc, live, image); ok {
		return dep, nil
	}
	tmpl := fromLive(svc, live)
	app := ingress(tmpl)
	if app == nil {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "Cloud Run service %s has no container", name)
	}
	app.Image = image
	tmpl.Revision = revisionName(svc, req.Version)
	prev := annotate(tmpl, live, req.ChangeID)
	svc.Labels = targetLabels(svc.Labels, req.Target)
	if err := d.roll(ctx, svc, tmpl); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: tmpl.Revision, Previous: prev, Changed: true}, nil
}

// unchanged reports the deployment when image already runs on the service,
// or is already rolling out to it.
func unchanged(svc *runpb.Service, live *runpb.Revision, image string) (driver.Deployment, bool) {
	pinned := pinnedTo(svc)
	rolling := ingress(svc.Template).GetImage() == image
	if live != nil && ingress(live).GetImage() == image && (pinned == short(live.Name) || rolling) {
		return driver.Deployment{Revision: short(live.Name), Previous: live.Annotations[annotationPrevious]}, true
	}
	if pinned == "" && rolling {
		// The template names the revision it creates (Cloud Run may not
		// have reported it as the latest created one yet).
		rev := svc.Template.Revision
		if rev == "" {
			rev = short(svc.LatestCreatedRevision)
		}
		return driver.Deployment{Revision: rev, Previous: svc.Template.Annotations[annotationPrevious]}, true
	}
	return driver.Deployment{}, false
}

// ingress returns the container that serves requests: the one with a port
// (Cloud Run allows one), else the only or first one; nil when there is none.
func ingress(r interface{ GetContainers() []*runpb.Container }) *runpb.Container {
	cs := r.GetContainers()
	for _, c := range cs {
		if len(c.Ports) > 0 {
			return c
		}
	}
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// fromLive returns a copy of the service's template whose containers run
// what the live revision runs (images, environment, sidecars): after a
// rollback pinned traffic to an older revision, the template still
// describes the newer one.
func fromLive(svc *runpb.Service, live *runpb.Revision) *runpb.RevisionTemplate {
	tmpl := proto.Clone(svc.Template).(*runpb.RevisionTemplate)
	if live != nil && len(live.Containers) > 0 {
		tmpl.Containers = nil
		for _, c := range live.Containers {
			tmpl.Containers = append(tmpl.Containers, proto.Clone(c).(*runpb.Container))
		}
	}
	return tmpl
}

// annotate records the change and the live revision on tmpl, and returns
// the live revision's name ("" when nothing is live).
func annotate(tmpl *runpb.RevisionTemplate, live *runpb.Revision, change string) string {
	prev := ""
	if live != nil {
		prev = short(live.Name)
	}
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[annotationPrevious] = prev
	if change != "" {
		tmpl.Annotations[annotationChange] = change
	} else {
		delete(tmpl.Annotations, annotationChange)
	}
	return prev
}

// targetLabels adds the target's labels (labelEnvironment, labelCell) to
// labels, which it returns.
func targetLabels(labels map[string]string, t driver.Target) map[string]string {
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelEnvironment] = t.Environment
	delete(labels, labelCell)
	if t.Cell != "" {
		labels[labelCell] = t.Cell
	}
	return labels
}

// create creates the target's service running image.
func (d *Driver) create(ctx context.Context, name, image string, req driver.DeployRequest) (driver.Deployment, error) {
	parent, id, _ := strings.Cut(name, "/services/")
	tmpl := &runpb.RevisionTemplate{
		Revision:   revisionName(&runpb.Service{Name: name}, req.Version),
		Containers: []*runpb.Container{{Image: image}},
	}
	annotate(tmpl, nil, req.ChangeID)
	op, err := d.services.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent:    parent,
		ServiceId: id,
		Service: &runpb.Service{
			Labels:   targetLabels(map[string]string{labelManagedBy: "meridian"}, req.Target),
			Template: tmpl,
			Traffic:  latest(),
		},
	})
	if err != nil {
		return driver.Deployment{}, err
	}
	if err := d.awaitRevision(ctx, op, name+"/revisions/"+tmpl.Revision); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: tmpl.Revision, Changed: true}, nil
}

// roll writes tmpl as the service's template with all traffic on the
// latest revision, and waits until Cloud Run has created the revision.
func (d *Driver) roll(ctx context.Context, svc *runpb.Service, tmpl *runpb.RevisionTemplate) error {
	svc.Template = tmpl
	svc.Traffic = latest()
	op, err := d.services.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		return err
	}
	return d.awaitRevision(ctx, op, svc.Name+"/revisions/"+tmpl.Revision)
}

// Status reports a revision's rollout: failed when its Ready condition (or
// the service's terminal condition, for the latest revision) failed, ready
// when it is Ready and serves all traffic, progressing otherwise.
func (d *Driver) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	name, err := d.ServiceName(t)
	if err != nil {
		return driver.Status{}, err
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if err != nil {
		return driver.Status{}, err
	}
	rev, err := d.revisions.GetRevision(ctx, &runpb.GetRevisionRequest{Name: name + "/revisions/" + revision})
	if err != nil {
		return driver.Status{}, err
	}
	return status(svc, rev), nil
}

func status(svc *runpb.Service, rev *runpb.Revision) driver.Status {
	st := driver.Status{Revision: short(rev.Name), State: driver.StateProgressing, Desired: 1}
	ready := readyCondition(rev.Conditions)
	switch ready.GetState() {
	case runpb.Condition_CONDITION_FAILED:
		st.State, st.Reason = driver.StateFailed, reason(ready)
	case runpb.Condition_CONDITION_SUCCEEDED:
		if pct := traffic(svc, st.Revision); pct == 100 {
			st.State, st.Ready = driver.StateReady, 1
		} else {
			st.Reason = fmt.Sprintf("revision is ready and serves %d%% of traffic", pct)
		}
	default:
		st.Reason = ready.GetMessage()
		if st.Reason == "" {
			st.Reason = "revision is being created"
		}
	}
	if tc := svc.TerminalCondition; st.State != driver.StateFailed && svc.LatestCreatedRevision == rev.Name &&
		tc.GetState() == runpb.Condition_CONDITION_FAILED {
		st.State, st.Ready, st.Reason = driver.StateFailed, 0, reason(tc)
	}
	return st
}

func readyCondition(conds []*runpb.Condition) *runpb.Condition {
	for _, c := range conds {
		if c.Type == "Ready" {
			return c
		}
	}
	return nil
}

func reason(c *runpb.Condition) string {
	if c.Message != "" {
		return c.Message
	}
	if r := c.GetReason(); r != runpb.Condition_COMMON_REASON_UNDEFINED {
		return r.String()
	}
	return c.GetRevisionReason().String()
}

// traffic is the share of the service's traffic the revision serves.
func traffic(svc *runpb.Service, revision string) int32 {
	var pct int32
	for _, s := range svc.TrafficStatuses {
		if s.Revision == revision {
			pct += s.Percent
		}
	}
	return pct
}

// Rollback sends all of the service's traffic to revision. Rolling back to
// "" (the previous revision of a first deploy) deletes the service, if
// Meridian created it.
func (d *Driver) Rollback(ctx context.Context, t driver.Target, revision string) error {
	name, err := d.ServiceName(t)
	if err != nil {
		return err
	}
	svc, err := d.services.GetService(ctx, &runpb.GetServiceRequest{Name: name})
	if revision == "" && gcp.ErrorCode(err) == driver.NotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if revision == "" {
		return d.deleteCreated(ctx, svc)
	}
	if _, err := d.revisions.GetRevision(ctx, &runpb.GetRevisionRequest{Name: name + "/revisions/" + revision}); err != nil {
		return err
	}
	if pinnedTo(svc) == revision {
		return nil
	}
	svc.Traffic = []*runpb.TrafficTarget{{
		Type:     runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
		Revision: revision,
		Percent:  100,
	}}
	op, err := d.services.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		return err
	}
	return d.await(ctx, op)
}

func (d *Driver) deleteCreated(ctx context.Context, svc *runpb.Service) error {
	if svc.Labels[labelManagedBy] != "meridian" {
		return driver.Errorf(driver.Invalid, "no revision to roll %s back to, and Meridian did not create it, so it will not delete it", svc.Name)
	}
	op, err := d.services.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: svc.Name, Etag: svc.Etag})
	if err != nil {
		return err
	}
	return d.await(ctx, op)
}

// live returns the revision serving the largest share of the service's
// traffic (all of it, outside a split), or nil when none serves.
func (d *Driver) live(ctx context.Context, svc *runpb.Service) (*runpb.Revision, error) {
	var best *runpb.TrafficTargetStatus
	for _, s := range svc.TrafficStatuses {
		if s.Revision != "" && (best == nil || s.Percent > best.Percent) {
			best = s
		}
	}
	if best == nil {
		return nil, nil
	}
	return d.revisions.GetRevision(ctx, &runpb.GetRevisionRequest{Name: svc.Name + "/revisions/" + best.Revision})
}

// pinnedTo is the revision all traffic is pinned to, "" when traffic
// follows the latest ready revision or is split.
func pinnedTo(svc *runpb.Service) string {
	if len(svc.Traffic) == 1 && svc.Traffic[0].Percent == 100 &&
		svc.Traffic[0].Type == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION {
		return svc.Traffic[0].Revision
	}
	return ""
}

func latest() []*runpb.TrafficTarget {
	return []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST, Percent: 100}}
}

func short(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// revisionName names the revision the next update creates the way Cloud
// Run does ({service}-{generation}-…), with the version instead of a random
// suffix: billing-00004-v1-2-3. Naming it up front lets Deploy find it.
func revisionName(svc *runpb.Service, label string) string {
	name := fmt.Sprintf("%s-%05d", short(svc.Name), svc.Generation+1)
	var b strings.Builder
	for _, r := range strings.ToLower(label) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if slug := strings.Trim(b.String(), "-"); slug != "" {
		name += "-" + slug
	}
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}
