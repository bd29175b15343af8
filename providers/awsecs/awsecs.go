// Package awsecs is Meridian's driver for Amazon ECS services.
//
// A target maps to one ECS service: by default cluster "<cell>" when the
// target has a cell, else "meridian-<environment>", and service "<service>";
// Options (or the boundary settings ecsCluster, ecsService, ecsContainer)
// override both with templates. A revision is a task definition ARN.
//
// Deploy copies the service's live task definition with the release's
// image:version in the container that runs the artifact's repository,
// registers it as a new revision (tagged meridian:version, meridian:change-id
// and meridian:previous), points the service at it and tags the service
// meridian:target (the target's ID); deploying the image the service
// already runs changes nothing. Status reads the service's
// deployment for the revision: rolloutState IN_PROGRESS is progressing,
// COMPLETED ready and FAILED (a tripped deployment circuit breaker) failed
// with ECS's rolloutStateReason. Rollback points the service back at an
// earlier task definition. Remove deletes the service and Restore
// recreates it from the task definition and settings Remove recorded.
// Current reads the service and its task definition's tags; Managed lists
// the ACTIVE services tagged meridian:target in a region's clusters.
//
// Previous is the task definition the service ran before the deploy,
// whoever registered it: an ECS service always runs one, so even the first
// Meridian release to a service can be rolled back to what ran before.
package awsecs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Tags Deploy puts on the task definitions it registers.
const (
	TagVersion  = "meridian:version"
	TagChangeID = "meridian:change-id"
	TagPrevious = "meridian:previous"
)

// Boundary provider settings (placement.BoundaryRule.Provider) that
// package fleet reads into Options.
const (
	SettingCluster   = "ecsCluster"
	SettingService   = "ecsService"
	SettingContainer = "ecsContainer"
)

// Options configure the driver. Cluster and Service are name templates
// expanded with the target's {service}, {environment}, {boundary},
// {region} and {cell}.
type Options struct {
	// Boundary, when set, is the only boundary the driver serves: targets
	// of other boundaries are refused. Set it to the boundary whose
	// credentials cfg holds (the worker of one boundary's task queue).
	Boundary string
	// Cluster defaults to "{cell}" for targets with a cell and to
	// "meridian-{environment}" for the others.
	Cluster string
	// Service defaults to "{service}".
	Service string
	// Container names the container whose image Deploy replaces when no
	// container runs the artifact's repository and there are several.
	Container string
}

// Driver deploys to ECS services. It implements driver.Deployer.
type Driver struct {
	clients *awsx.Clients[*ecs.Client]
	opts    Options
}

var _ driver.Deployer = (*Driver)(nil)

// New returns a driver that calls ECS with cfg (see aws.LoadConfig), in each
// target's own region and partition. A nil opts means defaults.
func New(cfg aws.Config, opts *Options) *Driver {
	d := &Driver{}
	if opts != nil {
		d.opts = *opts
	}
	d.clients = awsx.NewClients(d.opts.Boundary, func(b regions.Boundary, region string) *ecs.Client {
		return ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			o.Region = region
			o.EndpointResolverV2 = endpointResolver{boundary: b}
		})
	})
	return d
}

// endpointResolver resolves ECS endpoints with the SDK's rules, kept inside
// the target's boundary.
type endpointResolver struct{ boundary regions.Boundary }

func (r endpointResolver) ResolveEndpoint(ctx context.Context, p ecs.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, ecs.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "ecs", r.boundary)
}

// ErrorCode maps ECS and driver errors to portable codes.
func (d *Driver) ErrorCode(err error) driver.Code { return awsx.ErrorCode(err) }

// service is a target's ECS service and the client for its region.
type service struct {
	client        *ecs.Client
	cluster, name string
}

func (d *Driver) service(t driver.Target) (service, error) {
	c, err := d.clients.For(t)
	if err != nil {
		return service{}, err
	}
	cluster := d.opts.Cluster
	if cluster == "" {
		cluster = "meridian-{environment}"
		if t.Cell != "" {
			cluster = "{cell}"
		}
	}
	name := d.opts.Service
	if name == "" {
		name = "{service}"
	}
	return service{client: c, cluster: driver.Expand(cluster, t), name: driver.Expand(name, t)}, nil
}

