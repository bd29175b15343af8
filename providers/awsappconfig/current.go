package awsappconfig

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var _ driver.ConfigSurveyor = (*Driver)(nil)

// CurrentConfig reports the configuration version the target's
// environment is being deployed (a running deployment) or else serves
// (the newest completed one), with its version label. RemoveConfig's
// empty document, no deployment, and a target without an application,
// environment or profile are no config.
func (d *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	i, err := d.resolve(ctx, t)
	if d.ErrorCode(err) == driver.NotFound {
		return driver.LiveConfig{}, nil
	} else if err != nil {
		return driver.LiveConfig{}, err
	}
	h, err := i.deployments(ctx, func(h history) bool { return h.live(0) != nil })
	if err != nil {
		return driver.LiveConfig{}, err
	}
	live := h.active()
	if live == nil {
		live = h.live(0)
	}
	if configured(live) == "" {
		return driver.LiveConfig{}, nil
	}
	return driver.LiveConfig{Revision: version(live), Version: aws.ToString(live.VersionLabel)}, nil
}
