package awsecs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/meridian-deploy/meridian/providers/awsecs"
	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

const image = "registry.example.com/billing"

func target(service string) driver.Target {
	return driver.Target{Service: service, Environment: "prod", Cloud: "aws", Boundary: "public", Region: "us-east-1"}
}

// await polls Status until the rollout leaves progressing.
func await(t *testing.T, d *awsecs.Driver, tgt driver.Target, revision string) driver.Status {
	t.Helper()
	for range 100 {
		st, err := d.Status(context.Background(), tgt, revision)
		if err != nil {
			t.Fatalf("Status(%s): %v", revision, err)
		}
		if st.State != driver.StateProgressing {
			return st
		}
	}
	t.Fatalf("rollout of %s never finished", revision)
	return driver.Status{}
}

// TestDeployCopiesTaskDefinition checks the revision Deploy registers: the
// live task definition with the new image and Meridian's tags.
func TestDeployCopiesTaskDefinition(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	bootstrap := fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 3)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	ctx := context.Background()

	dep, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.0", ChangeID: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !dep.Changed || dep.Previous != bootstrap || dep.Revision == bootstrap {
		t.Fatalf("first deploy = %+v", dep)
	}
	if !strings.HasSuffix(dep.Revision, ":task-definition/billing:2") {
		t.Errorf("revision %s, want billing:2", dep.Revision)
	}
	if got := fake.TaskDefinitionImages(dep.Revision); !slices.Equal(got, []string{image + ":1.0"}) {
		t.Errorf("images = %v", got)
	}
	if fake.ServiceTaskDefinition("meridian-prod", "billing") != dep.Revision {
		t.Error("service not updated to the new revision")
	}
	if st := await(t, d, target("billing"), dep.Revision); st.State != driver.StateReady || st.Ready != 3 || st.Desired != 3 {
		t.Fatalf("status = %+v", st)
	}
	second, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.1", ChangeID: "c-2"})
	if err != nil || second.Previous != dep.Revision {
		t.Fatalf("second deploy = %+v, %v; want previous %s", second, err, dep.Revision)
	}
	// Deploying 1.1 again while it rolls out keeps the recorded previous.
	again, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.1", ChangeID: "c-2"})
	if err != nil || again.Changed || again.Revision != second.Revision || again.Previous != dep.Revision {
		t.Fatalf("repeat deploy = %+v, %v", again, err)
	}
	// The earlier revision is reported as replaced, not missing.
	if st, err := d.Status(ctx, target("billing"), bootstrap); err != nil || st.State != driver.StateFailed {
		t.Errorf("status of a replaced revision = %+v, %v", st, err)
	}
}

func TestCircuitBreaker(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 2)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	ctx := context.Background()
	good, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	await(t, d, target("billing"), good.Revision)
	fake.FailImage(image + ":1.1-bad")
	bad, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.1-bad"})
	if err != nil {
		t.Fatal(err)
	}
	st := await(t, d, target("billing"), bad.Revision)
	if st.State != driver.StateFailed || st.Reason != awsfake.CircuitBreakerReason {
		t.Fatalf("status of a tripped circuit breaker = %+v", st)
	}
	if err := d.Rollback(ctx, target("billing"), bad.Previous); err != nil {
		t.Fatal(err)
	}
	if st := await(t, d, target("billing"), good.Revision); st.State != driver.StateReady {
		t.Fatalf("after rollback: %+v", st)
	}
	if fake.ServiceTaskDefinition("meridian-prod", "billing") != good.Revision {
		t.Error("service does not run the rolled-back-to revision")
	}
}

