// Package awsappconfig is Meridian's driver for AWS AppConfig: it delivers a
// service's config as hosted configuration versions deployed with a
// deployment strategy.
//
// A target maps to an AppConfig application "<service>", an environment
// "<environment>" (or "<environment>-<cell>" for a target with a cell) and a
// hosted configuration profile "meridian"; Options (or the boundary settings
// appconfigApplication, appconfigEnvironment, appconfigProfile and
// appconfigStrategy) override them with templates. The application,
// environment and profile must exist (create them with your infrastructure
// code); the driver creates versions and deployments only.
//
// A revision is a hosted configuration version number. ApplyConfig stores
// the document as a version labelled with Meridian's config version (or
// reuses the version with that label) and starts a deployment of it; a
// version that is already live or deploying changes nothing. ConfigStatus
// reads the newest deployment of the revision: DEPLOYING, VALIDATING and
// BAKING are progressing (Ready/Desired give the percentage complete),
// COMPLETE is ready while it is the live deployment, and ROLLED_BACK,
// ROLLING_BACK and REVERTED are failed with the deployment's latest event as
// the reason. RollbackConfig stops a running deployment (AppConfig then
// serves the previous version again) and deploys the wanted version if it is
// still not the live one. RemoveConfig deploys an empty document in its
// place (AppConfig has no undeploy). CurrentConfig reports the version
// being deployed, else the one served, and its label.
//
// A document with resolved secrets (ConfigRequest.Source set) is hosted
// like any other, AppConfig being the target's config store, but its
// content never comes back: its ConfigRemoval has no document (see
// RemoveConfig).
package awsappconfig

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appconfig"
	"github.com/aws/aws-sdk-go-v2/service/appconfig/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Boundary provider settings (placement.BoundaryRule.Provider) that
// package fleet reads into Options.
const (
	SettingApplication = "appconfigApplication"
	SettingEnvironment = "appconfigEnvironment"
	SettingProfile     = "appconfigProfile"
	SettingStrategy    = "appconfigStrategy"
)

// Options configure the driver. Application, Environment and Profile are
// name templates expanded with the target's {service}, {environment},
// {boundary}, {region} and {cell}.
type Options struct {
	// Boundary, when set, is the only boundary the driver serves: targets
	// of other boundaries are refused. Set it to the boundary whose
	// credentials cfg holds (the worker of one boundary's task queue).
	Boundary string
	// Application defaults to "{service}".
	Application string
	// Environment defaults to "{environment}", or "{environment}-{cell}"
	// for a target with a cell.
	Environment string
	// Profile defaults to "meridian".
	Profile string
	// Strategy is the deployment strategy id; default AppConfig.AllAtOnce.
	Strategy string
}

// Driver delivers config through AppConfig. It implements driver.Configurer,
// driver.ConfigRemover and driver.ConfigSurveyor.
type Driver struct {
	clients *awsx.Clients[*appconfig.Client]
	opts    Options

	mu  sync.Mutex
	ids map[string]ids // resolved names, by region/application/environment/profile
}

var _ driver.Configurer = (*Driver)(nil)

// New returns a driver that calls AppConfig with cfg (see aws.LoadConfig), in
// each target's own region and partition. A nil opts means defaults.
func New(cfg aws.Config, opts *Options) *Driver {
	d := &Driver{ids: map[string]ids{}}
	if opts != nil {
		d.opts = *opts
	}
	if d.opts.Strategy == "" {
		d.opts.Strategy = "AppConfig.AllAtOnce"
	}
	d.clients = awsx.NewClients(d.opts.Boundary, func(b regions.Boundary, region string) *appconfig.Client {
		return appconfig.NewFromConfig(cfg, func(o *appconfig.Options) {
			o.Region = region
			o.EndpointResolverV2 = endpointResolver{boundary: b}
		})
	})
	return d
}

// endpointResolver resolves AppConfig endpoints with the SDK's rules, kept
// inside the target's boundary.
type endpointResolver struct{ boundary regions.Boundary }

func (r endpointResolver) ResolveEndpoint(ctx context.Context, p appconfig.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, appconfig.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "appconfig", r.boundary)
}

// ErrorCode maps AppConfig and driver errors to portable codes.
func (d *Driver) ErrorCode(err error) driver.Code { return awsx.ErrorCode(err) }

