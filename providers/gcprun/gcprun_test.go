package gcprun_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
	"github.com/meridian-deploy/meridian/regions"
)

const (
	project = "acme-prod"
	image   = "europe-docker.pkg.dev/acme/apps/billing"
)

var target = driver.Target{Service: "billing", Environment: "prod", Cloud: "gcp", Boundary: "public", Region: "europe-west3"}

const serviceName = "projects/acme-prod/locations/europe-west3/services/billing"

// newDriver starts a fake and a driver on it in project, both closed when
// t ends.
func newDriver(t *testing.T) (*gcpfake.Server, *gcprun.Driver) {
	t.Helper()
	fake, err := gcpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	d, err := gcpfake.NewDriver(context.Background(), fake, project, gcprun.New)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return fake, d
}

func deploy(t *testing.T, d *gcprun.Driver, version string) driver.Deployment {
	t.Helper()
	dep, err := d.Deploy(context.Background(), driver.DeployRequest{Target: target, Image: image, Version: version, ChangeID: "change-" + version})
	if err != nil {
		t.Fatalf("Deploy(%s): %v (code %v)", version, err, d.ErrorCode(err))
	}
	return dep
}

// createService creates the target's service with containers through the
// Cloud Run API, the way a team did before it adopted Meridian.
func createService(t *testing.T, fake *gcpfake.Server, containers ...*runpb.Container) {
	t.Helper()
	client, err := run.NewServicesClient(context.Background(), fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.CreateService(context.Background(), &runpb.CreateServiceRequest{
		Parent: "projects/acme-prod/locations/europe-west3", ServiceId: "billing",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: containers}},
	}); err != nil {
		t.Fatal(err)
	}
}

// awaitState polls Status until it leaves progressing.
func awaitState(t *testing.T, d *gcprun.Driver, revision string) driver.Status {
	t.Helper()
	for range 100 {
		st, err := d.Status(context.Background(), target, revision)
		if err != nil {
			t.Fatalf("Status(%s): %v", revision, err)
		}
		if st.State != driver.StateProgressing {
			return st
		}
	}
	t.Fatalf("revision %s still progressing after 100 polls", revision)
	return driver.Status{}
}

func TestDeployDoesNotWaitForReadiness(t *testing.T) {
	fake, d := newDriver(t)
	fake.SetReadyAfter(20)
	dep := deploy(t, d, "v1.2.3")
	if dep.Revision != "billing-00001-v1-2-3" || dep.Previous != "" || !dep.Changed {
		t.Fatalf("first Deploy = %+v, want revision billing-00001-v1-2-3, no previous, changed", dep)
	}
	svc, _ := fake.Service(serviceName)
	if !svc.Reconciling || svc.Labels["managed-by"] != "meridian" {
		t.Fatalf("after Deploy the service is %v reconciling with labels %v; want still reconciling, created by Meridian", svc.Reconciling, svc.Labels)
	}
	st, err := d.Status(context.Background(), target, dep.Revision)
	if err != nil || st.State != driver.StateProgressing || st.Ready != 0 || st.Desired != 1 {
		t.Fatalf("Status right after Deploy = %+v, %v; want progressing 0/1", st, err)
	}
	if st := awaitState(t, d, dep.Revision); st.State != driver.StateReady || st.Ready != 1 {
		t.Fatalf("rollout ended %+v, want ready", st)
	}
	second := deploy(t, d, "v1.2.4")
	if second.Revision != "billing-00002-v1-2-4" || second.Previous != dep.Revision {
		t.Fatalf("second Deploy = %+v, want billing-00002-v1-2-4 after %s", second, dep.Revision)
	}
	svc, _ = fake.Service(serviceName)
	if got := svc.Template.Annotations["meridian.dev/change-id"]; got != "change-v1.2.4" {
		t.Errorf("template change-id annotation = %q, want change-v1.2.4", got)
	}
}

func TestFailedRevisionReportsReason(t *testing.T) {
	fake, d := newDriver(t)
	good := deploy(t, d, "v1")
	awaitState(t, d, good.Revision)
	fake.FailImage(image+":v2", "Image 'europe-docker.pkg.dev/acme/apps/billing:v2' not found.")
	bad := deploy(t, d, "v2")
	st := awaitState(t, d, bad.Revision)
	if st.State != driver.StateFailed || st.Reason != "Image 'europe-docker.pkg.dev/acme/apps/billing:v2' not found." {
		t.Fatalf("failed rollout = %+v, want failed with the revision's reason", st)
	}
	// The failed revision never took traffic: the good one still serves it all.
	if st, _ := d.Status(context.Background(), target, good.Revision); st.State != driver.StateReady {
		t.Fatalf("good revision after a failed rollout = %+v, want ready", st)
	}
	svc, _ := fake.Service(serviceName)
	if svc.TerminalCondition.State != runpb.Condition_CONDITION_FAILED {
		t.Fatalf("service terminal condition = %v, want failed", svc.TerminalCondition)
	}
	// Deploying the failed version again changes nothing and still reports failure.
	if again := deploy(t, d, "v2"); again.Changed || again.Revision != bad.Revision || again.Previous != good.Revision {
		t.Fatalf("redeploy of the failed version = %+v, want unchanged %s after %s", again, bad.Revision, good.Revision)
	}
}

