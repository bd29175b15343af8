package awsecs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var _ driver.Remover = (*Driver)(nil)

// Remove deletes the target's ECS service (force: without scaling it to
// zero first); its tasks drain and ECS reports it DRAINING, then
// INACTIVE. The Removal's Revision is the task definition it ran (task
// definitions outlive the service) and its Spec the service's launch,
// network, load balancer and deployment settings. A service that does not
// exist, or is no longer ACTIVE, is already removed.
func (d *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	s, err := d.service(t)
	if err != nil {
		return driver.Removal{}, err
	}
	svc, err := s.describe(ctx)
	if d.ErrorCode(err) == driver.NotFound {
		return driver.Removal{}, nil
	} else if err != nil {
		return driver.Removal{}, err
	}
	// The spec is the CreateServiceInput that recreates the service, less
	// what Restore sets from the target and the Removal.
	spec, err := json.Marshal(ecs.CreateServiceInput{
		LaunchType: svc.LaunchType, CapacityProviderStrategy: svc.CapacityProviderStrategy,
		PlatformVersion: svc.PlatformVersion, NetworkConfiguration: svc.NetworkConfiguration,
		LoadBalancers: svc.LoadBalancers, ServiceRegistries: svc.ServiceRegistries,
		DeploymentConfiguration: svc.DeploymentConfiguration, DeploymentController: svc.DeploymentController,
		PlacementConstraints: svc.PlacementConstraints, PlacementStrategy: svc.PlacementStrategy,
		SchedulingStrategy: svc.SchedulingStrategy, HealthCheckGracePeriodSeconds: svc.HealthCheckGracePeriodSeconds,
		EnableExecuteCommand: svc.EnableExecuteCommand, EnableECSManagedTags: svc.EnableECSManagedTags,
		PropagateTags: svc.PropagateTags,
	})
	if err != nil {
		return driver.Removal{}, err
	}
	r := driver.Removal{Revision: aws.ToString(svc.TaskDefinition), Instances: int(svc.DesiredCount), Spec: string(spec)}
	r.Image, r.Version = d.artifact(ctx, s, r.Revision)
	_, err = s.client.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: &s.cluster, Service: &s.name, Force: aws.Bool(true)})
	if d.ErrorCode(err) == driver.NotFound {
		return driver.Removal{}, nil // deleted meanwhile
	} else if err != nil {
		return driver.Removal{}, fmt.Errorf("delete %s: %w", s, err)
	}
	return r, nil
}

// artifact is the repository and tag of the image the task definition's
// artifact container runs (the one Options.Container names, else the only
// one), "" when that cannot be told.
func (d *Driver) artifact(ctx context.Context, s service, taskDef string) (image, version string) {
	out, err := s.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &taskDef})
	if err != nil {
		return "", ""
	}
	i, err := d.container(out.TaskDefinition.ContainerDefinitions, "")
	if err != nil {
		return "", ""
	}
	image, version = driver.SplitImage(aws.ToString(out.TaskDefinition.ContainerDefinitions[i].Image))
	if version == "" {
		return "", "" // untagged: the repository alone does not name what ran
	}
	return image, version
}

// removalStatus is the Status of revision "": progressing while the
// deleted service drains, failed while one is ACTIVE, and NotFound once it
// is INACTIVE or missing.
func removalStatus(s service, services []types.Service) (driver.Status, error) {
	for _, svc := range services {
		switch aws.ToString(svc.Status) {
		case "ACTIVE":
			return driver.Status{State: driver.StateFailed, Reason: fmt.Sprintf("%s runs %s", s, aws.ToString(svc.TaskDefinition))}, nil
		case "DRAINING":
			return driver.Status{State: driver.StateProgressing, Reason: fmt.Sprintf("%s is draining", s)}, nil
		}
	}
	return driver.Status{}, driver.Errorf(driver.NotFound, "%s: not found or inactive", s)
}

// Restore recreates the deleted service from r: r.Revision's task
// definition with r.Instances tasks and the settings r.Spec recorded.
// While the old service still drains, ECS refuses a new one of its name:
// Restore then fails with code Conflict, to be retried. A service that is
// ACTIVE again is pointed back at r.Revision, as Rollback does.
func (d *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	var in ecs.CreateServiceInput
	if err := json.Unmarshal([]byte(r.Spec), &in); err != nil || r.Spec == "" || family(r.Revision) == "" {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "ecs: %s is not a removal of an ECS service (spec %q)", r.Revision, r.Spec)
	}
	s, err := d.service(t)
	if err != nil {
		return driver.Deployment{}, err
	}
	services, err := s.describeAll(ctx)
	if err != nil {
		return driver.Deployment{}, err
	}
	for _, svc := range services {
		switch aws.ToString(svc.Status) {
		case "ACTIVE":
			live := aws.ToString(svc.TaskDefinition)
			if live == r.Revision {
				return driver.Deployment{Revision: live}, nil
			}
			if err := d.Rollback(ctx, t, r.Revision); err != nil {
				return driver.Deployment{}, err
			}
			return driver.Deployment{Revision: r.Revision, Previous: live, Changed: true}, nil
		case "DRAINING":
			return driver.Deployment{}, driver.Errorf(driver.Conflict, "%s is still draining: restore it once it is inactive", s)
		}
	}
	in.Cluster, in.ServiceName, in.TaskDefinition, in.DesiredCount = &s.cluster, &s.name, &r.Revision, aws.Int32(int32(r.Instances))
	in.Tags = []types.Tag{{Key: aws.String(TagTarget), Value: aws.String(t.ID())}}
	_, err = s.client.CreateService(ctx, &in)
	if err != nil {
		return driver.Deployment{}, fmt.Errorf("recreate %s from %s: %w", s, r.Revision, err)
	}
	return driver.Deployment{Revision: r.Revision, Changed: true}, nil
}