// TestBadFirstReleaseRollsBack is a team adopting Meridian for a running
// service: its first release trips the circuit breaker, and rolling back to
// the reported Previous restores the task definition that ran before.
func TestBadFirstReleaseRollsBack(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	before := fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 2)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	ctx := context.Background()
	fake.FailImage(image + ":1.0-bad")
	bad, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1.0-bad"})
	if err != nil || bad.Previous != before || !bad.Changed {
		t.Fatalf("first deploy = %+v, %v; want previous %s", bad, err, before)
	}
	if st := await(t, d, target("billing"), bad.Revision); st.State != driver.StateFailed {
		t.Fatalf("status of a tripped circuit breaker = %+v", st)
	}
	if err := d.Rollback(ctx, target("billing"), bad.Previous); err != nil {
		t.Fatal(err)
	}
	if st := await(t, d, target("billing"), before); st.State != driver.StateReady || st.Ready != 2 {
		t.Fatalf("after rollback: %+v", st)
	}
	if got := fake.ServiceTaskDefinition("meridian-prod", "billing"); got != before {
		t.Errorf("service runs %s, want %s", got, before)
	}
}

func TestTargetConvention(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateService("us-east-1", "cell-a", "billing", image+":0.9", 1)
	fake.CreateService("us-east-1", "payments-prod", "billing-api", image+":0.9", 1)
	ctx := context.Background()
	celled := target("billing")
	celled.Cell = "cell-a"
	if _, err := awsecs.New(fake.Config("us-east-1"), nil).Deploy(ctx, driver.DeployRequest{Target: celled, Image: image, Version: "1"}); err != nil {
		t.Errorf("cell target: %v", err)
	}
	opts := &awsecs.Options{Boundary: "public", Cluster: "payments-{environment}", Service: "{service}-api"}
	if _, err := awsecs.New(fake.Config("us-east-1"), opts).Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1"}); err != nil {
		t.Errorf("templated target: %v", err)
	}
}

func TestErrorCodes(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 1)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	ctx := context.Background()
	deploy := func(tgt driver.Target, img string) error {
		_, err := d.Deploy(ctx, driver.DeployRequest{Target: tgt, Image: img, Version: "1"})
		return err
	}
	noCluster := target("billing")
	noCluster.Environment = "staging"
	gov := target("billing")
	gov.Boundary = "us-gov"
	for _, tc := range []struct {
		name string
		err  func() error
		want driver.Code
	}{
		{"missing cluster", func() error { return deploy(noCluster, image) }, driver.NotFound},
		{"missing service", func() error { return deploy(target("ledger"), image) }, driver.NotFound},
		{"rollback of a missing service", func() error { return d.Rollback(ctx, target("ledger"), "arn") }, driver.NotFound},
		{"access denied", func() error { fake.FailNext(1, "AccessDeniedException"); return deploy(target("billing"), image) }, driver.PermissionDenied},
		{"throttled past retries", func() error { fake.Throttle(5); return deploy(target("billing"), image) }, driver.Throttled},
		{"region outside the boundary", func() error { return deploy(gov, image) }, driver.Invalid},
		{"boundary the driver does not serve", func() error {
			gov := awsecs.New(fake.Config("us-gov-west-1"), &awsecs.Options{Boundary: "us-gov"})
			_, err := gov.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1"})
			return err
		}, driver.Invalid},
	} {
		err := tc.err()
		if got := d.ErrorCode(err); got != tc.want {
			t.Errorf("%s: %v (code %v), want %v", tc.name, err, got, tc.want)
		}
	}
}

// TestThrottlingRetried: throttled answers are retried by the SDK inside
// one Deploy.
func TestThrottlingRetried(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 1)
	fake.Throttle(3)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	if _, err := d.Deploy(context.Background(), driver.DeployRequest{Target: target("billing"), Image: image, Version: "1"}); err != nil {
		t.Fatalf("Deploy after 3 throttled answers: %v", err)
	}
	// 3 throttled + DescribeServices, DescribeTaskDefinition, Register, TagResource, Update
	if n := len(fake.AccessKeys()); n != 8 {
		t.Errorf("%d requests, want 8", n)
	}
}

