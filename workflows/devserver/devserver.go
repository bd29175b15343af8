// Package devserver runs Meridian's embedded Temporal: a complete Temporal
// server (frontend, history, matching and worker services) on SQLite, and the
// Temporal Web UI, in the calling process, bound to 127.0.0.1 only.
//
// State lives in one SQLite file, so a process started again on the same
// file resumes the workflows that were running; with no file the state is in
// memory and lost on Stop. The namespace is created at first start with a
// retention long enough to inspect past releases, and Meridian's search
// attributes are registered on every start, as is the Web UI's URL, in the
// namespace's data under UIURLKey, where clients find where to link to.
//
// It follows the Temporal CLI's dev server (temporalio/cli internal/devserver,
// MIT), reduced to what Meridian needs.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// host is the only address the embedded server and the UI listen on.
const host = "127.0.0.1"

// Defaults applied by Start to zero Options fields.
const (
	DefaultNamespace = "default"
	DefaultRetention = 7 * 24 * time.Hour
)

// UIURLKey is the key of the namespace data entry that holds the base URL
// of the namespace's Web UI. Start sets it; on another server an operator
// may (temporal operator namespace update --data meridian.ui-url=URL).
const UIURLKey = "meridian.ui-url"

// Options configure Start. The zero value is an in-memory server with the
// Web UI on free ports.
type Options struct {
	// DBFile is the SQLite file that holds the server's state; it and its
	// directory are created if missing. "" keeps the state in memory.
	DBFile string
	// Port is the gRPC frontend port; 0 picks a free one.
	Port int
	// UIPort is the Web UI port; 0 picks a free one.
	UIPort int
	// NoUI runs the server without the Web UI.
	NoUI bool
	// Namespace to create (DefaultNamespace if empty).
	Namespace string
	// Retention of closed workflows in a newly created namespace
	// (DefaultRetention if zero).
	Retention time.Duration
	// SearchAttributes are registered in the namespace. SQLite visibility
	// holds at most 10 custom Keyword attributes (3 of each other type).
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	temporal  temporal.Server
	ui        *uiserver.Server
	address   string
	uiURL     string
	namespace string
}

// Start runs the server and returns once it accepts clients, the namespace
// exists and the search attributes are registered. Errors are one line that
// says what to change (a port in use, a database path that cannot be written).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if !opts.NoUI && opts.Port != 0 && opts.Port == opts.UIPort {
		return nil, fmt.Errorf("the gRPC and Web UI ports are both %d: give each its own", opts.Port)
	}
	// Every port is held until all are chosen, so that no two are the same.
	ps := &ports{}
	defer ps.release()
	port, err := ps.claim(opts.Port, "gRPC")
	if err != nil {
		return nil, err
	}
	uiPort := 0
	if !opts.NoUI {
		if uiPort, err = ps.claim(opts.UIPort, "Web UI"); err != nil {
			return nil, err
		}
	}
	sqlConf, err := openDatabase(opts.DBFile)
	if err != nil {
		return nil, err
	}
	if err := createNamespace(sqlConf, opts); err != nil {
		return nil, err
	}

	s := &Server{address: net.JoinHostPort(host, strconv.Itoa(port)), namespace: opts.Namespace}
	internal := map[primitives.ServiceName]int{}
	for _, name := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		if internal[name], err = ps.claim(0, string(name)); err != nil {
			return nil, err
		}
	}
	ps.release() // the server and the UI bind them from here on
	s.temporal, err = newTemporal(s.address, internal, sqlConf, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("embedded temporal: %w", err)
	}
	if err := s.temporal.Start(); err != nil {
		return nil, fmt.Errorf("embedded temporal: %w", err)
	}
	if !opts.NoUI {
		s.startUI(uiPort, opts.Logger)
	}
	if err := s.registerNamespace(ctx, opts.SearchAttributes); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Address is the gRPC frontend's host:port.
func (s *Server) Address() string { return s.address }

// Namespace is the namespace the server created.
func (s *Server) Namespace() string { return s.namespace }

// UIURL is the Web UI's base URL, "" when the UI is off.
func (s *Server) UIURL() string { return s.uiURL }

// Stop shuts the UI and the server down; state in a DBFile is kept.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.temporal.Stop()
}

// ports are the ports Start has chosen, each held by a listener on
// 127.0.0.1 until release, so that a port chosen as free (0) is never
// chosen twice; the server and the UI bind them themselves afterwards.
type ports struct{ held []net.Listener }

