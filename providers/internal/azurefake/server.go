// Package azurefake is a stateful fake of the Azure services Meridian's
// Azure drivers call, served over TLS on 127.0.0.1 so the real SDK clients
// drive it over real HTTP: Azure Resource Manager for Container Apps
// (apps, revisions, traffic, long-running operations polled through
// Azure-AsyncOperation and Location) and Azure Monitor (metric alerts and
// their status, metric values), the App Configuration data plane (key
// values with labels, ETags, If-Match and If-None-Match, and the Sync-Token
// header the SDK requires on every response), and Key Vault's secrets
// (versions, and the authentication challenge of its SDK), and AKS's
// listClusterUserCredential (aks.go).
//
// It models progress over calls rather than time, to keep tests fast and
// deterministic: every read of a revision moves it one step (Provisioning →
// Provisioned with one more replica … → Running and Healthy), or, for an
// image told to fail, to Failed and Unhealthy with a provisioning error;
// every long-running operation answers InProgress once before Succeeded
// (or, when told, Failed with an error, having changed nothing).
// Every request must carry the fake credential's token; any request can be
// throttled with 429, Retry-After and Retry-After-Ms.
package azurefake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Token is the access token Credential hands out and the fake demands. It
// is not secret; tests use it to prove that no token leaks into errors or
// results.
const Token = "eyFAKE.meridian-azure-token.c2VjcmV0LXRva2Vu"

// Audience is the Resource Manager token audience of the fake's cloud.
const Audience = "https://management.fake.meridian.test"

// Subscription is a subscription id tests use.
const Subscription = "00000000-0000-0000-0000-00000000feed"

// Credential is an azcore.TokenCredential that returns Token and records
// the scopes it was asked for.
type Credential struct {
	mu     sync.Mutex
	scopes []string
}

// GetToken returns Token, or AKSToken for AKSScope.
func (c *Credential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, opts.Scopes...)
	if len(opts.Scopes) == 1 && opts.Scopes[0] == AKSScope {
		return azcore.AccessToken{Token: AKSToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
	}
	return azcore.AccessToken{Token: Token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Scopes returns every scope a token was requested for, in order.
func (c *Credential) Scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.scopes...)
}

// Server is the fake. Its zero value is not usable: call New.
type Server struct {
	srv *httptest.Server

	mu           sync.Mutex
	throttle     int           // how many of the next requests get 429
	retryAfter   time.Duration // what a 429 asks to wait
	locationOnly bool          // updates answer with Location, not Azure-AsyncOperation
	failUpdate   *apiError     // how the next app update's operation ends
	requests     []string      // method and path of every request
	apps         map[string]*app
	ops          map[string]*operation
	failImage    map[string]bool
	alerts       map[string]*alert
	metrics      map[string]*float64
	kv           map[string]*keyValue
	vault        map[string]*kvSecret  // Key Vault secrets by host/name
	aks          map[string]aksCluster // AKS clusters by lower-case resource id
	syncTokens   []string              // Sync-Token headers clients sent
	seq          int                   // sequence of changes: ETags, operation ids, sync tokens
}

// New starts a fake on 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{
		apps:      map[string]*app{},
		ops:       map[string]*operation{},
		failImage: map[string]bool{},
		alerts:    map[string]*alert{},
		metrics:   map[string]*float64{},
		kv:        map[string]*keyValue{},
		vault:     map[string]*kvSecret{},
		aks:       map[string]aksCluster{},
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the fake's base endpoint (https://127.0.0.1:port), serving both
// Resource Manager and the App Configuration data plane.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Cloud is a cloud configuration whose Resource Manager is the fake.
func (s *Server) Cloud() cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: "https://login.fake.meridian.test/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.URL(), Audience: Audience},
		},
	}
}

// ClientOptions aim an SDK client at the fake: its cloud, a transport that
// trusts its TLS certificate, and retries with millisecond delays.
func (s *Server) ClientOptions() policy.ClientOptions {
	return policy.ClientOptions{
		Cloud:     s.Cloud(),
		Transport: s.srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: 4, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond},
	}
}