// ids are a target's AppConfig resources, by id.
type ids struct {
	client                        *appconfig.Client
	app, env, profile             string
	appName, envName, profileName string
}

func (i ids) String() string {
	return fmt.Sprintf("appconfig profile %s of application %s, environment %s", i.profileName, i.appName, i.envName)
}

// resolve finds the target's application, environment and profile ids.
func (d *Driver) resolve(ctx context.Context, t driver.Target) (ids, error) {
	c, err := d.clients.For(t)
	if err != nil {
		return ids{}, err
	}
	tmpl := func(s, def string) string {
		if s == "" {
			s = def
		}
		return driver.Expand(s, t)
	}
	envDefault := "{environment}"
	if t.Cell != "" {
		envDefault = "{environment}-{cell}"
	}
	r := ids{
		client:      c,
		appName:     tmpl(d.opts.Application, "{service}"),
		envName:     tmpl(d.opts.Environment, envDefault),
		profileName: tmpl(d.opts.Profile, "meridian"),
	}
	key := t.Boundary + "/" + t.Region + "/" + r.appName + "/" + r.envName + "/" + r.profileName
	d.mu.Lock()
	cached, ok := d.ids[key]
	d.mu.Unlock()
	if ok {
		return cached, nil
	}

	apps := appconfig.NewListApplicationsPaginator(c, &appconfig.ListApplicationsInput{})
	for apps.HasMorePages() && r.app == "" {
		page, err := apps.NextPage(ctx)
		if err != nil {
			return ids{}, fmt.Errorf("list appconfig applications: %w", err)
		}
		for _, a := range page.Items {
			if aws.ToString(a.Name) == r.appName {
				r.app = aws.ToString(a.Id)
			}
		}
	}
	if r.app == "" {
		return ids{}, driver.Errorf(driver.NotFound, "appconfig application %s not found", r.appName)
	}
	envs := appconfig.NewListEnvironmentsPaginator(c, &appconfig.ListEnvironmentsInput{ApplicationId: &r.app})
	for envs.HasMorePages() && r.env == "" {
		page, err := envs.NextPage(ctx)
		if err != nil {
			return ids{}, fmt.Errorf("list environments of appconfig application %s: %w", r.appName, err)
		}
		for _, e := range page.Items {
			if aws.ToString(e.Name) == r.envName {
				r.env = aws.ToString(e.Id)
			}
		}
	}
	if r.env == "" {
		return ids{}, driver.Errorf(driver.NotFound, "appconfig environment %s of application %s not found", r.envName, r.appName)
	}
	profiles := appconfig.NewListConfigurationProfilesPaginator(c, &appconfig.ListConfigurationProfilesInput{ApplicationId: &r.app})
	for profiles.HasMorePages() && r.profile == "" {
		page, err := profiles.NextPage(ctx)
		if err != nil {
			return ids{}, fmt.Errorf("list configuration profiles of appconfig application %s: %w", r.appName, err)
		}
		for _, p := range page.Items {
			if aws.ToString(p.Name) == r.profileName {
				r.profile = aws.ToString(p.Id)
			}
		}
	}
	if r.profile == "" {
		return ids{}, driver.Errorf(driver.NotFound, "appconfig configuration profile %s of application %s not found", r.profileName, r.appName)
	}
	d.mu.Lock()
	d.ids[key] = r
	d.mu.Unlock()
	return r, nil
}

// history is the profile's deployments to the environment, newest first.
type history []types.DeploymentSummary

// deployments lists the profile's deployments to the environment, newest
// first, reading pages until stop reports it has seen enough.
func (i ids) deployments(ctx context.Context, stop func(history) bool) (history, error) {
	var h history
	pages := appconfig.NewListDeploymentsPaginator(i.client, &appconfig.ListDeploymentsInput{ApplicationId: &i.app, EnvironmentId: &i.env})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list deployments of %s: %w", i, err)
		}
		for _, d := range page.Items {
			if aws.ToString(d.ConfigurationName) == i.profileName {
				h = append(h, d)
			}
		}
		if stop(h) {
			break
		}
	}
	return h, nil
}

