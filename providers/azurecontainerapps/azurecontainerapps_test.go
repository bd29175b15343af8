package azurecontainerapps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appcontainers/armappcontainers/v3"

	"github.com/meridian-deploy/meridian/providers/azureappconfig"
	"github.com/meridian-deploy/meridian/providers/azurecontainerapps"
	"github.com/meridian-deploy/meridian/providers/azuremonitor"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
)

// env is a fake, a Container Apps driver on it and one target.
type env struct {
	h      *azurefake.Fixture
	d      *azurecontainerapps.Driver
	target driver.Target
	rg     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	h := azurefake.NewFixture("public", "westeurope")
	t.Cleanup(h.Close)
	d, err := azurecontainerapps.New(h.Credential, h.Options())
	if err != nil {
		t.Fatal(err)
	}
	target, _ := h.Target(context.Background())
	return &env{h: h, d: d, target: target, rg: azurefake.ResourceGroup(target)}
}

func (e *env) deploy(t *testing.T, version string) driver.Deployment {
	t.Helper()
	dep, err := e.d.Deploy(context.Background(), driver.DeployRequest{Target: e.target, Image: azurefake.Image, Version: version, ChangeID: "change-" + version})
	if err != nil {
		t.Fatalf("Deploy(%s): %v", version, err)
	}
	return dep
}

// await polls Status until revision leaves progressing.
func (e *env) await(t *testing.T, revision string) driver.Status {
	t.Helper()
	for range 100 {
		st, err := e.d.Status(context.Background(), e.target, revision)
		if err != nil {
			t.Fatalf("Status(%s): %v", revision, err)
		}
		if st.State != driver.StateProgressing {
			return st
		}
	}
	t.Fatalf("%s still progressing after 100 polls", revision)
	return driver.Status{}
}

func (e *env) app(t *testing.T) armappcontainers.ContainerApp {
	t.Helper()
	app, ok := e.h.Fake.App(azurefake.Subscription, e.rg, e.target.Service)
	if !ok {
		t.Fatal("the app is gone")
	}
	return app
}

// TestDeployUpdatesTemplateAndTraffic: one PATCH switches the app to
// multiple-revision mode, sets the image and suffix, sends all traffic to
// the new revision and tags the app; the driver polls the operation.
func TestDeployUpdatesTemplateAndTraffic(t *testing.T) {
	e := newEnv(t)
	dep := e.deploy(t, "1.4.2")
	suffix := azurecontainerapps.Suffix("1.4.2")
	want := driver.Deployment{Revision: e.target.Service + "--" + suffix, Previous: e.target.Service + "--bootstrap", Changed: true}
	if dep != want {
		t.Fatalf("Deploy = %+v, want %+v (the bootstrap revision served before)", dep, want)
	}
	app := e.app(t)
	p := app.Properties
	if *p.Configuration.ActiveRevisionsMode != armappcontainers.ActiveRevisionsModeMultiple {
		t.Errorf("revisions mode %s", *p.Configuration.ActiveRevisionsMode)
	}
	if img := *p.Template.Containers[0].Image; img != azurefake.Image+":1.4.2" || *p.Template.RevisionSuffix != suffix {
		t.Errorf("template runs %s with suffix %s", img, *p.Template.RevisionSuffix)
	}
	if *p.ProvisioningState != armappcontainers.ContainerAppProvisioningStateSucceeded {
		t.Errorf("Deploy returned before the operation ended: %s", *p.ProvisioningState)
	}
	if tr := e.h.Fake.AppTraffic(azurefake.Subscription, e.rg, e.target.Service); !maps.Equal(tr, map[string]int32{dep.Revision: 100}) {
		t.Errorf("traffic %v", tr)
	}
	if got := *app.Tags[azurecontainerapps.TagRevision]; got != dep.Revision || *app.Tags[azurecontainerapps.TagChangeID] != "change-1.4.2" {
		t.Errorf("tags %v", app.Tags)
	}
	reqs := strings.Join(e.h.Fake.Requests(), "\n")
	for _, want := range []string{"PATCH /subscriptions/", "GET /subscriptions/" + azurefake.Subscription + "/providers/Microsoft.App/locations/westeurope/containerappOperationStatuses/"} {
		if !strings.Contains(reqs, want) {
			t.Errorf("no request %q in\n%s", want, reqs)
		}
	}
	if st := e.await(t, dep.Revision); st.State != driver.StateReady || st.Ready != 2 || st.Desired != 2 {
		t.Errorf("status %+v, want ready 2/2", st)
	}
}

