package awsecs

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// TagTarget is the tag Deploy and Restore put on the services they change:
// the target's ID, which Managed lists.
const TagTarget = "meridian:target"

var (
	_ driver.Surveyor = (*Driver)(nil)
	_ driver.Lister   = (*Driver)(nil)
)

// Current reports the task definition the target's ACTIVE service runs,
// the image and version of its artifact container, the change ID Deploy
// tagged it with, and the rollout of its deployment. No ACTIVE service
// (none, or one deleted and draining) is nothing running.
func (d *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	s, err := d.service(t)
	if err != nil {
		return driver.Current{}, err
	}
	svc, err := s.describe(ctx)
	if d.ErrorCode(err) == driver.NotFound {
		return driver.Current{}, nil
	} else if err != nil {
		return driver.Current{}, err
	}
	c := driver.Current{Revision: aws.ToString(svc.TaskDefinition)}
	if c.Image, c.Version, c.ChangeID, err = d.revisionOf(ctx, s, c.Revision); err != nil {
		return driver.Current{}, err
	}
	st := driver.Status{Desired: int(svc.DesiredCount), Ready: int(min(svc.RunningCount, svc.DesiredCount)), State: driver.StateProgressing}
	for i, dep := range svc.Deployments {
		if aws.ToString(dep.TaskDefinition) == c.Revision {
			st = deploymentStatus(c.Revision, dep, i == 0, len(svc.Deployments))
			break
		}
	}
	c.State, c.Ready, c.Desired, c.Reason = st.State, st.Ready, st.Desired, st.Reason
	return c, nil
}

// revisionOf reads what a task definition runs: the repository and tag of
// its artifact container (the one whose tag is the meridian:version tag,
// else the one Options.Container names, else the only one) and the change
// ID Deploy tagged it with.
func (d *Driver) revisionOf(ctx context.Context, s service, taskDef string) (image, version, changeID string, err error) {
	out, err := s.client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: &taskDef,
		Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		return "", "", "", fmt.Errorf("describe task definition %s of %s: %w", taskDef, s, err)
	}
	version, changeID = tag(out.Tags, TagVersion), tag(out.Tags, TagChangeID)
	cds := out.TaskDefinition.ContainerDefinitions
	for _, cd := range cds {
		if repository, tg := driver.SplitImage(aws.ToString(cd.Image)); version != "" && tg == version {
			return repository, version, changeID, nil
		}
	}
	if i, err := d.container(cds, ""); err == nil {
		repository, tg := driver.SplitImage(aws.ToString(cds[i].Image))
		if tg != "" {
			return repository, tg, changeID, nil
		}
	}
	return "", "", changeID, nil // untagged, or no container to tell by
}

// markManaged tags the target's service with TagTarget.
func (s service) markManaged(ctx context.Context, serviceARN string, t driver.Target) error {
	_, err := s.client.TagResource(ctx, &ecs.TagResourceInput{
		ResourceArn: &serviceARN,
		Tags:        []types.Tag{{Key: aws.String(TagTarget), Value: aws.String(t.ID())}},
	})
	if err != nil {
		return fmt.Errorf("tag %s: %w", s, err)
	}
	return nil
}

// Managed lists the ACTIVE services tagged TagTarget in every cluster of
// the scope's region: ListClusters, ListServices per cluster, then
// DescribeServices with their tags, ten at a time.
func (d *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	client, err := d.clients.For(driver.Target{Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region})
	if err != nil {
		return nil, err
	}
	var ts []driver.Target
	clusters := ecs.NewListClustersPaginator(client, &ecs.ListClustersInput{})
	for clusters.HasMorePages() {
		page, err := clusters.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list ecs clusters in %s: %w", scope.Region, err)
		}
		for _, cluster := range page.ClusterArns {
			found, err := managedIn(ctx, client, cluster, scope)
			if err != nil {
				return nil, err
			}
			ts = append(ts, found...)
		}
	}
	driver.SortByID(ts)
	return ts, nil
}

// managedIn lists the targets of scope whose ACTIVE services in cluster
// carry TagTarget.
func managedIn(ctx context.Context, client *ecs.Client, cluster string, scope driver.Scope) ([]driver.Target, error) {
	var ts []driver.Target
	services := ecs.NewListServicesPaginator(client, &ecs.ListServicesInput{Cluster: &cluster})
	for services.HasMorePages() {
		page, err := services.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list ecs services of %s: %w", cluster, err)
		}
		for arns := range slices.Chunk(page.ServiceArns, 10) {
			out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{
				Cluster: &cluster, Services: arns, Include: []types.ServiceField{types.ServiceFieldTags},
			})
			if err != nil {
				return nil, fmt.Errorf("describe ecs services of %s: %w", cluster, err)
			}
			for _, svc := range out.Services {
				t, ok := driver.ParseID(tag(svc.Tags, TagTarget))
				if ok && aws.ToString(svc.Status) == "ACTIVE" && scope.Contains(t) {
					ts = append(ts, t)
				}
			}
		}
	}
	return ts, nil
}