// Throttle makes the next n requests fail with 429 Too Many Requests,
// asking the client to retry after a millisecond.
func (s *Server) Throttle(n int) { s.ThrottleFor(n, time.Millisecond) }

// ThrottleFor makes the next n requests fail with 429 Too Many Requests,
// asking the client to wait retryAfter: Retry-After in whole seconds as
// Resource Manager sends it, and the precise Retry-After-Ms (as App
// Configuration sends it), which azcore prefers.
func (s *Server) ThrottleFor(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, retryAfter
}

// Requests returns "METHOD path" for every request served, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	keyVault := strings.HasPrefix(r.URL.Path, "/secrets/")
	dataPlane := !keyVault && !strings.HasPrefix(r.URL.Path, "/subscriptions/") && !strings.Contains(r.URL.Path, "/providers/")
	if keyVault && r.Header.Get("Authorization") == "" {
		s.challenge(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		s.writeError(w, dataPlane, http.StatusUnauthorized, "InvalidAuthenticationToken", "the access token is missing or invalid")
		return
	}
	if s.throttle > 0 {
		s.throttle--
		w.Header().Set("Retry-After", fmt.Sprint(int((s.retryAfter+time.Second-1)/time.Second)))
		w.Header().Set("Retry-After-Ms", fmt.Sprint(s.retryAfter.Milliseconds()))
		s.writeError(w, dataPlane, http.StatusTooManyRequests, "TooManyRequests", "the request is being throttled")
		return
	}
	switch {
	case keyVault:
		s.serveKeyVault(w, r)
		return
	case dataPlane:
		s.serveAppConfig(w, r, body)
		return
	}
	s.serveARM(w, r, body)
}

// apiError is an error answer: the HTTP status and ARM's code and message.
type apiError struct {
	status        int
	code, message string
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// writeError answers with ARM's error body, or App Configuration's problem
// document on the data plane.
func (s *Server) writeError(w http.ResponseWriter, dataPlane bool, status int, code, message string) {
	if dataPlane {
		s.syncToken(w)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"type": code, "title": message, "status": status})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// serveARM routes Resource Manager requests (paths are case-insensitive).
func (s *Server) serveARM(w http.ResponseWriter, r *http.Request, body []byte) {
	path := strings.ToLower(r.URL.Path)
	var (
		v   any
		st  = http.StatusOK
		err *apiError
	)
	switch {
	case strings.HasSuffix(path, "/providers/microsoft.insights/metrics"):
		v, err = s.listMetrics(strings.TrimSuffix(path, "/providers/microsoft.insights/metrics"), r.URL.Query())
	case strings.Contains(path, "/providers/microsoft.insights/metricalerts/"):
		v, err = s.serveAlert(r.Method, path)
	case strings.Contains(path, "/containerappoperationstatuses/"):
		v, err = s.operationStatus(path[strings.LastIndex(path, "/")+1:])
	case strings.Contains(path, "/containerappoperationresults/"):
		st, v, err = s.operationResult(w, path[strings.LastIndex(path, "/")+1:])
	case strings.Contains(path, "/providers/microsoft.app/containerapps/"):
		st, v, err = s.serveContainerApps(w, r, path, body)
	case strings.HasSuffix(path, "/providers/microsoft.app/containerapps") && r.Method == http.MethodGet:
		v, err = s.listApps(path)
	case strings.Contains(path, "/providers/microsoft.containerservice/managedclusters/") && strings.HasSuffix(path, "/listclusterusercredential"):
		v, err = s.listClusterUserCredential(r, path)
	default:
		err = errorf(http.StatusNotFound, "InvalidResourceType", "no route for %s %s", r.Method, r.URL.Path)
	}
	if err != nil {
		s.writeError(w, false, err.status, err.code, err.message)
		return
	}
	if v == nil {
		w.WriteHeader(st)
		return
	}
	writeJSON(w, st, v)
}

// next returns the next change sequence number.
func (s *Server) next() int {
	s.seq++
	return s.seq
}
