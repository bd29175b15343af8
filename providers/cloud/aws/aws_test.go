package aws_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
)

func TestErrorCode(t *testing.T) {
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		err  error
		want driver.Code
	}{
		{api("ClusterNotFoundException"), driver.NotFound},
		{api("ServiceNotFoundException"), driver.NotFound},
		{fmt.Errorf("describe: %w", api("ResourceNotFoundException")), driver.NotFound},
		{api("AccessDeniedException"), driver.PermissionDenied},
		{api("ThrottlingException"), driver.Throttled},
		{api("Throttling"), driver.Throttled},
		{api("ConflictException"), driver.Conflict},
		{api("ServerException"), driver.Unavailable},
		{api("ClientException"), driver.Invalid},
		{api("SomethingNew"), driver.Unknown},
		{driver.Errorf(driver.Failed, "rollout failed"), driver.Failed},
		{fmt.Errorf("call: %w", context.Canceled), driver.Canceled},
		{context.DeadlineExceeded, driver.Unavailable},
		{errors.New("unrelated"), driver.Unknown},
	} {
		if got := awsx.ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBoundaries(t *testing.T) {
	for id, want := range map[string][2]string{
		"public":       {"aws", "amazonaws.com"},
		"us-gov":       {"aws-us-gov", "amazonaws.com"},
		"china":        {"aws-cn", "amazonaws.com.cn"},
		"eu-sovereign": {"aws-eusc", "amazonaws.eu"},
	} {
		b, err := awsx.Boundary(id)
		if err != nil {
			t.Fatal(err)
		}
		if b.Source != want[0] || b.DNSSuffix != want[1] {
			t.Errorf("boundary %s = partition %s, suffix %s; want %s, %s", id, b.Source, b.DNSSuffix, want[0], want[1])
		}
	}
	if _, err := awsx.Boundary("atlantis"); awsx.ErrorCode(err) != driver.Invalid {
		t.Errorf("unknown boundary: %v, want invalid", err)
	}
	gov, _ := awsx.Boundary("us-gov")
	if err := awsx.CheckRegion(gov, "us-gov-east-1"); err != nil {
		t.Errorf("us-gov-east-1 in us-gov: %v", err)
	}
	if err := awsx.CheckRegion(gov, "us-east-1"); awsx.ErrorCode(err) != driver.Invalid {
		t.Errorf("us-east-1 in us-gov: %v, want invalid", err)
	}
}

// TestInBoundaryFallback: an endpoint the SDK resolved into another
// partition (a region newer than the SDK) is rebuilt from the catalog.
func TestInBoundaryFallback(t *testing.T) {
	cn, _ := awsx.Boundary("china")
	ep := smithyendpoints.Endpoint{URI: url.URL{Scheme: "https", Host: "ecs.cn-east-9.amazonaws.com"}}
	if got := awsx.InBoundary(ep, "ecs", "cn-east-9", cn).URI.Host; got != "ecs.cn-east-9.amazonaws.com.cn" {
		t.Errorf("fallback host = %s", got)
	}
	ok := smithyendpoints.Endpoint{URI: url.URL{Scheme: "https", Host: "ecs.cn-north-1.amazonaws.com.cn"}}
	if got := awsx.InBoundary(ok, "ecs", "cn-north-1", cn).URI.Host; got != "ecs.cn-north-1.amazonaws.com.cn" {
		t.Errorf("kept host = %s", got)
	}
}

// isolate points the default credential chain at the environment alone.
func isolate(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           awsfake.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       awsfake.SecretAccessKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func TestLoadConfigFromEnvironment(t *testing.T) {
	isolate(t)
	cfg, err := awsx.LoadConfig(context.Background(), "us-gov", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "us-gov-west-1" {
		t.Errorf("home region = %q, want us-gov-west-1", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != awsfake.AccessKeyID {
		t.Fatalf("credentials = %v, %v; want the environment's", creds.AccessKeyID, err)
	}
}

func TestLoadConfigProfile(t *testing.T) {
	isolate(t)
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	if err := os.WriteFile(cfgFile, []byte("[profile cn-deployer]\nregion = cn-northwest-1\naws_access_key_id = AKIAFAKECHINA0000001\naws_secret_access_key = fake-china-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := awsx.LoadConfig(context.Background(), "china", map[string]string{awsx.SettingProfile: "cn-deployer"})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIAFAKECHINA0000001" || cfg.Region != "cn-northwest-1" {
		t.Errorf("profile gave key %s, region %s", creds.AccessKeyID, cfg.Region)
	}
	if _, err := awsx.LoadConfig(context.Background(), "china", map[string]string{awsx.SettingProfile: "missing"}); err == nil {
		t.Error("a missing profile loaded")
	}
}

// TestLoadConfigRoleARN assumes a boundary's role through (fake) STS with
// the default chain's credentials.
func TestLoadConfigRoleARN(t *testing.T) {
	isolate(t)
	fake := awsfake.New()
	defer fake.Close()
	t.Setenv("AWS_ENDPOINT_URL", fake.URL())
	role := "arn:aws-us-gov:iam::123456789012:role/meridian-deployer"
	cfg, err := awsx.LoadConfig(context.Background(), "us-gov", map[string]string{awsx.SettingRoleARN: role, awsx.SettingExternalID: "meridian"},
		config.WithRetryer(awsfake.FastRetryer))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != awsfake.RoleAccessKeyID || creds.SessionToken == "" {
		t.Errorf("assumed credentials have key %s", creds.AccessKeyID)
	}
	if got := fake.AssumedRoles(); !slices.Equal(got, []string{role}) {
		t.Errorf("assumed roles = %v", got)
	}
	if !slices.Contains(fake.AccessKeys(), awsfake.AccessKeyID) {
		t.Error("AssumeRole was not signed with the default chain's key")
	}
	if fake.Saw(awsfake.SecretAccessKey) {
		t.Error("the secret key went over the wire")
	}
}