func (s service) String() string { return "ecs service " + s.name + " in cluster " + s.cluster }

// describe returns the target's ACTIVE service as ECS reports it now, or
// fails with NotFound when there is none.
func (s service) describe(ctx context.Context) (types.Service, error) {
	services, err := s.describeAll(ctx)
	if err != nil {
		return types.Service{}, err
	}
	for _, svc := range services {
		if aws.ToString(svc.Status) == "ACTIVE" {
			return svc, nil
		}
	}
	return types.Service{}, driver.Errorf(driver.NotFound, "%s: not found or not active", s)
}

// describeAll returns every service of the target's name in its cluster,
// whatever its status (ACTIVE, DRAINING, INACTIVE): none when there is
// none.
func (s service) describeAll(ctx context.Context) ([]types.Service, error) {
	out, err := s.client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &s.cluster, Services: []string{s.name}})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", s, err)
	}
	return out.Services, nil
}

// Deploy rolls req.Image:req.Version out to the target's service.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	s, err := d.service(req.Target)
	if err != nil {
		return driver.Deployment{}, err
	}
	if req.Image == "" || req.Version == "" {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "ecs: deploy needs an image and a version")
	}
	svc, err := s.describe(ctx)
	if err != nil {
		return driver.Deployment{}, err
	}
	live := aws.ToString(svc.TaskDefinition)
	out, err := s.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: &live,
		Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("describe task definition %s of %s: %w", live, s, err)
	}
	td := out.TaskDefinition
	i, err := d.container(td.ContainerDefinitions, req.Image)
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("%s: %w", s, err)
	}
	image := req.Image + ":" + req.Version
	if aws.ToString(td.ContainerDefinitions[i].Image) == image {
		return driver.Deployment{Revision: live, Previous: tag(out.Tags, TagPrevious)}, nil
	}
	tags := []types.Tag{
		{Key: aws.String(TagVersion), Value: aws.String(req.Version)},
		{Key: aws.String(TagChangeID), Value: aws.String(req.ChangeID)},
		{Key: aws.String(TagPrevious), Value: aws.String(live)},
	}
	for _, t := range out.Tags {
		if !strings.HasPrefix(aws.ToString(t.Key), "meridian:") {
			tags = append(tags, t)
		}
	}
	containers := append([]types.ContainerDefinition(nil), td.ContainerDefinitions...)
	containers[i].Image = aws.String(image)
	reg, err := s.client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                        td.Family,
		ContainerDefinitions:          containers,
		Cpu:                           td.Cpu,
		Memory:                        td.Memory,
		EnableFaultInjection:          td.EnableFaultInjection,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		TaskRoleArn:                   td.TaskRoleArn,
		IpcMode:                       td.IpcMode,
		PidMode:                       td.PidMode,
		NetworkMode:                   td.NetworkMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
		Tags:                          tags,
	})
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("register task definition %s for %s: %w", aws.ToString(td.Family), s, err)
	}
	revision := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	// Tag first: a Deploy retried after the update finds nothing to change.
	if err := s.markManaged(ctx, aws.ToString(svc.ServiceArn), req.Target); err != nil {
		return driver.Deployment{}, err
	}
	if _, err := s.client.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: &s.cluster, Service: &s.name, TaskDefinition: &revision}); err != nil {
		return driver.Deployment{}, fmt.Errorf("update %s to %s: %w", s, revision, err)
	}
	return driver.Deployment{Revision: revision, Previous: live, Changed: true}, nil
}

