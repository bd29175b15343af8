package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/fleet"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/internal/awsfake"
	"github.com/meridian-deploy/meridian/providers/internal/azurefake"
	"github.com/meridian-deploy/meridian/providers/internal/gcpfake"
	"github.com/meridian-deploy/meridian/regions"
	"github.com/meridian-deploy/meridian/workflows"
)

// End-to-end: one real in-process Temporal server for the package, the
// worker's real workflow registrations, a Fleet opened from a compiled
// spec, and the real AWS, Azure and GCP drivers talking over the wire to
// one fake per boundary.

var (
	server *temporaltest.TestServer
	tc     client.Client
	logs   syncBuffer // everything the SDK client, the workers and the server logged
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	flag.Parse()
	serverLogs := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.InfoLevel))
	server = temporaltest.NewServer(temporaltest.WithBaseServerOptions(temporal.WithLogger(serverlog.NewZapLogger(serverLogs))))
	sdkLogs := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tc = server.NewClientWithOptions(client.Options{Logger: sdklog.NewStructuredLogger(sdkLogs)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := workflows.RegisterSearchAttributes(ctx, tc, server.GetDefaultNamespace())
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

// Credentials of the run, recognisable so that a leak is found.
const (
	awsKeyID  = "AKIAMERIDIANE2E00001"
	awsSecret = "e2e/aws/secret/MERIDIAN-must-never-be-logged"
	gcpToken  = "ya29.meridian-e2e-gcp-token-must-never-be-logged"
	frToken   = "s3ns.meridian-e2e-fr-token-must-never-be-logged"
)

const (
	service = "billing"
	image   = "registry.example.com/billing"
)

// runs counts the multi-cloud setups on the package's server (go test -count).
var runs int

// multiCloud is the compiled example spec, a fake per boundary, and a
// Fleet opened from the spec serving every boundary's task queue.
type multiCloud struct {
	run        string // distinguishes this run's change ids from earlier runs' on the same server
	model      *placement.Model
	plan       *pipelines.Plan
	aws        map[string]*awsfake.Server // by boundary
	azure      map[string]*azurefake.Server
	azureCreds map[string]*azurefake.Credential
	gcp        map[string]*gcpfake.Server
}

func startMultiCloud(t *testing.T) *multiCloud {
	t.Helper()
	awsEnv(t, awsKeyID, awsSecret)
	runs++
	mc := &multiCloud{
		run:        fmt.Sprint(runs),
		aws:        map[string]*awsfake.Server{},
		azure:      map[string]*azurefake.Server{},
		azureCreds: map[string]*azurefake.Credential{},
		gcp:        map[string]*gcpfake.Server{},
	}
	var endpoints strings.Builder
	endpoints.WriteString("package multicloud\n\n")
	setEndpoint := func(cloud, boundary, url string) {
		fmt.Fprintf(&endpoints, "boundaries: %s: %q: provider: endpoint: %q\n", cloud, boundary, url)
	}
	for _, b := range []string{"public", "us-gov", "china", "eu-sovereign"} {
		mc.aws[b] = awsfake.New()
		t.Cleanup(mc.aws[b].Close)
		setEndpoint("aws", b, mc.aws[b].URL())
	}
	for _, b := range []string{"public", "us-gov", "china"} {
		mc.azure[b] = azurefake.New()
		mc.azureCreds[b] = &azurefake.Credential{}
		t.Cleanup(mc.azure[b].Close)
		setEndpoint("azure", b, mc.azure[b].URL())
		// The App Configuration store and the Key Vault, data-plane
		// endpoints of their own (the fake's client dials example.com
		// hosts at the fake).
		fmt.Fprintf(&endpoints, "boundaries: azure: %q: provider: appConfigEndpoint: %q\n", b, mc.azure[b].URL())
		fmt.Fprintf(&endpoints, "boundaries: azure: %q: provider: keyVaultURL: %q\n", b, "https://"+keyVaultHost(b))
	}
	for _, b := range []string{"public", "fr-sovereign"} {
		fake, err := gcpfake.StartTLS()
		if err != nil {
			t.Fatal(err)
		}
		mc.gcp[b] = fake
		t.Cleanup(fake.Close)
		setEndpoint("gcp", b, fake.Addr())
	}

	dir := t.TempDir()
	spec, err := os.ReadFile("testdata/multicloud/fleet.cue")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"fleet.cue": spec, "endpoints.cue": []byte(endpoints.String())} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := placement.Load(dir)
	if err != nil {
		t.Fatalf("load:\n%v", err)
	}
	if mc.model, err = placement.Compile(loaded, regions.Default()); err != nil {
		t.Fatalf("compile:\n%v", err)
	}
	if mc.plan, err = pipelines.Build(mc.model); err != nil {
		t.Fatal(err)
	}

	for _, tg := range mc.targets() {
		switch tg.Cloud {
		case "aws":
			mc.aws[tg.Boundary].PutSecret(tg.Region, secretName, secretValue(tg))
			mc.aws[tg.Boundary].CreateService(tg.Region, ecsCluster(tg), service, image+":v1", 2)
			mc.aws[tg.Boundary].SetAlarm(service+"-5xx", awsfake.AlarmOK)
			mc.aws[tg.Boundary].CreateConfigProfile(service, appConfigEnvironment(tg), "meridian")
		case "azure":
			mc.azure[tg.Boundary].PutKeyVaultSecret(keyVaultHost(tg.Boundary), "billing-db-password", secretValue(tg))
			mc.azure[tg.Boundary].CreateApp(azurefake.Subscription, resourceGroup(tg), service, tg.Region, image+":v1", 2)
			mc.azure[tg.Boundary].SetAlert(azurefake.Subscription, resourceGroup(tg), service+"-5xx", azurefake.AlertHealthy)
		case "gcp":
			mc.gcp[tg.Boundary].AddSecretVersion(gcpProject(tg), "billing-db-password", []byte(secretValue(tg)))
			mc.gcp[tg.Boundary].AddAlarm(gcpProject(tg), service+"-5xx")
			mc.gcp[tg.Boundary].SetAlarm(gcpProject(tg), service+"-5xx", tg.Region, driver.Healthy)
		}
	}

	f, err := fleet.Open(context.Background(), mc.model.Boundaries, &fleet.Options{
		// AWS: the SDK's default chain, which finds the environment's keys.
		Azure: func(b regions.Boundary) (azcore.TokenCredential, policy.ClientOptions, error) {
			co := mc.azure[b.ID].ClientOptions()
			co.Cloud = cloud.Configuration{} // the boundary's own, with the endpoint setting
			return mc.azureCreds[b.ID], co, nil
		},
		GCP: func(b regions.Boundary) []option.ClientOption {
			if b.ID == "public" {
				return mc.gcp[b.ID].TokenClientOptions(gcpToken)
			}
			// The fake's TLS transport, with S3NS credentials, minted in the
			// sovereign universe, instead of a public token source.
			return append(mc.gcp[b.ID].TokenClientOptions(frToken), option.WithAuthCredentials(auth.NewCredentials(&auth.CredentialsOptions{
				TokenProvider:          staticToken(frToken),
				UniverseDomainProvider: auth.CredentialsPropertyFunc(func(context.Context) (string, error) { return "s3nsapis.fr", nil }),
			})))
		},
		PollInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	queues := []string{workflows.ControlTaskQueue}
	for _, r := range mc.model.Boundaries {
		if !slices.Contains(queues, r.TaskQueue) {
			queues = append(queues, r.TaskQueue)
		}
	}
	acts := &workflows.Activities{Providers: f.Set(), PollInterval: 5 * time.Millisecond}
	for _, q := range queues {
		w := worker.New(tc, q, worker.Options{})
		workflows.Register(w, acts)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	return mc
}

// The secret the spec's config references, and its value in the store of
// each target's boundary. AWS's secrets are regional: each region of a
// boundary has it, replicated with the same value (the regions of
// aws/public share one AppConfig profile, whose versions must then hold
// the same values: see awsappconfig).
const secretName = "billing/db-password"

func secretValue(tg placement.Target) string { return "e2e-s3cr3t-" + tg.Cloud + "-" + tg.Boundary }

// keyVaultHost is the vault of an Azure boundary, on its fake.
func keyVaultHost(boundary string) string { return "kv-" + boundary + ".example.com" }

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func ecsCluster(tg placement.Target) string {
	if tg.Boundary == "public" {
		return "meridian-prod-" + tg.Region // the spec's ecsCluster setting
	}
	return "meridian-prod"
}

func appConfigEnvironment(tg placement.Target) string {
	if tg.Boundary == "public" {
		return "prod-" + tg.Region // the spec's appconfigEnvironment setting
	}
	return "prod"
}

func resourceGroup(tg placement.Target) string { return azurefake.ResourceGroup(driver.Target(tg)) }

func gcpProject(tg placement.Target) string {
	if tg.Boundary == "public" {
		return "acme-prod"
	}
	return "acme-fr"
}

func (mc *multiCloud) targets() []placement.Target {
	for _, s := range mc.model.Services {
		if s.Name == service {
			return s.Targets
		}
	}
	return nil
}

// setPublicAlarms fires the service's 5xx alarm in every cloud's public
// boundary, or clears it.
func (mc *multiCloud) setPublicAlarms(firing bool) {
	awsState, azureStatus, gcpHealth := awsfake.AlarmOK, azurefake.AlertHealthy, driver.Healthy
	if firing {
		awsState, azureStatus, gcpHealth = awsfake.AlarmFiring, azurefake.AlertUnhealthy, driver.Unhealthy
	}
	mc.aws["public"].SetAlarm(service+"-5xx", awsState)
	for _, tg := range mc.targets() {
		switch {
		case tg.Cloud == "azure" && tg.Boundary == "public":
			mc.azure["public"].SetAlert(azurefake.Subscription, resourceGroup(tg), service+"-5xx", azureStatus)
		case tg.Cloud == "gcp" && tg.Boundary == "public":
			mc.gcp["public"].SetAlarm(gcpProject(tg), service+"-5xx", tg.Region, gcpHealth)
		}
	}
}

// request is the release of version, built as `meridian rollout` builds it.
func (mc *multiCloud) request(version string) workflows.ReleaseRequest {
	req := workflows.ReleaseRequest{
		Service: service,
		Change:  workflows.Change{Kind: workflows.KindVersion, ID: mc.changeID(version), Version: version, Image: image, Trigger: "test"},
	}
	for _, s := range mc.model.Services {
		if s.Name == service {
			req.Gates, req.Instances = s.Gates, s.Instances
		}
	}
	for _, p := range mc.plan.Pipelines {
		if p.Service == service {
			req.Pipelines = append(req.Pipelines, p)
		}
	}
	return req
}

// configRequest is the release of the service's config, built as `meridian
// config` builds it: the resolved config's document and its content's version.
func (mc *multiCloud) configRequest(t *testing.T) workflows.ReleaseRequest {
	req := mc.request("")
	for _, s := range mc.model.Services {
		if s.Name == service {
			change, err := workflows.ConfigChange(s.Config)
			if err != nil {
				t.Fatal(err)
			}
			change.ID, change.Trigger = mc.changeID(change.Version), "test"
			req.Change = change
		}
	}
	return req
}

// liveConfig returns the config version a target serves and its document,
// as its fake holds them: the version label and content AppConfig
// deployed; the version the App Configuration sentinel points to and that
// version's key-value; the config version and document in the environment
// of the Cloud Run revision with all the traffic.
func (mc *multiCloud) liveConfig(tg placement.Target) (version, document string) {
	switch tg.Cloud {
	case "aws":
		label, content := mc.aws[tg.Boundary].LiveConfigVersion(service, appConfigEnvironment(tg), "meridian")
		return label, string(content)
	case "azure":
		fake := mc.azure[tg.Boundary]
		v, _ := fake.Setting("meridian/"+service+"/live", "prod/"+tg.Region)
		var pointer struct{ Version string }
		if err := json.Unmarshal([]byte(v), &pointer); err != nil {
			return "sentinel " + v, ""
		}
		document, _ = fake.Setting("meridian/"+service+"/config", "prod/"+pointer.Version)
		return pointer.Version, document
	case "gcp":
		svc, _ := mc.gcp[tg.Boundary].Service(fmt.Sprintf("projects/%s/locations/%s/services/%s", gcpProject(tg), tg.Region, service))
		for _, c := range svc.GetTemplate().GetContainers() {
			for _, e := range c.GetEnv() {
				switch e.GetName() {
				case gcprun.EnvConfigVersion:
					version = e.GetValue()
				case gcprun.EnvConfig:
					document = e.GetValue()
				}
			}
		}
	}
	return version, document
}

// changeID is the id of this run's change to version.
func (mc *multiCloud) changeID(version string) string { return version + "-run" + mc.run }

// live returns the version a target serves, as its fake shows it: the tag
// of the ECS service's task definition image, the version of the container
// app revision with all the traffic, or that of the Cloud Run revision
// with all the traffic.
func (mc *multiCloud) live(tg placement.Target) string {
	switch tg.Cloud {
	case "aws":
		fake := mc.aws[tg.Boundary]
		images := fake.TaskDefinitionImages(fake.ServiceTaskDefinition(ecsCluster(tg), service))
		if len(images) != 1 {
			return fmt.Sprintf("images %v", images)
		}
		return strings.TrimPrefix(images[0], image+":")
	case "azure":
		for rev, weight := range mc.azure[tg.Boundary].AppTraffic(azurefake.Subscription, resourceGroup(tg), service) {
			if weight == 100 {
				return strings.TrimPrefix(rev, service+"--")
			}
		}
	case "gcp":
		svc, ok := mc.gcp[tg.Boundary].Service(fmt.Sprintf("projects/%s/locations/%s/services/%s", gcpProject(tg), tg.Region, service))
		if !ok {
			return "no service"
		}
		for _, st := range svc.TrafficStatuses {
			if st.Percent == 100 {
				// billing-00002-v2: the revision made for version v2
				return st.Revision[strings.LastIndex(st.Revision, "-")+1:]
			}
		}
	}
	return "nothing live"
}

func release(t *testing.T, req workflows.ReleaseRequest) workflows.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The previous release's lock is let go just after that release ends.
	ref, _, err := workflows.StartRelease(ctx, tc, req)
	for errors.Is(err, workflows.ErrBusy) {
		select {
		case <-ctx.Done():
			t.Fatal(err)
		case <-time.After(20 * time.Millisecond):
		}
		ref, _, err = workflows.StartRelease(ctx, tc, req)
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := workflows.Outcome(ctx, tc, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMultiCloudRelease(t *testing.T) {
	start := time.Now()
	mc := startMultiCloud(t)
	if n := len(mc.targets()); n != 10 {
		t.Fatalf("the spec has %d targets of %s, want 10", n, service)
	}
	t.Logf("setup (fakes, spec, fleet, workers): %v", time.Since(start))

	t.Run("release succeeds on every cloud and boundary", func(t *testing.T) {
		start := time.Now()
		st := release(t, mc.request("v2"))
		t.Logf("release of v2 over %d targets in %d pipelines: %v", len(mc.targets()), len(st.Pipelines), time.Since(start))
		if st.Phase != workflows.PhaseSucceeded {
			t.Fatalf("release %s: %s", st.Phase, st.Reason)
		}
		for _, tg := range mc.targets() {
			if v := mc.live(tg); v != "v2" {
				t.Errorf("%s serves %s after the release, want v2", tg.ID(), v)
			}
		}
		// Each boundary's calls stayed in its partition or cloud.
		for b, fake := range mc.aws {
			for _, r := range fake.Regions() {
				if reg, _ := regions.Default().Region("aws", r); reg.Boundary != b {
					t.Errorf("the aws/%s fake got a request signed for %s", b, r)
				}
			}
		}
		for b, audience := range map[string]string{
			"public": "https://management.core.windows.net//.default",
			"us-gov": "https://management.core.usgovcloudapi.net//.default",
			"china":  "https://management.core.chinacloudapi.cn//.default",
		} {
			if scopes := slices.Compact(slices.Sorted(slices.Values(mc.azureCreds[b].Scopes()))); !slices.Equal(scopes, []string{audience}) {
				t.Errorf("azure/%s asked for tokens for %v, want %s", b, scopes, audience)
			}
		}
	})

	t.Run("a tripped alarm rolls back on every cloud", func(t *testing.T) {
		start := time.Now()
		mc.setPublicAlarms(true)
		st := release(t, mc.request("v3"))
		t.Logf("release of v3 rolled back: %v", time.Since(start))
		if st.Phase != workflows.PhaseRolledBack || len(st.LeftAsIs) > 0 {
			t.Fatalf("release %s (%s), left as is %v; want rolled-back", st.Phase, st.Reason, st.LeftAsIs)
		}
		for _, p := range st.Pipelines {
			t.Logf("%s/%s: %s %s", p.Cloud, p.Boundary, p.Phase, p.Reason)
		}
		for _, tg := range mc.targets() {
			if v := mc.live(tg); v != "v2" {
				t.Errorf("%s serves %s after the rollback, want v2", tg.ID(), v)
			}
		}
		rolledBack := rollbacksByCloud(t, workflows.ReleaseID(service, mc.changeID("v3")))
		for _, cloud := range []string{"aws", "azure", "gcp"} {
			if rolledBack[cloud] == 0 {
				t.Errorf("no target of %s was rolled back (rollbacks by cloud: %v)", cloud, rolledBack)
			}
		}
	})

	t.Run("a config release reaches every cloud's config driver, with each boundary's secret", func(t *testing.T) {
		start := time.Now()
		mc.setPublicAlarms(false)
		req := mc.configRequest(t)
		if string(req.Change.Config) != `{"db":{"password":{"secretRef":"billing/db-password"}},"maxConnections":200}` {
			t.Fatalf("the release's config is %s, want the spec's default and the secret reference", req.Change.Config)
		}
		st := release(t, req)
		t.Logf("config release %s: %v", req.Change.Version, time.Since(start))
		if st.Phase != workflows.PhaseSucceeded {
			t.Fatalf("config release %s: %s", st.Phase, st.Reason)
		}
		// AppConfig, App Configuration and the Cloud Run revision's
		// environment each hold the version and its document, with the
		// secret's value from the store of the target's own boundary: the
		// release itself carried the reference only.
		clouds := map[string]int{}
		for _, tg := range mc.targets() {
			clouds[tg.Cloud]++
			want := `{"db":{"password":"` + secretValue(tg) + `"},"maxConnections":200}`
			if version, doc := mc.liveConfig(tg); version != req.Change.Version || doc != want {
				t.Errorf("%s serves config %q %s, want %q %s", tg.ID(), version, doc, req.Change.Version, want)
			}
		}
		if clouds["aws"] == 0 || clouds["azure"] == 0 || clouds["gcp"] == 0 {
			t.Errorf("targets by cloud %v: the release did not cover every cloud", clouds)
		}
	})

	t.Run("no credential or secret value in histories or logs", func(t *testing.T) {
		if !slices.Contains(mc.aws["public"].AccessKeys(), awsKeyID) || !slices.Contains(mc.aws["us-gov"].AccessKeys(), awsfake.RoleAccessKeyID) ||
			!slices.Contains(mc.aws["us-gov"].AssumedRoles(), "arn:aws-us-gov:iam::123456789012:role/meridian-deployer") {
			t.Fatal("the AWS fakes did not see the environment's keys in public and the role's in us-gov")
		}
		if !mc.gcp["public"].SawToken(gcpToken) || !mc.gcp["fr-sovereign"].SawToken(frToken) {
			t.Fatal("the GCP fakes did not see the access tokens")
		}
		secrets := []string{awsKeyID, awsSecret, awsfake.RoleAccessKeyID, awsfake.RoleSecretAccessKey, "fake-session-token", azurefake.Token, gcpToken, frToken}
		for _, tg := range mc.targets() {
			if !slices.Contains(secrets, secretValue(tg)) {
				secrets = append(secrets, secretValue(tg))
			}
		}
		histories := allHistories(t)
		// Three releases, each with its pipelines, and the service's lock;
		// the config release's histories name the secret.
		all := bytes.Join(histories, nil)
		if len(histories) < 3*(len(mc.request("v2").Pipelines)+1)+1 || !bytes.Contains(all, []byte(image)) || !bytes.Contains(all, []byte(secretName)) {
			t.Fatalf("%d histories, without the image and secret names: the search would find nothing", len(histories))
		}
		if !strings.Contains(logs.String(), "meridian-aws-us-gov") {
			t.Fatal("the captured logs do not name the workers' task queues: the search would find nothing")
		}
		for _, s := range secrets {
			for _, h := range histories {
				if bytes.Contains(h, []byte(s)) {
					t.Errorf("a workflow history holds the credential %q", s)
					break
				}
			}
			if strings.Contains(logs.String(), s) {
				t.Errorf("the logs hold the credential %q", s)
			}
		}
		t.Logf("searched %d histories and %d bytes of logs for %d credentials", len(histories), len(logs.String()), len(secrets))
	})
}

// allHistories returns every event of every workflow execution in the
// namespace, in protobuf wire form, where strings and payloads appear as
// they are.
func allHistories(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range executions(t) {
		var events []byte
		it := tc.GetWorkflowHistory(context.Background(), e.GetWorkflowId(), e.GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, b...)
		}
		out = append(out, events)
	}
	return out
}

// executions lists every workflow execution of the namespace.
func executions(t *testing.T) []*commonpb.WorkflowExecution {
	t.Helper()
	var out []*commonpb.WorkflowExecution
	var token []byte
	for {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, e.GetExecution())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// rollbacksByCloud counts the Rollback activities that completed in the
// workflows of a release, by the cloud of their target.
func rollbacksByCloud(t *testing.T, release string) map[string]int {
	t.Helper()
	ctx := context.Background()
	counts := map[string]int{}
	for _, e := range executions(t) {
		if !strings.HasPrefix(e.GetWorkflowId(), release) {
			continue
		}
		scheduled := map[int64]string{} // event id → cloud of the rollback's target
		it := tc.GetWorkflowHistory(ctx, e.GetWorkflowId(), e.GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "Rollback" {
				var c workflows.Compensation
				if err := json.Unmarshal(a.GetInput().GetPayloads()[0].GetData(), &c); err != nil {
					t.Fatal(err)
				}
				scheduled[ev.GetEventId()] = c.Target.Cloud
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
				if cloud, ok := scheduled[a.GetScheduledEventId()]; ok {
					counts[cloud]++
				}
			}
		}
	}
	return counts
}
