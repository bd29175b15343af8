package awsappconfig

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appconfig"
	"github.com/aws/aws-sdk-go-v2/service/appconfig/types"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var _ driver.ConfigRemover = (*Driver)(nil)

// RemovedLabel labels the empty document ({}) RemoveConfig deploys; it is
// reserved, not a config version ApplyConfig accepts.
const RemovedLabel = "meridian-removed"

// removedDocument is what the environment serves once its config is removed.
var removedDocument = []byte("{}")

// RemoveConfig takes the target's config away. AppConfig cannot undeploy a
// configuration from an environment (only delete the environment or the
// profile, which belong to the infrastructure code), so RemoveConfig stops
// a running deployment and deploys an empty document ({}) labelled
// RemovedLabel with the driver's strategy: applications read no settings
// from then on, ConfigStatus of the removed version reports it replaced,
// and the next ApplyConfig reports Previous "". The ConfigRemoval holds
// the version that was live and its hosted content, except for a version
// whose content holds resolved secrets (its description ends in
// resolvedNote): that content never leaves AppConfig, and the removal
// carries no document, since ApplyConfig of the version alone redeploys
// the hosted version with that label, which RemoveConfig leaves in place.
// A target without an application, environment or profile has no config
// to remove.
func (d *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	i, err := d.resolve(ctx, t)
	if d.ErrorCode(err) == driver.NotFound {
		return driver.ConfigRemoval{}, nil
	} else if err != nil {
		return driver.ConfigRemoval{}, err
	}
	h, err := i.deployments(ctx, settled)
	if err != nil {
		return driver.ConfigRemoval{}, err
	}
	if a := h.active(); a != nil {
		if aws.ToString(a.VersionLabel) == RemovedLabel {
			return driver.ConfigRemoval{}, nil // being removed already
		}
		if _, err := i.client.StopDeployment(ctx, &appconfig.StopDeploymentInput{ApplicationId: &i.app, EnvironmentId: &i.env, DeploymentNumber: &a.DeploymentNumber}); err != nil {
			return driver.ConfigRemoval{}, fmt.Errorf("stop deployment %d of %s: %w", a.DeploymentNumber, i, err)
		}
	}
	live := h.live(0)
	if configured(live) == "" {
		return driver.ConfigRemoval{}, nil
	}
	n, err := strconv.Atoi(version(live))
	if err != nil {
		return driver.ConfigRemoval{}, fmt.Errorf("%s: live configuration version %q: %w", i, version(live), err)
	}
	hosted, err := i.client.GetHostedConfigurationVersion(ctx, &appconfig.GetHostedConfigurationVersionInput{
		ApplicationId: &i.app, ConfigurationProfileId: &i.profile, VersionNumber: aws.Int32(int32(n)),
	})
	if err != nil {
		return driver.ConfigRemoval{}, fmt.Errorf("get version %d of %s: %w", n, i, err)
	}
	number, err := i.hostedVersion(ctx, driver.ConfigRequest{Version: RemovedLabel, Data: removedDocument})
	if err != nil {
		return driver.ConfigRemoval{}, err
	}
	if err := d.start(ctx, i, number, "Meridian removed the config"); err != nil {
		return driver.ConfigRemoval{}, err
	}
	r := driver.ConfigRemoval{Revision: version(live), Version: aws.ToString(live.VersionLabel), Data: hosted.Content}
	if strings.HasSuffix(aws.ToString(hosted.Description), resolvedNote) {
		r.Data = nil // its secrets' values: the version, which stays, is enough
	}
	return r, nil
}

// configured is the configuration version d deployed, "" for none or for
// RemoveConfig's empty document.
func configured(d *types.DeploymentSummary) string {
	if d == nil || aws.ToString(d.VersionLabel) == RemovedLabel {
		return ""
	}
	return version(d)
}
