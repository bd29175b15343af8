package fleet_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/config"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/providers/fleet"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
	"github.com/meridian-deploy/meridian/providers/local"
	"github.com/meridian-deploy/meridian/regions"
)

func rule(cloud, boundary string, settings map[string]string) placement.BoundaryRule {
	return placement.BoundaryRule{Cloud: cloud, Boundary: boundary, TaskQueue: "meridian-" + cloud + "-" + boundary, Provider: settings}
}

// TestOpenRefusesBadRules checks that a rule Open cannot serve fails it with
// one line naming the boundary and what is wrong.
func TestOpenRefusesBadRules(t *testing.T) {
	for _, tc := range []struct {
		rule placement.BoundaryRule
		want string
	}{
		{rule("oracle", "public", nil), `boundary oracle/public: no drivers for cloud "oracle" (known clouds: aws, azure, gcp, local)`},
		{rule("aws", "public", map[string]string{"driver": "awsfargate"}), `boundary aws/public: provider setting driver: "awsfargate" is not a deploy driver for aws (choose one of: awsecs)`},
		{rule("aws", "us-gov", map[string]string{"driver": "gcprun"}), `boundary aws/us-gov: provider setting driver: "gcprun" is not a deploy driver for aws (choose one of: awsecs)`},
		{rule("gcp", "public", map[string]string{"gateDriver": "gcprun"}), `boundary gcp/public: provider setting gateDriver: "gcprun" is not a gate driver for gcp (choose one of: gcpmonitoring)`},
		{rule("azure", "china", map[string]string{"configDriver": "azuremonitor"}), `boundary azure/china: provider setting configDriver: "azuremonitor" is not a config driver for azure (choose one of: azureappconfig)`},
		{rule("aws", "mars", nil), `boundary aws/mars: not in the region catalog`},
		{rule("aws", "public", map[string]string{"cloudwatchDimensions": "ServiceName"}), `boundary aws/public: driver awscloudwatch: cloudwatch: setting cloudwatchDimensions: "ServiceName" is not name=value`},
		{rule("gcp", "public", map[string]string{"secretsDriver": "awssecretsmanager"}), `boundary gcp/public: provider setting secretsDriver: "awssecretsmanager" is not a secrets driver for gcp (choose one of: gcpsecretmanager)`},
	} {
		f, err := fleet.Open(context.Background(), []placement.BoundaryRule{rule("aws", "public", nil), tc.rule}, nil)
		if err == nil {
			f.Close()
			t.Errorf("%s/%s %v: Open succeeded", tc.rule.Cloud, tc.rule.Boundary, tc.rule.Provider)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s/%s %v:\n got %s\nwant %s", tc.rule.Cloud, tc.rule.Boundary, tc.rule.Provider, err, tc.want)
		}
	}
}