// TestLocationPolling: an update answered with a Location header alone is
// polled there until it completes.
func TestLocationPolling(t *testing.T) {
	e := newEnv(t)
	e.h.Fake.PollViaLocation(true)
	dep := e.deploy(t, "v1")
	if p := e.app(t).Properties; *p.ProvisioningState != armappcontainers.ContainerAppProvisioningStateSucceeded {
		t.Errorf("Deploy returned before the operation ended: %s", *p.ProvisioningState)
	}
	reqs := strings.Join(e.h.Fake.Requests(), "\n")
	if !strings.Contains(reqs, "/containerappOperationResults/") || strings.Contains(reqs, "/containerappOperationStatuses/") {
		t.Errorf("requests:\n%s", reqs)
	}
	if st := e.await(t, dep.Revision); st.State != driver.StateReady {
		t.Errorf("status %+v", st)
	}
}

// TestFailedOperation: an update whose operation ends Failed fails Deploy
// with Azure's error, code failed, and changes nothing.
func TestFailedOperation(t *testing.T) {
	e := newEnv(t)
	e.h.Fake.FailNextUpdate("ContainerAppOperationError", "Failed to provision revision for container app: quota exceeded")
	_, err := e.d.Deploy(context.Background(), driver.DeployRequest{Target: e.target, Image: azurefake.Image, Version: "v1"})
	if e.d.ErrorCode(err) != driver.Failed || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("Deploy: %v (code %v), want failed with Azure's message", err, e.d.ErrorCode(err))
	}
	if tr := e.h.Fake.AppTraffic(azurefake.Subscription, e.rg, e.target.Service); !maps.Equal(tr, map[string]int32{e.target.Service + "--bootstrap": 100}) {
		t.Errorf("traffic after a failed update %v", tr)
	}
	if _, err := e.d.Status(context.Background(), e.target, e.target.Service+"--v1"); e.d.ErrorCode(err) != driver.NotFound {
		t.Errorf("the failed update left a revision: %v", err)
	}
	dep := e.deploy(t, "v1")
	if st := e.await(t, dep.Revision); st.State != driver.StateReady {
		t.Errorf("deploy after the failure: %+v", st)
	}
}

// TestRedeployKeepsRevisions: deploying a version whose revision exists
// sends the traffic back to it instead of making another.
func TestRedeployKeepsRevisions(t *testing.T) {
	e := newEnv(t)
	v1 := e.deploy(t, "v1")
	e.await(t, v1.Revision)
	v2 := e.deploy(t, "v2")
	e.await(t, v2.Revision)
	again := e.deploy(t, "v1")
	if again.Revision != v1.Revision || again.Previous != v2.Revision || !again.Changed {
		t.Fatalf("redeploy of v1 = %+v, want %s with previous %s", again, v1.Revision, v2.Revision)
	}
	if tr := e.h.Fake.AppTraffic(azurefake.Subscription, e.rg, e.target.Service); !maps.Equal(tr, map[string]int32{v1.Revision: 100}) {
		t.Errorf("traffic %v", tr)
	}
	if st := e.await(t, v1.Revision); st.State != driver.StateReady {
		t.Errorf("v1 after redeploy: %+v", st)
	}
	if unchanged := e.deploy(t, "v1"); unchanged.Changed || unchanged.Previous != v2.Revision {
		t.Errorf("Deploy of live v1 = %+v, want unchanged with previous %s", unchanged, v2.Revision)
	}
}

