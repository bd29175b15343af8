// Package temporalconn holds the settings Meridian's commands use to reach a
// Temporal server, following the Temporal CLI's conventions through the
// SDK's envconfig: a TOML profile (--profile, TEMPORAL_PROFILE; file
// --config-file, TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml),
// overridden by environment variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
// TEMPORAL_API_KEY, TEMPORAL_TLS_*), overridden by flags (--address,
// --namespace, --tls-*). With nothing set it reaches `meridian dev` on
// 127.0.0.1:7233, namespace "default".
//
// The API key is read only from the profile or TEMPORAL_API_KEY (a flag would
// show in process listings) and is never printed: String reports only
// whether one is set.
package temporalconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"
)

// Defaults used when neither a profile, the environment nor a flag sets them.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// Flags are the connection flags of one command.
type Flags struct {
	Address    string
	Namespace  string
	Profile    string
	ConfigFile string

	TLS                        bool
	TLSCertPath                string
	TLSKeyPath                 string
	TLSCAPath                  string
	TLSServerName              string
	TLSDisableHostVerification bool

	// env replaces the process environment in tests.
	env envconfig.EnvLookup
}

// AddFlags registers the connection flags on cmd and returns where they land.
func AddFlags(cmd *cobra.Command) *Flags {
	f := &Flags{}
	fs := cmd.Flags()
	fs.StringVar(&f.Address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS; default "+DefaultAddress+")")
	fs.StringVarP(&f.Namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE; default "+DefaultNamespace+")")
	fs.StringVar(&f.Profile, "profile", "", "profile in the Temporal client config file (env TEMPORAL_PROFILE)")
	fs.StringVar(&f.ConfigFile, "config-file", "", "Temporal client config file (env TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)")
	fs.BoolVar(&f.TLS, "tls", false, "connect with TLS (implied by an API key or any --tls-* file; env TEMPORAL_TLS)")
	fs.StringVar(&f.TLSCertPath, "tls-cert-path", "", "client certificate for mTLS (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	fs.StringVar(&f.TLSKeyPath, "tls-key-path", "", "client private key for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	fs.StringVar(&f.TLSCAPath, "tls-ca-path", "", "CA certificate that signs the server's (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	fs.StringVar(&f.TLSServerName, "tls-server-name", "", "server name to verify the certificate against (env TEMPORAL_TLS_SERVER_NAME)")
	fs.BoolVar(&f.TLSDisableHostVerification, "tls-disable-host-verification", false, "skip verifying the server's host name (env TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	return f
}

// profile resolves the settings: profile file, then environment, then flags,
// then defaults.
func (f *Flags) profile() (envconfig.ClientConfigProfile, error) {
	env := f.env
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	p, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath:    f.ConfigFile,
		ConfigFileProfile: f.Profile,
		EnvLookup:         env,
	})
	if err != nil {
		return p, fmt.Errorf("temporal connection settings: %w", err)
	}
	p.Address = cmp.Or(f.Address, p.Address, DefaultAddress)
	p.Namespace = cmp.Or(f.Namespace, p.Namespace, DefaultNamespace)
	if f.TLS || f.TLSCertPath != "" || f.TLSKeyPath != "" || f.TLSCAPath != "" || f.TLSServerName != "" || f.TLSDisableHostVerification {
		if p.TLS == nil {
			p.TLS = &envconfig.ClientConfigTLS{}
		}
		p.TLS.Disabled = false
		p.TLS.ClientCertPath = cmp.Or(f.TLSCertPath, p.TLS.ClientCertPath)
		p.TLS.ClientKeyPath = cmp.Or(f.TLSKeyPath, p.TLS.ClientKeyPath)
		p.TLS.ServerCACertPath = cmp.Or(f.TLSCAPath, p.TLS.ServerCACertPath)
		p.TLS.ServerName = cmp.Or(f.TLSServerName, p.TLS.ServerName)
		p.TLS.DisableHostVerification = p.TLS.DisableHostVerification || f.TLSDisableHostVerification
	}
	return p, nil
}

// Options returns the SDK client options the settings describe. logger
// receives the SDK's logs; nil keeps warnings and errors on stderr.
func (f *Flags) Options(logger *slog.Logger) (client.Options, error) {
	p, err := f.profile()
	if err != nil {
		return client.Options{}, err
	}
	opts, err := p.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	opts.Logger = sdklog.NewStructuredLogger(logger)
	return opts, nil
}

// Dial connects to the Temporal server with these settings. Its error says
// where it could not connect and why, in one line.
func (f *Flags) Dial(ctx context.Context, logger *slog.Logger) (client.Client, error) {
	opts, err := f.Options(logger)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, opts)
}

// Dial connects with options already resolved by Flags.Options, for a
// caller that also needs them (the namespace); its error is Flags.Dial's.
func Dial(ctx context.Context, opts client.Options) (client.Client, error) {
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %s", opts.HostPort, opts.Namespace, dialCause(err))
	}
	// A namespace the server lacks would otherwise surface later, as a
	// worker's pollers failing or every call's "not found".
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: opts.Namespace})
	cancel()
	var missing *serviceerror.NamespaceNotFound
	if errors.As(err, &missing) {
		c.Close()
		return nil, fmt.Errorf("namespace %s does not exist at %s: give --namespace (or TEMPORAL_NAMESPACE) of one that does", opts.Namespace, opts.HostPort)
	}
	return c, nil
}

// String describes the settings for a log line, without secrets.
func (f *Flags) String() string {
	p, err := f.profile()
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("%s namespace %s", p.Address, p.Namespace)
	// envconfig turns TLS on for an API key unless a profile disables it.
	if p.TLS != nil && !p.TLS.Disabled || p.TLS == nil && p.APIKey != "" {
		s += " (tls)"
	}
	if p.APIKey != "" {
		s += " (api key)"
	}
	return s
}

// dialCause says why a dial failed without gRPC's wrapping: "connection
// refused", not `failed reaching server: connection error: desc =
// "transport: Error while dialing: dial tcp …: connect: connection refused"`.
func dialCause(err error) string {
	msg := strings.TrimPrefix(err.Error(), "failed reaching server: ")
	if _, desc, ok := strings.Cut(msg, `desc = "`); ok {
		msg = strings.TrimSuffix(desc, `"`)
	}
	switch {
	case strings.Contains(msg, "connection refused"):
		return "connection refused (no server listens there; meridian dev runs one)"
	case strings.Contains(msg, "no children to pick from"), strings.Contains(msg, "no such host"):
		return "the host name does not resolve"
	case strings.Contains(msg, "deadline exceeded"):
		return "no answer in time (is it a Temporal frontend?)"
	case strings.Contains(msg, "HTTP/1.1"):
		return "an HTTP server answers there, not a Temporal frontend (a Web UI port?)"
	case strings.Contains(msg, "does not look like a TLS handshake"):
		return "the server does not speak TLS, and the connection asks for it"
	}
	return strings.TrimPrefix(strings.TrimPrefix(msg, "transport: "), "Error while dialing: ")
}