func inProgress(s types.DeploymentState) bool {
	return s == types.DeploymentStateDeploying || s == types.DeploymentStateBaking || s == types.DeploymentStateValidating
}

// active is the running deployment, if any.
func (h history) active() *types.DeploymentSummary {
	if len(h) > 0 && inProgress(h[0].State) {
		return &h[0]
	}
	return nil
}

// live is the newest completed deployment after skip completed ones.
func (h history) live(skip int) *types.DeploymentSummary {
	for i := range h {
		if h[i].State == types.DeploymentStateComplete {
			if skip == 0 {
				return &h[i]
			}
			skip--
		}
	}
	return nil
}

func version(d *types.DeploymentSummary) string {
	if d == nil {
		return ""
	}
	return aws.ToString(d.ConfigurationVersion)
}

// settled reports whether h already shows the running and the live deployment.
func settled(h history) bool { return h.live(1) != nil }

// ApplyConfig stores req.Data as a configuration version labelled
// req.Version and deploys it to the target's environment.
func (d *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	if req.Version == "" || req.Version == RemovedLabel {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "appconfig: apply needs a config version other than %s", RemovedLabel)
	}
	i, err := d.resolve(ctx, req.Target)
	if err != nil {
		return driver.Deployment{}, err
	}
	h, err := i.deployments(ctx, settled)
	if err != nil {
		return driver.Deployment{}, err
	}
	if a := h.active(); a != nil && aws.ToString(a.VersionLabel) == req.Version {
		return driver.Deployment{Revision: version(a), Previous: configured(h.live(0))}, nil
	}
	if l := h.live(0); h.active() == nil && l != nil && aws.ToString(l.VersionLabel) == req.Version {
		return driver.Deployment{Revision: version(l), Previous: configured(h.live(1))}, nil
	}
	number, err := i.hostedVersion(ctx, req)
	if err != nil {
		return driver.Deployment{}, err
	}
	if err := d.start(ctx, i, number, "Meridian config "+req.Version); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: number, Previous: configured(h.live(0)), Changed: true}, nil
}

// resolvedNote ends the description of a hosted version whose content
// holds resolved secrets (its request had a Source): RemoveConfig does
// not hand that content back.
const resolvedNote = " (secret references resolved)"

// hostedVersion returns the number of the profile's version labelled
// req.Version, creating it from req.Data if there is none; a request
// without a document can only reuse one. The profile's versions are
// shared by its environments, so a version with resolved secrets is
// reused only when it holds the same values: a secret whose value differs
// between two targets of one profile (a regional secret, a rotation since
// the version was applied) is refused, never served to the other target.
func (i ids) hostedVersion(ctx context.Context, req driver.ConfigRequest) (string, error) {
	list, err := i.client.ListHostedConfigurationVersions(ctx, &appconfig.ListHostedConfigurationVersionsInput{
		ApplicationId: &i.app, ConfigurationProfileId: &i.profile, VersionLabel: &req.Version,
	})
	if err != nil {
		return "", fmt.Errorf("list versions of %s: %w", i, err)
	}
	for _, v := range list.Items {
		if aws.ToString(v.VersionLabel) != req.Version {
			continue
		}
		if req.Source != nil {
			hosted, err := i.client.GetHostedConfigurationVersion(ctx, &appconfig.GetHostedConfigurationVersionInput{
				ApplicationId: &i.app, ConfigurationProfileId: &i.profile, VersionNumber: &v.VersionNumber,
			})
			if err != nil {
				return "", fmt.Errorf("get version %d of %s: %w", v.VersionNumber, i, err)
			}
			if !bytes.Equal(hosted.Content, req.Data) {
				return "", driver.Errorf(driver.Invalid, "%s holds config %s with other secret values than %s resolves to: a secret differs between targets of this profile, or changed since %s was applied (give each region its own profile with the %s setting, or release a new config version)",
					i, req.Version, req.Target.ID(), req.Version, SettingProfile)
			}
		}
		return strconv.Itoa(int(v.VersionNumber)), nil
	}
	if len(req.Data) == 0 {
		return "", driver.Errorf(driver.Invalid, "%s has no configuration version labelled %s to restore, and the request has no document", i, req.Version)
	}
	description := "Meridian config " + req.Version
	if req.Source != nil {
		description += resolvedNote
	}
	out, err := i.client.CreateHostedConfigurationVersion(ctx, &appconfig.CreateHostedConfigurationVersionInput{
		ApplicationId:          &i.app,
		ConfigurationProfileId: &i.profile,
		Content:                req.Data,
		ContentType:            aws.String("application/json"),
		VersionLabel:           &req.Version,
		Description:            &description,
	})
	if err != nil {
		return "", fmt.Errorf("create version %s of %s: %w", req.Version, i, err)
	}
	return strconv.Itoa(int(out.VersionNumber)), nil
}