func TestRollbackWaitsForTrafficOperation(t *testing.T) {
	fake, d := newDriver(t)
	first := deploy(t, d, "v1")
	awaitState(t, d, first.Revision)
	second := deploy(t, d, "v2")
	awaitState(t, d, second.Revision)
	fake.SetReadyAfter(5)
	polls := fake.Calls("/google.longrunning.Operations/GetOperation")
	if err := d.Rollback(context.Background(), target, first.Revision); err != nil {
		t.Fatal(err)
	}
	if n := fake.Calls("/google.longrunning.Operations/GetOperation") - polls; n < 4 {
		t.Errorf("Rollback polled the operation %d times, want it awaited to completion (>= 4 polls)", n)
	}
	svc, _ := fake.Service(serviceName)
	if len(svc.Traffic) != 1 || svc.Traffic[0].Type != runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION ||
		svc.Traffic[0].Revision != first.Revision || svc.Traffic[0].Percent != 100 {
		t.Fatalf("traffic after rollback = %v, want 100%% pinned to %s", svc.Traffic, first.Revision)
	}
	if st, _ := d.Status(context.Background(), target, second.Revision); st.State != driver.StateProgressing {
		t.Errorf("rolled-back revision reports %+v, want not serving", st)
	}
	if err := d.Rollback(context.Background(), target, "billing-00099-nope"); d.ErrorCode(err) != driver.NotFound {
		t.Errorf("Rollback to an unknown revision: %v (code %v), want not-found", err, d.ErrorCode(err))
	}
}

func TestRollbackOfFirstDeploy(t *testing.T) {
	fake, d := newDriver(t)
	deploy(t, d, "v1")
	if err := d.Rollback(context.Background(), target, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Service(serviceName); ok {
		t.Fatal("the service Meridian created is still there after rolling back its first deploy")
	}
	if err := d.Rollback(context.Background(), target, ""); err != nil {
		t.Fatalf("rolling back again: %v", err)
	}

	// A service Meridian did not create is never deleted.
	createService(t, fake, &runpb.Container{Image: image + ":v0"})
	if err := d.Rollback(context.Background(), target, ""); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("Rollback to nothing of a foreign service: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	if _, ok := fake.Service(serviceName); !ok {
		t.Fatal("a service Meridian did not create was deleted")
	}
}

// TestBadFirstReleaseToExistingService is a team adopting Meridian for a
// service it did not create: the first release reports the serving
// revision as Previous, fails, and rolling back to Previous restores it.
func TestBadFirstReleaseToExistingService(t *testing.T) {
	fake, d := newDriver(t)
	createService(t, fake, &runpb.Container{Image: image + ":v0"})
	svc, _ := fake.Service(serviceName)
	before := strings.TrimPrefix(svc.LatestCreatedRevision, serviceName+"/revisions/")
	if st := awaitState(t, d, before); st.State != driver.StateReady {
		t.Fatalf("the existing revision: %+v", st)
	}
	fake.FailImage(image+":v1-bad", "container failed to start")
	bad := deploy(t, d, "v1-bad")
	if bad.Previous != before || !bad.Changed {
		t.Fatalf("first deploy to an existing service = %+v, want previous %s", bad, before)
	}
	if st := awaitState(t, d, bad.Revision); st.State != driver.StateFailed {
		t.Fatalf("bad release: %+v", st)
	}
	if err := d.Rollback(context.Background(), target, bad.Previous); err != nil {
		t.Fatal(err)
	}
	if st := awaitState(t, d, before); st.State != driver.StateReady {
		t.Fatalf("after rollback: %+v", st)
	}
	if _, ok := fake.Service(serviceName); !ok {
		t.Fatal("the service is gone")
	}
}

func TestThrottling(t *testing.T) {
	fake, d := newDriver(t)
	fake.Throttle(3)
	dep := deploy(t, d, "v1") // retried inside the driver
	if got := fake.Calls("/google.cloud.run.v2.Services/GetService"); got != 4 {
		t.Errorf("GetService called %d times, want 3 throttled + 1", got)
	}
	fake.Throttle(100)
	_, err := d.Status(context.Background(), target, dep.Revision)
	if d.ErrorCode(err) != driver.Throttled {
		t.Fatalf("Status against a throttling API: %v (code %v), want throttled", err, d.ErrorCode(err))
	}
	if got := fake.Calls("/google.cloud.run.v2.Services/GetService"); got != 4+4 {
		t.Errorf("GetService called %d times in all, want 4 more attempts for the throttled Status", got)
	}
}

func TestBoundaryAndProject(t *testing.T) {
	_, d := newDriver(t)
	sovereign := target
	sovereign.Boundary, sovereign.Region = "fr-sovereign", "u-france-east1"
	if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: sovereign, Image: image, Version: "v1"}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("public driver deploying to a sovereign target: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
	celled := target
	celled.Cell = "acme-eu-cell-2"
	if name, err := d.ServiceName(celled); err != nil || name != "projects/acme-eu-cell-2/locations/europe-west3/services/billing" {
		t.Fatalf("ServiceName(cell) = %q, %v", name, err)
	}
	if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: target, Image: image}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("Deploy without a version: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
}

func env(c *runpb.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.GetValue()
	}
	return m
}