// TestCredentialsNeverLeak loads credentials from the environment through
// the default chain and checks that the secret key appears in no error, no
// result and no request.
func TestCredentialsNeverLeak(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 1)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           awsfake.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       awsfake.SecretAccessKey,
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_PROFILE":                 "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ENDPOINT_URL":            fake.URL(),
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := awsx.LoadConfig(ctx, "public", nil, config.WithRetryer(awsfake.FastRetryer))
	if err != nil {
		t.Fatal(err)
	}
	d := awsecs.New(cfg, nil)
	var seen []string
	record := func(v any, err error) {
		b, _ := json.Marshal(v)
		seen = append(seen, string(b))
		if err != nil {
			seen = append(seen, err.Error())
		}
	}
	dep, err := d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "1"})
	record(dep, err)
	record(d.Status(ctx, target("billing"), dep.Revision))
	record(d.Status(ctx, target("ledger"), dep.Revision))
	fake.FailNext(1, "AccessDeniedException")
	record(d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: image, Version: "2"}))
	fake.Throttle(5)
	record(nil, d.Rollback(ctx, target("billing"), dep.Revision))
	record(d.Deploy(ctx, driver.DeployRequest{Target: target("billing"), Image: "", Version: "2"}))
	if err != nil || len(seen) < 8 {
		t.Fatalf("deploy: %v; recorded %d outputs", err, len(seen))
	}
	for _, s := range seen {
		if strings.Contains(s, awsfake.SecretAccessKey) {
			t.Errorf("secret key in %q", s)
		}
	}
	if !slices.Contains(fake.AccessKeys(), awsfake.AccessKeyID) {
		t.Error("requests were not signed with the environment's credentials")
	}
	if fake.Saw(awsfake.SecretAccessKey) {
		t.Error("the secret key went over the wire")
	}
}

// TestRemoveDeletesAndRecreatesTheService: Remove force-deletes the
// service (ECS refuses to delete one scaled above zero otherwise), Restore
// waits out the drain with Conflict and then recreates the service from
// the recorded task definition and network configuration.
func TestRemoveDeletesAndRecreatesTheService(t *testing.T) {
	fake := awsfake.New()
	defer fake.Close()
	before := fake.CreateService("us-east-1", "meridian-prod", "billing", image+":0.9", 3)
	d := awsecs.New(fake.Config("us-east-1"), nil)
	ctx := context.Background()
	tgt := target("billing")

	r, err := d.Remove(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != before || r.Instances != 3 || r.Image != image || r.Version != "0.9" || !strings.Contains(r.Spec, "subnet-0fake") {
		t.Fatalf("Remove = %+v", r)
	}
	if fake.ServiceTaskDefinition("meridian-prod", "billing") != "" {
		t.Fatal("the service is still active after Remove")
	}
	if st, err := d.Status(ctx, tgt, ""); err != nil || st.State != driver.StateProgressing {
		t.Fatalf(`Status("") while draining = %+v, %v; want progressing`, st, err)
	}
	if _, err := d.Restore(ctx, tgt, r); d.ErrorCode(err) != driver.Conflict {
		t.Fatalf("Restore while draining: %v (code %v), want conflict", err, d.ErrorCode(err))
	}
	if _, err := d.Status(ctx, tgt, ""); d.ErrorCode(err) != driver.NotFound {
		t.Fatalf(`Status("") once inactive: %v, want not-found`, err)
	}
	if again, err := d.Remove(ctx, tgt); err != nil || again != (driver.Removal{}) {
		t.Fatalf("Remove of the deleted service = %+v, %v; want nothing removed", again, err)
	}
	if _, err := d.Restore(ctx, tgt, driver.Removal{Revision: before}); d.ErrorCode(err) != driver.Invalid {
		t.Fatalf("Restore without the recorded spec: %v, want invalid", err)
	}
	dep, err := d.Restore(ctx, tgt, r)
	if err != nil || dep != (driver.Deployment{Revision: before, Changed: true}) {
		t.Fatalf("Restore = %+v, %v", dep, err)
	}
	if st := await(t, d, tgt, before); st.State != driver.StateReady || st.Desired != 3 {
		t.Fatalf("restored service = %+v", st)
	}
}