// container picks the container whose image Deploy replaces: the one that
// runs repository, else the one named in Options, else the only one.
func (d *Driver) container(cds []types.ContainerDefinition, repository string) (int, error) {
	images, names := make([]string, len(cds)), make([]string, len(cds))
	for i, cd := range cds {
		images[i], names[i] = aws.ToString(cd.Image), aws.ToString(cd.Name)
	}
	if i, ok := driver.Container(images, names, repository, d.opts.Container); ok {
		return i, nil
	}
	return 0, driver.Errorf(driver.Invalid, "no container runs %s: name one with the %s setting", repository, SettingContainer)
}

func tag(tags []types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// Status reports the rollout of revision (a task definition ARN) on the
// target's service.
func (d *Driver) Status(ctx context.Context, t driver.Target, revision string) (driver.Status, error) {
	s, err := d.service(t)
	if err != nil {
		return driver.Status{}, err
	}
	if revision == "" {
		services, err := s.describeAll(ctx)
		if err != nil {
			return driver.Status{}, err
		}
		return removalStatus(s, services)
	}
	svc, err := s.describe(ctx)
	if err != nil {
		return driver.Status{}, err
	}
	for i, dep := range svc.Deployments {
		if aws.ToString(dep.TaskDefinition) == revision {
			return deploymentStatus(revision, dep, i == 0, len(svc.Deployments)), nil
		}
	}
	live := aws.ToString(svc.TaskDefinition)
	if family(revision) != "" && family(revision) == family(live) {
		return driver.Status{Revision: revision, State: driver.StateFailed,
			Reason: fmt.Sprintf("%s no longer runs %s: it runs %s", s, revision, live)}, nil
	}
	return driver.Status{}, driver.Errorf(driver.NotFound, "%s has no deployment of %q", s, revision)
}

// deploymentStatus reads one of the service's deployments (primary: the
// newest; n: how many deployments the service has).
func deploymentStatus(revision string, dep types.Deployment, primary bool, n int) driver.Status {
	st := driver.Status{
		Revision: revision,
		State:    driver.StateProgressing,
		Ready:    int(min(dep.RunningCount, dep.DesiredCount)),
		Desired:  int(dep.DesiredCount),
	}
	switch {
	case dep.RolloutState == types.DeploymentRolloutStateFailed:
		st.State, st.Reason = driver.StateFailed, aws.ToString(dep.RolloutStateReason)
		if st.Reason == "" {
			st.Reason = "ECS deployment failed"
		}
	case !primary:
		st.State, st.Reason = driver.StateFailed, "a newer deployment replaced it"
	case dep.RolloutState == types.DeploymentRolloutStateCompleted:
		st.State = driver.StateReady
	case dep.RolloutState == "" && n == 1 && dep.RunningCount >= dep.DesiredCount:
		// Services without rolling-update rollout states (CODE_DEPLOY,
		// EXTERNAL) are ready once the only deployment runs every task.
		st.State = driver.StateReady
	}
	return st
}

// family returns the family of a task definition ARN
// (arn:…:task-definition/<family>:<revision>), "" for anything else.
func family(arn string) string {
	_, rest, ok := strings.Cut(arn, ":task-definition/")
	if !ok {
		return ""
	}
	f, _, _ := strings.Cut(rest, ":")
	return f
}

// Rollback points the target's service back at revision.
func (d *Driver) Rollback(ctx context.Context, t driver.Target, revision string) error {
	if revision == "" {
		return driver.Errorf(driver.Invalid, "ecs: rollback needs a revision")
	}
	s, err := d.service(t)
	if err != nil {
		return err
	}
	svc, err := s.describe(ctx)
	if err != nil {
		return err
	}
	in := &ecs.UpdateServiceInput{Cluster: &s.cluster, Service: &s.name, TaskDefinition: &revision}
	if len(svc.Deployments) > 0 && aws.ToString(svc.Deployments[0].TaskDefinition) == revision {
		if svc.Deployments[0].RolloutState != types.DeploymentRolloutStateFailed {
			return nil // already live or rolling out
		}
		in.ForceNewDeployment = true
	}
	if _, err := s.client.UpdateService(ctx, in); err != nil {
		return fmt.Errorf("roll %s back to %s: %w", s, revision, err)
	}
	return nil
}
