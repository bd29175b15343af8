package azureappconfig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/meridian-deploy/meridian/providers/azureappconfig"
	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/drivertest"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{azurefake.NewFixture("us-gov", "usgovvirginia")}, nil
	})
}

// harness runs the App Configuration driver beside the Container Apps
// deployer, both against the fake, in Azure Government; the store is the
// fake's data plane.
type harness struct{ *azurefake.Fixture }

func (h harness) Deployer(context.Context) (driver.Deployer, error) {
	return azurecontainerapps.New(h.Credential, h.Options())
}

func (h harness) Configurer(context.Context) (driver.Configurer, error) {
	return azureappconfig.New(h.Credential, storeOptions(h.Fixture))
}

// storeOptions are the harness's options with the fake as the store.
func storeOptions(h *azurefake.Fixture) *azure.Options {
	o := h.Options()
	o.Settings[azureappconfig.SettingEndpoint] = h.Fake.URL()
	return o
}

// LiveConfigDocument is the key-value of the version the target's
// sentinel points at.
func (h harness) LiveConfigDocument(t driver.Target) ([]byte, error) {
	v, ok := h.Fake.Setting("meridian/"+t.Service+"/live", t.Environment+"/"+t.Region)
	var pointer azureappconfig.Pointer
	if err := json.Unmarshal([]byte(v), &pointer); !ok || err != nil {
		return nil, fmt.Errorf("no sentinel (%q, %v)", v, err)
	}
	doc, _ := h.Fake.Setting("meridian/"+t.Service+"/config", t.Environment+"/"+pointer.Version)
	return []byte(doc), nil
}
