package awsappconfig_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/providers/awsappconfig"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

var billing = driver.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1"}

func setup(t *testing.T) (*awsfake.Server, *awsappconfig.Driver) {
	t.Helper()
	fake := awsfake.New()
	t.Cleanup(fake.Close)
	fake.CreateConfigProfile("billing", "prod", "meridian")
	return fake, awsappconfig.New(fake.Config("us-east-1"), nil)
}

func apply(t *testing.T, d *awsappconfig.Driver, version, doc string) driver.Deployment {
	t.Helper()
	dep, err := d.ApplyConfig(context.Background(), driver.ConfigRequest{Target: billing, Version: version, Data: []byte(doc)})
	if err != nil {
		t.Fatalf("ApplyConfig(%s): %v", version, err)
	}
	return dep
}

func await(t *testing.T, d *awsappconfig.Driver, revision string) driver.Status {
	t.Helper()
	for range 50 {
		st, err := d.ConfigStatus(context.Background(), billing, revision)
		if err != nil {
			t.Fatalf("ConfigStatus(%s): %v", revision, err)
		}
		if st.State != driver.StateProgressing {
			return st
		}
	}
	t.Fatalf("config %s never settled", revision)
	return driver.Status{}
}

func TestFailedDeploymentKeepsLiveConfig(t *testing.T) {
	fake, d := setup(t)
	c1 := apply(t, d, "c1", `{"maxConnections":100}`)
	await(t, d, c1.Revision)
	fake.FailConfig("c2-bad")
	c2 := apply(t, d, "c2-bad", `{"maxConnections":0}`)
	st := await(t, d, c2.Revision)
	if st.State != driver.StateFailed || !strings.Contains(st.Reason, "ROLLED_BACK") || !strings.Contains(st.Reason, "CloudWatch alarm") {
		t.Fatalf("status of a rolled-back deployment = %+v", st)
	}
	if got := string(fake.LiveConfig("billing", "prod", "meridian")); got != `{"maxConnections":100}` {
		t.Errorf("live config = %s", got)
	}
	if st, err := d.ConfigStatus(context.Background(), billing, c1.Revision); err != nil || st.State != driver.StateReady {
		t.Errorf("c1 after the failed c2: %+v, %v", st, err)
	}
}

func TestRollbackStopsRunningDeployment(t *testing.T) {
	fake, d := setup(t)
	c1 := apply(t, d, "c1", `{"v":1}`)
	await(t, d, c1.Revision)
	c2 := apply(t, d, "c2", `{"v":2}`)
	if err := d.RollbackConfig(context.Background(), billing, c1.Revision); err != nil {
		t.Fatal(err)
	}
	if st := await(t, d, c1.Revision); st.State != driver.StateReady {
		t.Fatalf("c1 after rollback: %+v", st)
	}
	if st := await(t, d, c2.Revision); st.State != driver.StateFailed {
		t.Errorf("stopped c2: %+v", st)
	}
	if got := string(fake.LiveConfig("billing", "prod", "meridian")); got != `{"v":1}` {
		t.Errorf("live config = %s", got)
	}
}

func TestReapplyReusesVersion(t *testing.T) {
	_, d := setup(t)
	c1 := apply(t, d, "c1", `{"v":1}`)
	await(t, d, c1.Revision)
	c2 := apply(t, d, "c2", `{"v":2}`)
	await(t, d, c2.Revision)
	again := apply(t, d, "c1", `{"v":1}`)
	if again.Revision != c1.Revision || !again.Changed || again.Previous != c2.Revision {
		t.Fatalf("re-apply of c1 = %+v, want revision %s redeployed after %s", again, c1.Revision, c2.Revision)
	}
	if st := await(t, d, c1.Revision); st.State != driver.StateReady {
		t.Fatalf("c1 redeployed: %+v", st)
	}
	if st := await(t, d, c2.Revision); st.State != driver.StateFailed || !strings.Contains(st.Reason, "replaced") {
		t.Errorf("c2 after c1 came back: %+v", st)
	}
}

func TestErrorCodes(t *testing.T) {
	fake, d := setup(t)
	ctx := context.Background()
	c1 := apply(t, d, "c1", `{"v":1}`)
	_, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: billing, Version: "c2", Data: []byte(`{}`)})
	if d.ErrorCode(err) != driver.Conflict {
		t.Errorf("apply while c1 deploys: %v (code %v), want conflict", err, d.ErrorCode(err))
	}
	await(t, d, c1.Revision)
	missing := billing
	missing.Service = "ledger"
	for name, err := range map[string]error{
		"missing application": func() error { _, err := d.ConfigStatus(ctx, missing, "1"); return err }(),
		"missing version":     d.RollbackConfig(ctx, billing, "99"),
		"unknown revision":    d.RollbackConfig(ctx, billing, "no-such-config"),
	} {
		if d.ErrorCode(err) != driver.NotFound {
			t.Errorf("%s: %v (code %v), want not-found", name, err, d.ErrorCode(err))
		}
	}
	fake.FailNext(1, "AccessDeniedException")
	if _, err := d.ConfigStatus(ctx, billing, c1.Revision); d.ErrorCode(err) != driver.PermissionDenied {
		t.Errorf("access denied: %v (code %v)", err, d.ErrorCode(err))
	}
	fake.Throttle(3)
	if _, err := d.ConfigStatus(ctx, billing, c1.Revision); err != nil {
		t.Errorf("3 throttled answers were not retried: %v", err)
	}
}