func (d *Driver) start(ctx context.Context, i ids, number, description string) error {
	_, err := i.client.StartDeployment(ctx, &appconfig.StartDeploymentInput{
		ApplicationId:          &i.app,
		EnvironmentId:          &i.env,
		ConfigurationProfileId: &i.profile,
		ConfigurationVersion:   &number,
		DeploymentStrategyId:   &d.opts.Strategy,
		Description:            &description,
	})
	if err != nil {
		return fmt.Errorf("deploy version %s of %s: %w", number, i, err)
	}
	return nil
}

// ConfigStatus reports the newest deployment of revision (a configuration
// version number) to the target's environment.
func (d *Driver) ConfigStatus(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	i, err := d.resolve(ctx, t)
	if err != nil {
		return driver.Status{}, err
	}
	var found *types.DeploymentSummary
	h, err := i.deployments(ctx, func(h history) bool {
		for j := range h {
			if version(&h[j]) == revision {
				found = &h[j]
				return h.live(0) != nil
			}
		}
		return false
	})
	if err != nil {
		return driver.Status{}, err
	}
	if found == nil {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s has no deployment of version %q", i, revision)
	}
	st := driver.Status{Revision: revision, Desired: 100}
	if p := found.PercentageComplete; p != nil {
		st.Ready = int(math.Round(float64(*p)))
	}
	switch {
	case inProgress(found.State):
		st.State = driver.StateProgressing
	case found.State == types.DeploymentStateComplete && version(h.live(0)) == revision:
		st.State, st.Ready = driver.StateReady, 100
	case found.State == types.DeploymentStateComplete:
		st.State, st.Reason = driver.StateFailed, fmt.Sprintf("replaced by configuration version %s", version(h.live(0)))
	default:
		st.State, st.Reason = driver.StateFailed, i.reason(ctx, found)
	}
	return st, nil
}

// reason explains a deployment that did not complete: its newest event.
func (i ids) reason(ctx context.Context, d *types.DeploymentSummary) string {
	reason := fmt.Sprintf("deployment %d %s", d.DeploymentNumber, d.State)
	out, err := i.client.GetDeployment(ctx, &appconfig.GetDeploymentInput{ApplicationId: &i.app, EnvironmentId: &i.env, DeploymentNumber: &d.DeploymentNumber})
	if err == nil {
		for _, e := range out.EventLog {
			if desc := aws.ToString(e.Description); desc != "" && e.EventType != types.DeploymentEventTypeRollbackCompleted {
				return reason + ": " + desc
			}
		}
	}
	return reason
}

// RollbackConfig makes revision the live config again: it stops a running
// deployment of another version and deploys revision if AppConfig does not
// serve it after that.
func (d *Driver) RollbackConfig(ctx context.Context, t driver.Target, revision string) error {
	if _, err := strconv.Atoi(revision); err != nil {
		return driver.Errorf(driver.NotFound, "appconfig: %q is not a configuration version number", revision)
	}
	i, err := d.resolve(ctx, t)
	if err != nil {
		return err
	}
	h, err := i.deployments(ctx, settled)
	if err != nil {
		return err
	}
	if a := h.active(); a != nil {
		if version(a) == revision {
			return nil
		}
		if _, err := i.client.StopDeployment(ctx, &appconfig.StopDeploymentInput{ApplicationId: &i.app, EnvironmentId: &i.env, DeploymentNumber: &a.DeploymentNumber}); err != nil {
			return fmt.Errorf("stop deployment %d of %s: %w", a.DeploymentNumber, i, err)
		}
		h = h[1:]
	}
	if version(h.live(0)) == revision {
		return nil
	}
	return d.start(ctx, i, revision, "Meridian rollback to version "+revision)
}
