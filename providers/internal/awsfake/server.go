// Package awsfake is a stateful fake of the AWS services Meridian's AWS
// drivers call: ECS (awsJson1.1), AppConfig (restJson1), CloudWatch
// (Smithy RPC v2 CBOR), Secrets Manager's GetSecretValue (awsJson1.1),
// STS AssumeRole (awsQuery) for role credentials, and EKS's
// DescribeCluster (restJson1) with STS GetCallerIdentity presigned as EKS
// tokens are (eks.go). One Server on 127.0.0.1
// answers them all on the real wire protocols, so the real SDK clients
// drive it over real HTTP. Secrets are per region, like Secrets
// Manager's, and no secret value is kept in the request log (Saw).
//
// It models rollouts over calls rather than time, to keep tests fast and
// deterministic: every DescribeServices call moves an ECS deployment one
// task forward (IN_PROGRESS → COMPLETED, or a tripped circuit breaker →
// FAILED for an image told to fail), every AppConfig GetDeployment or
// ListDeployments call moves a deployment one step (DEPLOYING → BAKING →
// COMPLETE, or ROLLED_BACK), and alarms change state when told or follow a
// queue of states, one per DescribeAlarms call. Any request can be made to
// fail with a given error code (ThrottlingException, AccessDeniedException,
// …) in the protocol's own error shape.
package awsfake

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Fake credentials every test client signs with. They are not secret; tests
// use them to prove that no credential leaks into errors or results.
const (
	AccessKeyID     = "AKIAFAKEMERIDIAN0001"
	SecretAccessKey = "fake/secret/3yD9kQ2vLx7pWm4Zr8NtBc1Hs6Ju0Ga5"
)

// Account is the account id in every ARN the fake makes.
const Account = "123456789012"

// Server is the fake. Its zero value is not usable: call New.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	failNext []string        // error codes the next requests get, in order
	stalls   []time.Duration // the next requests are held this long, then cut
	requests []string        // every request seen: method, path, headers, body
	keys     []string        // access key ids from SigV4 Authorization headers
	roles    []string        // role ARNs assumed through STS
	regions  []string        // regions of the SigV4 scopes
	ecs      ecsState        // ECS clusters, services, task definitions
	ac       acState         // AppConfig applications and deployments
	cw       cwState         // CloudWatch alarms and metrics
	sm       smState         // Secrets Manager secrets
	eks      eksState        // EKS clusters and the secrets STS verifies presigned requests with
}

// New starts a fake on 127.0.0.1. Close it when done.
func New() *Server {
	s := &Server{}
	s.ecs.init()
	s.ac.init()
	s.cw.init()
	s.sm.init()
	s.eks.init()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the fake's base endpoint (http://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Config returns an SDK configuration aimed at the fake: its URL as the base
// endpoint, the fake static credentials, and a retryer that retries
// throttling like the default one but with millisecond backoff.
func (s *Server) Config(region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   s.srv.Client(),
		Retryer:      FastRetryer,
	}
}

// FastRetryer is the SDK's standard retryer (same retryable and throttling
// codes, 5 attempts) with a 1 ms backoff, for tests.
func FastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 5
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

// Throttle makes the next n requests fail with the service's throttling error.
func (s *Server) Throttle(n int) { s.FailNext(n, "ThrottlingException") }

// FailNext makes the next n requests, whatever their service, fail with the
// AWS error code (AccessDeniedException, ThrottlingException,
// InternalServerException, …) in the protocol's error shape.
func (s *Server) FailNext(n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, code)
	}
}

// Stall makes the next n requests hang for d, then drops their
// connections without an answer: a request that times out.
func (s *Server) Stall(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.stalls = append(s.stalls, d)
	}
}

// AccessKeys returns the access key ids the requests were signed with.
func (s *Server) AccessKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// Saw reports whether text appeared anywhere in a request the fake received
// (method, path, query, headers or body).
func (s *Server) Saw(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if strings.Contains(r, text) {
			return true
		}
	}
	return false
}

// apiError is an AWS error answer.
type apiError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// statusOf is the HTTP status AWS REST services answer an error code with;
// RPC protocols answer client errors with 400 whatever the code.
func statusOf(code string) int {
	switch code {
	case "ThrottlingException", "TooManyRequestsException":
		return http.StatusTooManyRequests
	case "AccessDeniedException":
		return http.StatusForbidden
	case "ResourceNotFoundException":
		return http.StatusNotFound
	case "ConflictException":
		return http.StatusConflict
	case "InternalServerException", "ServerException":
		return http.StatusInternalServerError
	case "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	var stall time.Duration
	if len(s.stalls) > 0 {
		stall, s.stalls = s.stalls[0], s.stalls[1:]
	}
	s.mu.Unlock()
	if stall > 0 {
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	var proto protocol
	switch {
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), ecsTargetPrefix):
		proto = ecsProtocol{s}
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), smTargetPrefix):
		proto = smProtocol{s}
	case strings.HasPrefix(r.URL.Path, cwPathPrefix):
		proto = cwProtocol{s}
	case strings.HasPrefix(r.URL.Path, eksPathPrefix):
		proto = eksProtocol{s}
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		proto = stsProtocol{s}
	default:
		proto = acProtocol{s}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, body)
	if isPresignedCallerIdentity(r) {
		stsProtocol{s}.callerIdentity(w, r) // signed in its query
		return
	}
	if r.Header.Get("Authorization") == "" {
		proto.writeError(w, errorf(http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"))
		return
	}
	if len(s.failNext) > 0 {
		code := s.failNext[0]
		s.failNext = s.failNext[1:]
		proto.writeError(w, errorf(statusOf(code), code, "injected "+code))
		return
	}
	proto.serve(w, r, body)
}

// protocol is one AWS wire protocol: it serves a request and writes errors
// in its own shape.
type protocol interface {
	serve(w http.ResponseWriter, r *http.Request, body []byte)
	writeError(w http.ResponseWriter, e *apiError)
}

// record keeps the request for Saw and its signing key for AccessKeys.
func (s *Server) record(r *http.Request, body []byte) {
	var b bytes.Buffer
	b.WriteString(r.Method + " " + r.URL.String() + "\n")
	r.Header.Write(&b)
	b.Write(body)
	s.requests = append(s.requests, b.String())
	s.regions = append(s.regions, region(r))
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, …
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if key, _, ok := strings.Cut(cred, "/"); ok {
			s.keys = append(s.keys, key)
		}
	}
}

// arn makes an ARN in the partition of region.
func arn(service, region, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", partition(region), service, region, Account, resource)
}

// partition is the partition of region.
func partition(region string) string {
	for prefix, p := range map[string]string{"us-gov-": "aws-us-gov", "cn-": "aws-cn", "eusc-": "aws-eusc"} {
		if strings.HasPrefix(region, prefix) {
			return p
		}
	}
	return "aws"
}

// Regions returns the regions requests were signed for, in order.
func (s *Server) Regions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.regions...)
}

// region is the region the request was signed for (from the SigV4 scope).
func region(r *http.Request) string {
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if parts := strings.Split(cred, "/"); len(parts) > 2 {
			return parts[2]
		}
	}
	return "us-east-1"
}
