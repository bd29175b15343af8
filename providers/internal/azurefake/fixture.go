package azurefake

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-deploy/meridian/providers/cloud/azure"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// Fixture is the backend side of a drivertest.Harness that every Azure
// driver's conformance test shares: a fake, its credential, and a new
// container app per target in a public or sovereign region, already
// serving a bootstrap revision (LiveRevision). Each driver's test adds the
// drivers (the Container Apps deployer, App Configuration, Azure Monitor)
// aimed at Options.
type Fixture struct {
	Fake       *Server
	Credential *Credential
	// Boundary and Region are where targets live (default public, westeurope).
	Boundary, Region string
	n                int
}

// Image is the artifact image the fixture's apps run.
const Image = "registry.example.com/billing"

// NewFixture starts a fake for targets in region of boundary.
func NewFixture(boundary, region string) *Fixture {
	return &Fixture{Fake: New(), Credential: &Credential{}, Boundary: boundary, Region: region}
}

// Options are driver options aimed at the fake: the boundary, the
// subscription setting, and the fake's client options, polling every
// millisecond.
func (h *Fixture) Options() *azure.Options {
	return &azure.Options{
		Boundary:      h.Boundary,
		Settings:      map[string]string{azure.SettingSubscription: Subscription},
		ClientOptions: h.Fake.ClientOptions(),
		PollInterval:  time.Millisecond,
	}
}

// ResourceGroup is the resource group of a target by the default convention.
func ResourceGroup(t driver.Target) string {
	return "meridian-" + t.Environment + "-" + t.Region
}

// Target creates a new container app "svcN" running Image:bootstrap with
// two replicas, and returns its target.
func (h *Fixture) Target(context.Context) (driver.Target, error) {
	h.n++
	t := driver.Target{Service: fmt.Sprintf("svc%d", h.n), Environment: "conformance", Cloud: "azure", Boundary: h.Boundary, Region: h.Region}
	h.Fake.CreateApp(Subscription, ResourceGroup(t), t.Service, h.Region, Image+":bootstrap", 2)
	return t, nil
}

// LiveRevision is the revision a new target's app serves before anything
// is deployed to it: its bootstrap revision.
func (h *Fixture) LiveRevision(t driver.Target) string {
	return t.Service + "--bootstrap"
}

// AppID is the resource id of a target's container app.
func AppID(t driver.Target) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.App/containerApps/%s", Subscription, ResourceGroup(t), t.Service)
}

// Image returns the artifact image.
func (h *Fixture) Image() string { return Image }

// FailVersion makes revisions of Image:version fail.
func (h *Fixture) FailVersion(_ driver.Target, version string) {
	h.Fake.FailImage(Image + ":" + version)
}

// Gate is an alarm gate on the metric alert "{service}-errors".
func (h *Fixture) Gate(driver.Target) driver.Gate {
	return driver.Gate{Name: "errors", Alarm: &driver.AlarmGate{Name: "{service}-errors"}}
}

// SetHealth sets the status of the target's metric alert.
func (h *Fixture) SetHealth(t driver.Target, health driver.Health) {
	h.Fake.SetAlert(Subscription, ResourceGroup(t), t.Service+"-errors", map[driver.Health]string{
		driver.Healthy:       AlertHealthy,
		driver.Unhealthy:     AlertUnhealthy,
		driver.HealthUnknown: AlertNoData,
	}[health])
}

// Throttle throttles the next n requests.
func (h *Fixture) Throttle(n int) { h.Fake.Throttle(n) }

// Close stops the fake.
func (h *Fixture) Close() { h.Fake.Close() }