// TestLocalCloud builds the local cloud's provider: one shared by its
// boundaries, with the demo sharder for shard-aware restarts.
func TestLocalCloud(t *testing.T) {
	f, err := fleet.Open(context.Background(), []placement.BoundaryRule{rule("local", "public", nil), rule("local", "us-gov", map[string]string{"driver": "local"})},
		&fleet.Options{Local: &local.Options{StateDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, b := range []string{"public", "us-gov"} {
		p, err := f.Set().For(placement.Target{Service: "demo", Environment: "dev", Cloud: "local", Boundary: b, Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !p.HasSharder() {
			t.Errorf("local/%s: no sharder", b)
		}
	}
	if _, err := f.Set().For(placement.Target{Cloud: "aws", Boundary: "public"}); err == nil {
		t.Error("a fleet of local boundaries serves aws")
	}
}

// TestLocalSecrets: a local boundary reads its secrets from its
// secretsDir setting, else from the local provider's secrets directory,
// when its provider applies a config that references them.
func TestLocalSecrets(t *testing.T) {
	state, govSecrets := t.TempDir(), t.TempDir()
	for dir, value := range map[string]string{filepath.Join(state, "secrets"): "public-s3cr3t", govSecrets: "gov-s3cr3t"} {
		if err := os.MkdirAll(filepath.Join(dir, "billing"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "billing", "db-password"), []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := fleet.Open(context.Background(), []placement.BoundaryRule{rule("local", "public", nil), rule("local", "us-gov", map[string]string{"secretsDir": govSecrets})},
		&fleet.Options{Local: &local.Options{StateDir: state}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for b, want := range map[string]string{"public": "public-s3cr3t", "us-gov": "gov-s3cr3t"} {
		tg := placement.Target{Service: "billing", Environment: "dev", Cloud: "local", Boundary: b, Region: "us-east-1"}
		p, err := f.Set().For(tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ApplyConfig(context.Background(), providers.ConfigRequest{Target: tg, Version: "c1", Data: []byte(`{"db":{"secretRef":"billing/db-password"}}`)}); err != nil {
			t.Fatalf("local/%s: %v", b, err)
		}
		r, err := p.RemoveConfig(context.Background(), tg)
		if err != nil || string(r.Data) != `{"db":{"secretRef":"billing/db-password"}}` {
			t.Fatalf("local/%s: RemoveConfig = %s, %v", b, r.Data, err)
		}
		if _, err := p.RestoreConfig(context.Background(), tg, r); err != nil {
			t.Fatal(err)
		}
		// STATEDIR/targets/TARGET/config.json (docs/local-provider.md)
		doc, err := os.ReadFile(filepath.Join(state, "targets", strings.ReplaceAll(tg.ID(), "/", "_"), "config.json"))
		if err != nil {
			t.Fatalf("local/%s: %v", b, err)
		}
		if string(doc) != `{"db":"`+want+`"}` {
			t.Errorf("local/%s serves %s, want the secret of its own directory", b, doc)
		}
	}
}

// recorder is an HTTP client and a gRPC dialer that record where each
// request would go and refuse it, so that no request leaves the machine.
type recorder struct {
	mu    sync.Mutex
	hosts []string
}

var errRefused = errors.New("recorded, not sent")

func (r *recorder) add(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.hosts, host) {
		r.hosts = append(r.hosts, host)
	}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.add(req.URL.Host)
	return nil, errRefused
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) { return r.RoundTrip(req) }

func (r *recorder) dial(_ context.Context, addr string) (net.Conn, error) {
	r.add(addr)
	return nil, errRefused
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hosts
	r.hosts = nil
	slices.Sort(h)
	return h
}

// awsEnv gives the AWS SDK's default chain these credentials in the
// environment, and nothing else of this machine's: no shared files, no
// custom CA bundle (which a recording HTTP client cannot take), no
// instance metadata.
func awsEnv(t *testing.T, keyID, secret string) {
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	for _, v := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestSovereignEndpoints opens a fleet of government, China and sovereign
// boundaries with the SDKs' own endpoints, and public ones with one driver
// each behind a private endpoint, calls every driver of each (the secret
// store through a config that references a secret), and checks where the
// calls would go: the clients are real, only their transports record the
// host and refuse to send.
func TestSovereignEndpoints(t *testing.T) {
	awsEnv(t, "AKIAENDPOINTTEST0001", "endpoint/test/secret")
	recs := map[string]*recorder{} // by cloud/boundary
	recorderOf := func(b regions.Boundary) *recorder {
		key := b.Cloud + "/" + b.ID
		if recs[key] == nil {
			recs[key] = &recorder{}
		}
		return recs[key]
	}
	creds := map[string]*azurefake.Credential{}
	opts := &fleet.Options{
		AWS: func(b regions.Boundary) []func(*config.LoadOptions) error {
			return []func(*config.LoadOptions) error{config.WithHTTPClient(recorderOf(b)), config.WithRetryMaxAttempts(1)}
		},
		Azure: func(b regions.Boundary) (azcore.TokenCredential, policy.ClientOptions, error) {
			creds[b.ID] = &azurefake.Credential{}
			return creds[b.ID], policy.ClientOptions{Transport: recorderOf(b), Retry: policy.RetryOptions{MaxRetries: -1}}, nil
		},
		GCP: func(b regions.Boundary) []option.ClientOption {
			return []option.ClientOption{option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithContextDialer(recorderOf(b).dial))}
		},
	}
	rules := []placement.BoundaryRule{
		// Public boundaries: one driver each through a private endpoint.
		rule("aws", "public", map[string]string{"endpoint.awsecs": "https://vpce-0a1b2c3d.ecs.us-east-1.vpce.amazonaws.com",
			"endpoint.awssecretsmanager": "https://vpce-0e1f2a3b.secretsmanager.us-east-1.vpce.amazonaws.com"}),
		rule("aws", "us-gov", nil),
		rule("aws", "china", map[string]string{"roleArn": "arn:aws-cn:iam::123456789012:role/meridian"}),
		rule("aws", "eu-sovereign", nil),
		rule("azure", "public", map[string]string{"subscription": azurefake.Subscription, "endpoint.azuremonitor": "https://arm-proxy.example.com"}),
		rule("azure", "us-gov", map[string]string{"subscription": azurefake.Subscription}),
		rule("azure", "china", map[string]string{"subscription": azurefake.Subscription}),
		rule("gcp", "public", map[string]string{"project": "acme", "endpoint.gcprun": "run-acme.p.googleapis.com:443"}),
		rule("gcp", "fr-sovereign", map[string]string{"project": "acme-fr"}),
	}
	f, err := fleet.Open(context.Background(), rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		cloud, boundary, region string
		hosts                   []string
	}{
		{"aws", "public", "us-east-1", []string{"appconfig.us-east-1.amazonaws.com", "monitoring.us-east-1.amazonaws.com", "vpce-0a1b2c3d.ecs.us-east-1.vpce.amazonaws.com", "vpce-0e1f2a3b.secretsmanager.us-east-1.vpce.amazonaws.com"}},
		{"aws", "us-gov", "us-gov-east-1", []string{"appconfig.us-gov-east-1.amazonaws.com", "ecs.us-gov-east-1.amazonaws.com", "monitoring.us-gov-east-1.amazonaws.com", "secretsmanager.us-gov-east-1.amazonaws.com"}},
		{"aws", "china", "cn-northwest-1", []string{"sts.cn-north-1.amazonaws.com.cn"}}, // the role is assumed first, in the partition's home region
		{"aws", "eu-sovereign", "eusc-de-east-1", []string{"appconfig.eusc-de-east-1.amazonaws.eu", "ecs.eusc-de-east-1.amazonaws.eu", "monitoring.eusc-de-east-1.amazonaws.eu", "secretsmanager.eusc-de-east-1.amazonaws.eu"}},
		{"azure", "public", "westeurope", []string{"arm-proxy.example.com", "management.azure.com", "meridian-prod.azconfig.io", "meridian-prod.vault.azure.net"}},
		{"azure", "us-gov", "usgovvirginia", []string{"management.usgovcloudapi.net", "meridian-prod.azconfig.azure.us", "meridian-prod.vault.usgovcloudapi.net"}},
		{"azure", "china", "chinanorth3", []string{"management.chinacloudapi.cn", "meridian-prod.azconfig.azure.cn", "meridian-prod.vault.azure.cn"}},
		{"gcp", "public", "europe-west3", []string{"monitoring.googleapis.com:443", "run-acme.p.googleapis.com:443", "secretmanager.googleapis.com:443"}},
		{"gcp", "fr-sovereign", "u-france-east1", []string{"monitoring.s3nsapis.fr:443", "run.s3nsapis.fr:443", "secretmanager.s3nsapis.fr:443"}},
	} {
		tg := placement.Target{Service: "billing", Environment: "prod", Cloud: tc.cloud, Boundary: tc.boundary, Region: tc.region}
		p, err := f.Set().For(tg)
		if err != nil {
			t.Fatal(err)
		}
		// Every attempt is recorded before it fails; GCP's clients would
		// retry an unreachable endpoint for seconds.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, errDeploy := p.Deploy(ctx, providers.DeployRequest{Target: tg, Image: "registry.example.com/billing", Version: "v2"})
		_, errConfig := p.ApplyConfig(ctx, providers.ConfigRequest{Target: tg, Version: "c2", Data: []byte(`{}`)})
		_, errGate := p.EvaluateGate(ctx, tg, placement.Gate{Name: "5xx", Alarm: &placement.AlarmGate{Name: "billing-5xx"}})
		_, errSecret := p.ApplyConfig(ctx, providers.ConfigRequest{Target: tg, Version: "c3", Data: []byte(`{"db":{"secretRef":"billing/db-password"}}`)})
		for _, err := range []error{errDeploy, errConfig, errGate, errSecret} {
			if err == nil {
				t.Errorf("%s: a call succeeded without a network", tg.ID())
			}
		}
		cancel()
		if got := recs[tc.cloud+"/"+tc.boundary].take(); !slices.Equal(got, tc.hosts) {
			t.Errorf("%s/%s calls %v, want %v", tc.cloud, tc.boundary, got, tc.hosts)
		}
	}
	for b, want := range map[string][]string{
		"public": {"https://management.core.windows.net//.default", "https://meridian-prod.azconfig.io/.default"},
		"us-gov": {"https://management.core.usgovcloudapi.net//.default", "https://meridian-prod.azconfig.azure.us/.default"},
		"china":  {"https://management.core.chinacloudapi.cn//.default", "https://meridian-prod.azconfig.azure.cn/.default"},
	} {
		scopes := slices.Sorted(slices.Values(creds[b].Scopes()))
		if scopes = slices.Compact(scopes); !slices.Equal(scopes, want) {
			t.Errorf("azure/%s asked for tokens for %v, want %v", b, scopes, want)
		}
	}
}