// claim checks that port (or a free one when 0) can be listened on and
// holds it; it returns the port.
func (ps *ports) claim(port int, what string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return 0, fmt.Errorf("%s port %d on %s is already in use (another meridian dev or Temporal server?); choose another port", what, port, host)
		}
		return 0, fmt.Errorf("%s port %d: %w", what, port, err)
	}
	ps.held = append(ps.held, l)
	return l.Addr().(*net.TCPAddr).Port, nil
}

// release closes the listeners (again: it is idempotent).
func (ps *ports) release() {
	for _, l := range ps.held {
		_ = l.Close()
	}
	ps.held = nil
}

// openDatabase returns the SQLite settings for file, creating the file and
// its schema on first use.
func openDatabase(file string) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if file == "" {
		conf.ConnectAttributes["mode"] = "memory"
		conf.ConnectAttributes["cache"] = "shared"
		// Each in-memory server in a process needs its own shared-cache
		// database; the SQLite plugin creates its schema on first use.
		conf.DatabaseName = "meridian-" + strconv.FormatUint(rand.Uint64(), 36)
		return conf, nil
	}
	conf.ConnectAttributes["mode"] = "rwc"
	conf.DatabaseName = file
	if f, err := os.OpenFile(file, os.O_RDWR, 0); err == nil {
		f.Close()
		return conf, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("database %s cannot be opened for writing: %w", file, unwrapPathError(err))
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, fmt.Errorf("database %s: cannot create its directory: %w", file, unwrapPathError(err))
	}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		os.Remove(file)
		return nil, fmt.Errorf("database %s cannot be created: %w", file, err)
	}
	return conf, nil
}

// unwrapPathError drops the path and operation that the message already names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// clusterName is the embedded server's one cluster.
const clusterName = "active"

// createNamespace creates the namespace in the database unless it exists.
func createNamespace(sqlConf *config.SQL, opts Options) error {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(opts.Retention)
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}
	return nil
}

// newTemporal builds a single-process server: the frontend on address, the
// other services on the loopback ports internal names, found through
// static membership.
func newTemporal(address string, internal map[primitives.ServiceName]int, sqlConf *config.SQL, logger *slog.Logger) (temporal.Server, error) {
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence = config.Persistence{
		DefaultStore:     "sqlite",
		VisibilityStore:  "sqlite",
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{"sqlite": {SQL: sqlConf}},
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: address},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = address

	conf.Services = map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, name := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		addr := address
		if name != primitives.FrontendService {
			addr = net.JoinHostPort(host, strconv.Itoa(internal[name]))
		}
		_, port, _ := net.SplitHostPort(addr)
		grpcPort, _ := strconv.Atoi(port)
		conf.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: grpcPort, BindOnIP: host}}
		hosts[name] = static.SingleLocalHost(addr)
	}

	log := newLogger(logger)
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, log)
	if err != nil {
		return nil, err
	}
	return temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(log),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// A laptop fleet lists and counts releases often.
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		}),
	)
}

// startUI serves the Web UI from ui-server's embedded assets.
func (s *Server) startUI(port int, logger *slog.Logger) {
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.address,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
	}))
	s.uiURL = fmt.Sprintf("http://%s", net.JoinHostPort(host, strconv.Itoa(port)))
	go func() {
		// Start blocks until Stop; the port was checked free just before.
		if err := s.ui.Start(); err != nil && logger != nil {
			logger.Error("web ui stopped", "error", err)
		}
	}()
}

// registerNamespace waits until the frontend answers, then adds any of
// attrs the namespace lacks (a database created by an older Meridian) and
// records this start's Web UI URL in its data.
func (s *Server) registerNamespace(ctx context.Context, attrs map[string]enumspb.IndexedValueType) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.address, Namespace: s.namespace, Logger: quietSDKLogger{}})
	if err != nil {
		return fmt.Errorf("embedded temporal did not start: %w", err)
	}
	defer c.Close()
	if err := searchattr.Register(ctx, c.OperatorService(), s.namespace, attrs); err != nil {
		return fmt.Errorf("embedded temporal: %w", err)
	}
	if s.uiURL == "" {
		return nil
	}
	_, err = c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace:  s.namespace,
		UpdateInfo: &namespacepb.UpdateNamespaceInfo{Data: map[string]string{UIURLKey: s.uiURL}},
	})
	if err != nil {
		return fmt.Errorf("embedded temporal: namespace %s: %w", s.namespace, err)
	}
	return nil
}