// TestSplitTrafficPrevious: when an operator has split the traffic, the
// revision with the largest share is the one Deploy reports as Previous
// and a rollback sends all traffic back to.
func TestSplitTrafficPrevious(t *testing.T) {
	e := newEnv(t)
	v1 := e.deploy(t, "v1")
	e.await(t, v1.Revision)
	v2 := e.deploy(t, "v2")
	e.await(t, v2.Revision)
	apps, err := armappcontainers.NewContainerAppsClient(azurefake.Subscription, e.h.Credential, &arm.ClientOptions{ClientOptions: e.h.Fake.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	split := armappcontainers.ContainerApp{Properties: &armappcontainers.ContainerAppProperties{
		Configuration: &armappcontainers.Configuration{Ingress: &armappcontainers.Ingress{Traffic: []*armappcontainers.TrafficWeight{
			{RevisionName: &v1.Revision, Weight: to.Ptr[int32](30)},
			{RevisionName: &v2.Revision, Weight: to.Ptr[int32](70)},
		}}},
	}}
	poller, err := apps.BeginUpdate(context.Background(), e.rg, e.target.Service, split, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(context.Background(), &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	v3 := e.deploy(t, "v3")
	if v3.Previous != v2.Revision || !v3.Changed {
		t.Fatalf("Deploy(v3) on a 30/70 split = %+v, want previous %s", v3, v2.Revision)
	}
	e.await(t, v3.Revision)
	if err := e.d.Rollback(context.Background(), e.target, v3.Previous); err != nil {
		t.Fatal(err)
	}
	if tr := e.h.Fake.AppTraffic(azurefake.Subscription, e.rg, e.target.Service); !maps.Equal(tr, map[string]int32{v2.Revision: 100}) {
		t.Errorf("traffic after rollback %v", tr)
	}
}

// TestFailedRevision: a revision that fails to start is failed with
// Azure's provisioning, health and running states and its error.
func TestFailedRevision(t *testing.T) {
	e := newEnv(t)
	e.h.FailVersion(e.target, "v9-bad")
	dep := e.deploy(t, "v9-bad")
	st := e.await(t, dep.Revision)
	if st.State != driver.StateFailed || st.Ready != 0 {
		t.Fatalf("status %+v, want failed", st)
	}
	for _, want := range []string{"provisioning Failed", "health Unhealthy", "running state Failed", "exit code '1'", azurefake.Image + ":v9-bad"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q lacks %q", st.Reason, want)
		}
	}
}

// TestRollbackReactivates: rolling back to a deactivated revision
// activates it, then sends it the traffic; it provisions again.
func TestRollbackReactivates(t *testing.T) {
	e := newEnv(t)
	v1 := e.deploy(t, "v1")
	e.await(t, v1.Revision)
	v2 := e.deploy(t, "v2")
	e.await(t, v2.Revision)
	revs, err := armappcontainers.NewContainerAppsRevisionsClient(azurefake.Subscription, e.h.Credential, &arm.ClientOptions{ClientOptions: e.h.Fake.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := revs.DeactivateRevision(context.Background(), e.rg, e.target.Service, v1.Revision, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.d.Status(context.Background(), e.target, v1.Revision); st.State != driver.StateFailed || !strings.Contains(st.Reason, "inactive") {
		t.Errorf("deactivated revision: %+v", st)
	}
	if err := e.d.Rollback(context.Background(), e.target, v1.Revision); err != nil {
		t.Fatal(err)
	}
	var states []driver.State
	for range 100 {
		st, err := e.d.Status(context.Background(), e.target, v1.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) == 0 || states[len(states)-1] != st.State {
			states = append(states, st.State)
		}
		if st.State != driver.StateProgressing {
			break
		}
	}
	if !slices.Equal(states, []driver.State{driver.StateProgressing, driver.StateReady}) {
		t.Errorf("states after rollback %v, want progressing then ready", states)
	}
	if tr := e.h.Fake.AppTraffic(azurefake.Subscription, e.rg, e.target.Service); !maps.Equal(tr, map[string]int32{v1.Revision: 100}) {
		t.Errorf("traffic %v", tr)
	}
	if err := e.d.Rollback(context.Background(), e.target, e.target.Service+"--nope"); e.d.ErrorCode(err) != driver.NotFound {
		t.Errorf("rollback to an unknown revision: %v", err)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	missing := e.target
	missing.Service = "ghost"
	if _, err := e.d.Deploy(context.Background(), driver.DeployRequest{Target: missing, Image: azurefake.Image, Version: "v1"}); e.d.ErrorCode(err) != driver.NotFound {
		t.Errorf("deploy to a missing app: %v (code %v)", err, e.d.ErrorCode(err))
	}
	if _, err := e.d.Deploy(context.Background(), driver.DeployRequest{Target: e.target, Image: azurefake.Image}); e.d.ErrorCode(err) != driver.Invalid {
		t.Errorf("deploy without a version: %v", err)
	}
	if _, err := e.d.Deploy(context.Background(), driver.DeployRequest{Target: e.target, Image: "other.example.com/sidecar", Version: "v1"}); err != nil {
		t.Errorf("the only container is replaced whatever its repository: %v", err)
	}
}

// TestThrottling: the SDK retries 429s within its budget; past it, or when
// Retry-After asks for longer than MaxRetryDelay, Throttled surfaces.
func TestThrottling(t *testing.T) {
	e := newEnv(t)
	e.h.Throttle(3)
	if _, err := e.d.Status(context.Background(), e.target, e.target.Service+"--bootstrap"); err != nil {
		t.Fatalf("three throttled answers were not retried: %v", err)
	}
	e.h.Throttle(10)
	if _, err := e.d.Status(context.Background(), e.target, e.target.Service+"--bootstrap"); e.d.ErrorCode(err) != driver.Throttled {
		t.Errorf("ten throttled answers: %v (code %v), want throttled", err, e.d.ErrorCode(err))
	}
	e.h.Throttle(0)
	e.h.Fake.ThrottleFor(1, time.Minute)
	start := time.Now()
	if _, err := e.d.Status(context.Background(), e.target, e.target.Service+"--bootstrap"); e.d.ErrorCode(err) != driver.Throttled || time.Since(start) > 5*time.Second {
		t.Errorf("Retry-After beyond MaxRetryDelay: %v after %v, want throttled at once", err, time.Since(start))
	}
}

func TestSuffix(t *testing.T) {
	for version, want := range map[string]string{
		"v1":                         "v1",
		"v2-bad":                     "v2-bad",
		"1.4.2":                      "v1-4-2-",
		"V3":                         "v3-",
		"release/2026.11.26+build.7": "release-2026-11-",
		"---":                        "v-",
	} {
		got := azurecontainerapps.Suffix(version)
		if !strings.HasPrefix(got, want) || len(got) > 24 || strings.Contains(got, "--") {
			t.Errorf("Suffix(%q) = %q, want a prefix %q, at most 24 characters, no double dash", version, got, want)
		}
	}
	if azurecontainerapps.Suffix("1.4.2") == azurecontainerapps.Suffix("1-4-2") {
		t.Error("distinct versions share a suffix")
	}
}

// badToken is a credential whose token the fake refuses.
type badToken struct{}

func (badToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "eyWRONG.meridian-rejected-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestCredentialHygiene: no token appears in any driver's errors or
// results, and a refused token is permission-denied.
func TestCredentialHygiene(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts := e.h.Options()
	opts.Settings[azureappconfig.SettingEndpoint] = e.h.Fake.URL()
	cfg, err := azureappconfig.New(e.h.Credential, opts)
	if err != nil {
		t.Fatal(err)
	}
	mon, err := azuremonitor.New(e.h.Credential, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	dep := e.deploy(t, "v1")
	st, err := e.d.Status(ctx, e.target, dep.Revision)
	out = append(out, dep, st, err)
	_, err = e.d.Status(ctx, e.target, "missing")
	out = append(out, err)
	cdep, err := cfg.ApplyConfig(ctx, driver.ConfigRequest{Target: e.target, Version: "c1", Data: []byte(`{"a":1}`)})
	out = append(out, cdep, err)
	_, err = cfg.ConfigStatus(ctx, e.target, "missing")
	out = append(out, err)
	_, err = mon.EvaluateGate(ctx, e.target, driver.Gate{Alarm: &driver.AlarmGate{Name: "missing"}})
	out = append(out, err)
	bad, _ := azurecontainerapps.New(badToken{}, opts)
	_, err = bad.Deploy(ctx, driver.DeployRequest{Target: e.target, Image: azurefake.Image, Version: "v2"})
	if bad.ErrorCode(err) != driver.PermissionDenied {
		t.Errorf("refused token: %v (code %v), want permission-denied", err, bad.ErrorCode(err))
	}
	out = append(out, err)
	badCfg, _ := azureappconfig.New(badToken{}, opts)
	_, err = badCfg.ApplyConfig(ctx, driver.ConfigRequest{Target: e.target, Version: "c2", Data: []byte(`{}`)})
	if badCfg.ErrorCode(err) != driver.PermissionDenied {
		t.Errorf("refused token on the data plane: %v (code %v)", err, badCfg.ErrorCode(err))
	}
	out = append(out, err)
	for _, o := range out {
		text := fmt.Sprintf("%v %+v", o, o)
		if b, err := json.Marshal(o); err == nil {
			text += string(b)
		}
		for _, secret := range []string{azurefake.Token, "eyWRONG", "Bearer"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q leaked into %s", secret, text)
			}
		}
	}
}

// TestRemoveDeletesAndRecreatesTheApp: Remove deletes the app; Restore
// waits out the deletion with Conflict and then recreates the app, whose
// first revision is the removed one, under its name.
func TestRemoveDeletesAndRecreatesTheApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dep := e.deploy(t, "1.0")
	if st := e.await(t, dep.Revision); st.State != driver.StateReady {
		t.Fatalf("1.0 = %+v", st)
	}
	r, err := e.d.Remove(ctx, e.target)
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != dep.Revision || r.Image != azurefake.Image || r.Version != "1.0" {
		t.Fatalf("Remove = %+v", r)
	}
	if _, err := e.d.Restore(ctx, e.target, r); e.d.ErrorCode(err) != driver.Conflict {
		t.Fatalf("Restore while the app is being deleted: %v (code %v), want conflict", err, e.d.ErrorCode(err))
	}
	if _, err := e.d.Status(ctx, e.target, ""); e.d.ErrorCode(err) != driver.NotFound {
		t.Fatalf(`Status("") once deleted: %v, want not-found`, err)
	}
	if again, err := e.d.Remove(ctx, e.target); err != nil || again != (driver.Removal{}) {
		t.Fatalf("Remove of the deleted app = %+v, %v", again, err)
	}
	if _, err := e.d.Restore(ctx, e.target, driver.Removal{Revision: dep.Revision}); e.d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("Restore without the recorded spec: %v, want invalid", err)
	}
	restored, err := e.d.Restore(ctx, e.target, r)
	if err != nil || restored != (driver.Deployment{Revision: dep.Revision, Changed: true}) {
		t.Fatalf("Restore = %+v, %v", restored, err)
	}
	if st := e.await(t, dep.Revision); st.State != driver.StateReady {
		t.Fatalf("restored %s = %+v", dep.Revision, st)
	}
	if again := e.deploy(t, "1.0"); again.Changed || again.Revision != dep.Revision {
		t.Fatalf("Deploy(1.0) after Restore = %+v, want unchanged %s", again, dep.Revision)
	}
}
