package azurefake

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/azure"
	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Harness is the part of a drivertest.Harness every Azure driver's
// conformance test shares: a fake, its credential, the Container Apps
// deployer, and a new container app per target in a public or sovereign
// region, already serving a bootstrap revision (LiveRevision). The driver
// packages add Configurer or GateEvaluator.
type Harness struct {
	Fake       *Server
	Credential *Credential
	// Boundary and Region are where targets live (default public, westeurope).
	Boundary, Region string
	n                int
}

// Image is the artifact image the harness's apps run.
const Image = "registry.example.com/billing"

// NewHarness starts a fake for targets in region of boundary.
func NewHarness(boundary, region string) *Harness {
	return &Harness{Fake: New(), Credential: &Credential{}, Boundary: boundary, Region: region}
}

// Options are driver options aimed at the fake: the boundary, the
// subscription setting, and the fake's client options, polling every
// millisecond.
func (h *Harness) Options() *azure.Options {
	return &azure.Options{
		Boundary:      h.Boundary,
		Settings:      map[string]string{azure.SettingSubscription: Subscription},
		ClientOptions: h.Fake.ClientOptions(),
		PollInterval:  time.Millisecond,
	}
}

// Deployer returns a Container Apps driver aimed at the fake.
func (h *Harness) Deployer(context.Context) (driver.Deployer, error) {
	return azurecontainerapps.New(h.Credential, h.Options())
}

// ResourceGroup is the resource group of a target by the default convention.
func ResourceGroup(t placement.Target) string {
	return "meridian-" + t.Environment + "-" + t.Region
}

// Target creates a new container app "svcN" running Image:bootstrap with
// two replicas, and returns its target.
func (h *Harness) Target(context.Context) (placement.Target, error) {
	h.n++
	t := placement.Target{Service: fmt.Sprintf("svc%d", h.n), Environment: "conformance", Cloud: "azure", Boundary: h.Boundary, Region: h.Region}
	h.Fake.CreateApp(Subscription, ResourceGroup(t), t.Service, h.Region, Image+":bootstrap", 2)
	return t, nil
}

// LiveRevision is the revision a new target's app serves before anything
// is deployed to it: its bootstrap revision.
func (h *Harness) LiveRevision(t placement.Target) string {
	return t.Service + "--bootstrap"
}

// AppID is the resource id of a target's container app.
func AppID(t placement.Target) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/containerApps/%s", Subscription, ResourceGroup(t), t.Service)
}

// Image returns the artifact image.
func (h *Harness) Image() string { return Image }

// FailVersion makes revisions of Image:version fail.
func (h *Harness) FailVersion(_ placement.Target, version string) {
	h.Fake.FailImage(Image + ":" + version)
}

// Gate is an alarm gate on the metric alert "{service}-errors".
func (h *Harness) Gate(placement.Target) placement.Gate {
	return placement.Gate{Name: "errors", Alarm: &placement.AlarmGate{Name: "{service}-errors"}}
}

// SetHealth sets the status of the target's metric alert.
func (h *Harness) SetHealth(t placement.Target, health driver.Health) {
	h.Fake.SetAlert(Subscription, ResourceGroup(t), t.Service+"-errors", map[driver.Health]string{
		driver.Healthy:       AlertHealthy,
		driver.Unhealthy:     AlertUnhealthy,
		driver.HealthUnknown: AlertNoData,
	}[health])
}

// Throttle throttles the next n requests.
func (h *Harness) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the fake.
func (h *Harness) Close() { h.Fake.Close() }