func TestConfigTravelsWithTheLiveRevision(t *testing.T) {
	fake, d := newDriver(t)
	ctx := context.Background()
	v1 := deploy(t, d, "v1")
	awaitState(t, d, v1.Revision)
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c1", Data: []byte(`{"maxConnections":200}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c2", Data: []byte(`not json`)}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("ApplyConfig of a non-JSON document: %v, want invalid", err)
	}
	v2 := deploy(t, d, "v2")
	awaitState(t, d, v2.Revision)
	svc, _ := fake.Service(serviceName)
	got := env(svc.Template.Containers[0])
	if got[gcprun.EnvConfigVersion] != "c1" || !json.Valid([]byte(got[gcprun.EnvConfig])) || svc.Template.Containers[0].Image != image+":v2" {
		t.Fatalf("after deploying v2 over config c1 the template runs %s with env %v; want v2 with c1", svc.Template.Containers[0].Image, got)
	}
	// Roll the image back, then change config: the new revision runs the
	// rolled-back image, not the template's newer one.
	if err := d.Rollback(ctx, target, v1.Revision); err != nil {
		t.Fatal(err)
	}
	c2, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c2", Data: []byte(`{"maxConnections":300}`)})
	if err != nil || c2.Previous != "" {
		// v1's revision predates c1: its config version is "".
		t.Fatalf("ApplyConfig(c2) over the rolled-back v1 = %+v, %v; want previous \"\"", c2, err)
	}
	svc, _ = fake.Service(serviceName)
	if img := svc.Template.Containers[0].Image; img != image+":v1" {
		t.Fatalf("config revision after an image rollback runs %s, want %s", img, image+":v1")
	}
	if st, err := d.ConfigStatus(ctx, target, "c2"); err != nil || st.Revision != "c2" {
		t.Fatalf("ConfigStatus(c2) = %+v, %v", st, err)
	}
}

func TestCanceledPollStopsPromptly(t *testing.T) {
	fake, d := newDriver(t)
	dep := deploy(t, d, "v1")
	awaitState(t, d, dep.Revision)
	deploy(t, d, "v2")
	fake.SetReadyAfter(1 << 20) // the rollback's operation never completes
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Rollback(ctx, target, dep.Revision)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Rollback with a never-ending operation returned %v after %v, want the context's error promptly", err, time.Since(start))
	}
}