func TestSettings(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateConfigProfile("payments", "prod-cell-a", "billing-config")
	opts := &awsappconfig.Options{Boundary: "public", Application: "payments", Profile: "{service}-config", Strategy: "Meridian.Instant"}
	d := awsappconfig.New(fake.Config("us-east-1"), opts)
	tgt := billing
	tgt.Cell = "cell-a"
	dep, err := d.ApplyConfig(context.Background(), driver.ConfigRequest{Target: tgt, Version: "c1", Data: []byte(`{}`)})
	if err != nil || dep.Revision != "1" {
		t.Fatalf("apply with settings: %+v, %v", dep, err)
	}
	if !fake.Saw(`"DeploymentStrategyId":"Meridian.Instant"`) {
		t.Error("the configured deployment strategy was not used")
	}
}

// TestRemoveConfigDeploysAnEmptyDocument: RemoveConfig stops a running
// deployment, deploys {} in place of the live version and hands back that
// version's content; the removed label is reserved.
func TestRemoveConfigDeploysAnEmptyDocument(t *testing.T) {
	fake, d := setup(t)
	ctx := context.Background()
	c1 := apply(t, d, "c1", `{"maxConnections":100}`)
	await(t, d, c1.Revision)
	apply(t, d, "c2", `{"maxConnections":200}`) // still deploying when removed
	r, err := d.RemoveConfig(ctx, billing)
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != c1.Revision || r.Version != "c1" || string(r.Data) != `{"maxConnections":100}` {
		t.Fatalf("RemoveConfig = %+v (data %s), want c1, the live version", r, r.Data)
	}
	for n := 0; ; n++ { // c1 serves until the empty document is deployed
		st, err := d.ConfigStatus(ctx, billing, c1.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == driver.StateFailed {
			break
		}
		if n == 50 {
			t.Fatalf("c1 after RemoveConfig = %+v, want replaced", st)
		}
	}
	if got := string(fake.LiveConfig("billing", "prod", "meridian")); got != `{}` {
		t.Errorf("live config after RemoveConfig = %s, want {}", got)
	}
	if again, err := d.RemoveConfig(ctx, billing); err != nil || again.Revision != "" {
		t.Fatalf("second RemoveConfig = %+v, %v", again, err)
	}
	if _, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: billing, Version: awsappconfig.RemovedLabel, Data: []byte(`{}`)}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("ApplyConfig of the removed label: %v, want invalid", err)
	}
	if _, err := d.RemoveConfig(ctx, driver.Target{Service: "nothing", Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1"}); err != nil {
		t.Fatalf("RemoveConfig without an application: %v, want nothing removed", err)
	}
}

// TestSharedVersionWithOtherSecretValues: a profile's hosted versions are
// shared by its environments, so a config version whose secrets resolve
// to other values for a second target is refused rather than served with
// the first target's values; with the same values it is reused.
func TestSharedVersionWithOtherSecretValues(t *testing.T) {
	fake, d := setup(t)
	fake.CreateConfigProfile("billing", "staging", "meridian")
	staging := billing
	staging.Environment = "staging"
	const source = `{"password":{"secretRef":"billing/db-password"}}`
	ctx := context.Background()
	c1, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: billing, Version: "c1", Data: []byte(`{"password":"prod-s3cr3t"}`), Source: []byte(source)})
	if err != nil {
		t.Fatal(err)
	}
	await(t, d, c1.Revision)
	_, err = d.ApplyConfig(ctx, driver.ConfigRequest{Target: staging, Version: "c1", Data: []byte(`{"password":"staging-s3cr3t"}`), Source: []byte(source)})
	if d.ErrorCode(err) != driver.Invalid || !strings.Contains(err.Error(), "appconfigProfile") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("ApplyConfig of c1 with other secret values: %v (code %v), want invalid, naming the remedy and no value", err, d.ErrorCode(err))
	}
	same, err := d.ApplyConfig(ctx, driver.ConfigRequest{Target: staging, Version: "c1", Data: []byte(`{"password":"prod-s3cr3t"}`), Source: []byte(source)})
	if err != nil || same.Revision != c1.Revision {
		t.Fatalf("ApplyConfig of c1 with the same values = %+v, %v; want version %s reused", same, err, c1.Revision)
	}
}
