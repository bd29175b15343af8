// Package gcpfake runs in-process fakes of the Google Cloud APIs Meridian's
// GCP drivers call: Cloud Run Admin v2 (services, revisions and their
// long-running operations), Cloud Monitoring v3 (alert policies and time
// series), Secret Manager v1 (secret versions, read with
// AccessSecretVersion) and GKE's GetCluster (gke.go). It is a real gRPC server on 127.0.0.1 implementing the services'
// generated server interfaces, so the drivers' real SDK clients talk to it
// over the wire.
//
// The fakes are stateful: an update with a new template creates a revision,
// the revision becomes ready (or fails, for an image told to fail) after a
// few reads, the update's operation completes with it, and alert policies
// fire from the time series written for them. Any call can be throttled.
package gcpfake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"

	"cloud.google.com/go/container/apiv1/containerpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultReadyAfter is how many reads a new revision (or an operation without
// one) takes to settle, unless Server.SetReadyAfter says otherwise.
const DefaultReadyAfter = 3

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	lis  net.Listener
	grpc *grpc.Server
	tls  *x509.CertPool // trusts the server's certificate; nil for plaintext

	mu         sync.Mutex
	throttle   int
	calls      map[string]int
	bearers    map[string]bool // access tokens seen in authorization headers
	readyAfter int
	clock      int64 // logical clock for creation order
	run        runState
	monitoring monitoringState
	secrets    secretState
	gke        map[string]gkeCluster // GKE clusters by resource name
}

// Start listens on 127.0.0.1 on a free port and serves the fakes in
// plaintext, for clients without credentials.
func Start() (*Server, error) { return start(false) }

// StartTLS is Start over TLS with a self-signed certificate, for clients
// that send an access token (TokenClientOptions): gRPC sends per-call
// credentials only over a secure transport.
func StartTLS() (*Server, error) { return start(true) }

func start(secure bool) (*Server, error) {
	s := &Server{
		calls:      map[string]int{},
		bearers:    map[string]bool{},
		readyAfter: DefaultReadyAfter,
		run:        newRunState(),
		monitoring: newMonitoringState(),
		secrets:    newSecretState(),
		gke:        map[string]gkeCluster{},
	}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(s.intercept)}
	if secure {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.tls = pool
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.lis = lis
	s.grpc = grpc.NewServer(opts...)
	// The handlers run with s.mu held (see intercept).
	runpb.RegisterServicesServer(s.grpc, &services{s: s})
	runpb.RegisterRevisionsServer(s.grpc, &revisions{s: s})
	longrunningpb.RegisterOperationsServer(s.grpc, &operations{s: s})
	monitoringpb.RegisterAlertPolicyServiceServer(s.grpc, &alertPolicies{s: s})
	monitoringpb.RegisterMetricServiceServer(s.grpc, &metrics{s: s})
	secretmanagerpb.RegisterSecretManagerServiceServer(s.grpc, &secretManager{s: s})
	containerpb.RegisterClusterManagerServer(s.grpc, &clusterManager{s: s})
	go s.grpc.Serve(lis) //nolint:errcheck // Serve returns when Close stops it
	return s, nil
}

// Addr is the host:port the fake listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// ClientOptions point a Google Cloud client at the fake: its endpoint, no
// authentication, and a plaintext (or, after StartTLS, TLS) connection.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.Addr()), option.WithoutAuthentication(), s.transport()}
}

// TokenClientOptions point a Google Cloud client at a fake started with
// StartTLS, authenticating with a static access token the way Application
// Default Credentials would with a real one.
func (s *Server) TokenClientOptions(token string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr()),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})),
		s.transport(),
	}
}

func (s *Server) transport() option.ClientOption {
	if s.tls == nil {
		return option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.tls})))
}

// SawToken reports whether a call carried token as its bearer access token.
func (s *Server) SawToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bearers[token]
}

// Close stops the server.
func (s *Server) Close() { s.grpc.Stop() }

// Throttle makes the next n calls fail with RESOURCE_EXHAUSTED, the way
// Google Cloud answers a caller over its quota.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// SetReadyAfter sets how many reads a new revision or operation takes to settle.
func (s *Server) SetReadyAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readyAfter = max(n, 1)
}

// Calls reports how many times a method was called, throttled calls
// included; method is the gRPC full method name
// ("/google.cloud.run.v2.Services/UpdateService").
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// intercept counts every call and its bearer token, throttles it when told
// to, and otherwise handles it with s.mu held: the handlers run one at a
// time and must not take s.mu themselves.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[info.FullMethod]++
	for _, a := range md.Get("authorization") {
		if token, ok := strings.CutPrefix(a, "Bearer "); ok {
			s.bearers[token] = true
		}
	}
	if s.throttle > 0 {
		s.throttle--
		return nil, status.Error(codes.ResourceExhausted, "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'")
	}
	return handler(ctx, req)
}

// tick advances the logical clock; call with s.mu held.
func (s *Server) tick() int64 {
	s.clock++
	return s.clock
}
