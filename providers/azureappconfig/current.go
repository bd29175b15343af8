package azureappconfig

import (
	"context"

	"github.com/meridian-deploy/meridian/providers/driver"
)

var _ driver.ConfigSurveyor = (*Driver)(nil)

// CurrentConfig reports the version the target's sentinel points at (a
// revision is the version); no sentinel is no config.
func (d *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	s, err := d.store(t)
	if err != nil {
		return driver.LiveConfig{}, err
	}
	live, err := s.live(ctx)
	if err != nil {
		return driver.LiveConfig{}, err
	}
	return driver.LiveConfig{Revision: live.Version, Version: live.Version}, nil
}