func TestSovereignBoundaryOverFake(t *testing.T) {
	fake, err := gcpfake.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	b, _ := regions.Default().Boundary("gcp", "fr-sovereign")
	d, err := gcprun.New(context.Background(), b, fake.DriverOptions("acme-fr"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fr := driver.Target{Service: "billing", Environment: "prod", Cloud: "gcp", Boundary: "fr-sovereign", Region: "u-france-east1"}
	dep, err := d.Deploy(context.Background(), driver.DeployRequest{Target: fr, Image: image, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Service("projects/acme-fr/locations/u-france-east1/services/billing"); !ok || dep.Revision != "billing-00001-v1" {
		t.Fatalf("sovereign deploy = %+v; service created: %v", dep, ok)
	}
	if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: target, Image: image, Version: "v1"}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("sovereign driver deploying to a public target: %v (code %v), want invalid", err, d.ErrorCode(err))
	}
}

func TestSidecarsAreKept(t *testing.T) {
	fake, d := newDriver(t)
	fake.SetReadyAfter(1) // the platform's revision is ready before Meridian deploys
	createService(t, fake,
		&runpb.Container{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
		&runpb.Container{Name: "app", Image: image + ":v0", Ports: []*runpb.ContainerPort{{ContainerPort: 8080}}})
	dep := deploy(t, d, "v1")
	if _, err := d.ApplyConfig(context.Background(), driver.ConfigRequest{Target: target, Version: "c1", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	svc, _ := fake.Service(serviceName)
	proxy, app := svc.Template.Containers[0], svc.Template.Containers[1]
	if proxy.Image != "envoyproxy/envoy:v1.31" || len(proxy.Env) != 0 || app.Image != image+":v1" || env(app)[gcprun.EnvConfigVersion] != "c1" {
		t.Fatalf("after deploy and config: proxy %s %v, app %s %v; want the sidecar untouched and the app on v1 with c1",
			proxy.Image, env(proxy), app.Image, env(app))
	}
	if dep.Previous == "" {
		t.Fatal("deploy over an existing service reported no previous revision")
	}
}

// TestRemoveRecreatesTheServiceAsItWas: Remove deletes a service Meridian
// did not create (a sidecar, a scaling setting), and Restore recreates it
// with the removed revision's name, containers and the service's settings.
func TestRemoveRecreatesTheServiceAsItWas(t *testing.T) {
	fake, d := newDriver(t)
	ctx := context.Background()
	createService(t, fake,
		&runpb.Container{Name: "app", Image: image + ":0.9", Ports: []*runpb.ContainerPort{{ContainerPort: 8080}}},
		&runpb.Container{Name: "proxy", Image: "envoyproxy/envoy:v1"})
	dep := deploy(t, d, "1.0")
	if st := awaitState(t, d, dep.Revision); st.State != driver.StateReady {
		t.Fatalf("1.0 = %+v", st)
	}
	r, err := d.Remove(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != dep.Revision || r.Image != image || r.Version != "1.0" {
		t.Fatalf("Remove = %+v", r)
	}
	if _, ok := fake.Service(serviceName); ok {
		t.Fatal("the service exists after Remove")
	}
	if again, err := d.Remove(ctx, target); err != nil || again != (driver.Removal{}) {
		t.Fatalf("Remove of the deleted service = %+v, %v", again, err)
	}
	restored, err := d.Restore(ctx, target, r)
	if err != nil || restored != (driver.Deployment{Revision: dep.Revision, Changed: true}) {
		t.Fatalf("Restore = %+v, %v", restored, err)
	}
	if st := awaitState(t, d, dep.Revision); st.State != driver.StateReady {
		t.Fatalf("restored %s = %+v", dep.Revision, st)
	}
	svc, _ := fake.Service(serviceName)
	if cs := svc.Template.Containers; len(cs) != 2 || cs[0].Image != image+":1.0" || cs[1].Image != "envoyproxy/envoy:v1" {
		t.Fatalf("restored containers %v", cs)
	}
	if _, err := d.Restore(ctx, target, driver.Removal{Revision: "other-00001", Spec: r.Spec}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("Restore of another removal: %v, want invalid", err)
	}
}

// TestWrittenConfigTravelsWithResolvedSecrets: the document as written
// (EnvConfigSource) follows its config through a deploy and a config
// rollback, so that a later RemoveConfig returns it and never the
// resolved document, and Remove's Spec leaves the resolved one out.
func TestWrittenConfigTravelsWithResolvedSecrets(t *testing.T) {
	fake, d := newDriver(t)
	ctx := context.Background()
	awaitState(t, d, deploy(t, d, "v1").Revision)
	const (
		source   = `{"password":{"secretRef":"billing/db-password"}}`
		resolved = `{"password":"s3cr3t-run"}`
	)
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c1", Data: []byte(resolved), Source: []byte(source)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c2", Data: []byte(`{"password":"none"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := d.RollbackConfig(ctx, target, "c1"); err != nil {
		t.Fatal(err)
	}
	awaitState(t, d, deploy(t, d, "v2").Revision)
	svc, _ := fake.Service(serviceName)
	if got := env(svc.Template.Containers[0]); got[gcprun.EnvConfig] != resolved || got[gcprun.EnvConfigSource] != source {
		t.Fatalf("after rolling config back to c1 and deploying v2, the template's env is %v", got)
	}
	r, err := d.Remove(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Spec, "s3cr3t-run") || strings.Contains(r.Spec, gcprun.EnvConfigVersion) {
		t.Errorf("Remove's Spec holds the resolved config: %s", r.Spec)
	}
	if _, err := d.Restore(ctx, target, r); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: target, Version: "c1", Data: []byte(resolved), Source: []byte(source)}); err != nil {
		t.Fatal(err)
	}
	cr, err := d.RemoveConfig(ctx, target)
	if err != nil || string(cr.Data) != source || cr.Version != "c1" {
		t.Fatalf("RemoveConfig = %+v (data %s), %v; want c1 with the written document", cr, cr.Data, err)
	}
}
