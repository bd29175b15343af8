package temporalconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/workflows/devserver"
)

// mapEnv is an environment for envconfig.
type mapEnv map[string]string

func (m mapEnv) Environ() []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func (m mapEnv) LookupEnv(k string) (string, bool) { v, ok := m[k]; return v, ok }

const profiles = `
[profile.default]
address = "default.example:7233"

[profile.cloud]
address = "meridian.a1b2c.tmprl.cloud:7233"
namespace = "meridian.a1b2c"
api_key = "s3cret-key"
`

// parse runs args through a command with the flags, as the CLI does.
func parse(t *testing.T, env mapEnv, args ...string) *Flags {
	t.Helper()
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	f := AddFlags(cmd)
	f.env = env
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := writeCert(t, dir)
	noFile := filepath.Join(dir, "none.toml")

	for _, tc := range []struct {
		name  string
		env   mapEnv
		args  []string
		check func(t *testing.T, o client.Options)
	}{
		{"defaults", mapEnv{"TEMPORAL_CONFIG_FILE": noFile}, nil, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, DefaultAddress)
			want(t, o.Namespace, DefaultNamespace)
			if o.ConnectionOptions.TLS != nil || o.Credentials != nil {
				t.Error("plain local connection expected")
			}
		}},
		{"environment", mapEnv{"TEMPORAL_CONFIG_FILE": noFile, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "env-ns"}, nil, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, "env.example:7233")
			want(t, o.Namespace, "env-ns")
		}},
		{"flags over environment", mapEnv{"TEMPORAL_CONFIG_FILE": noFile, "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "env-ns"}, []string{"--address", "flag.example:7233", "-n", "flag-ns"}, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, "flag.example:7233")
			want(t, o.Namespace, "flag-ns")
		}},
		{"default profile from file", mapEnv{"TEMPORAL_CONFIG_FILE": file}, nil, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, "default.example:7233")
			want(t, o.Namespace, DefaultNamespace)
		}},
		{"profile flag: api key implies tls", mapEnv{}, []string{"--config-file", file, "--profile", "cloud"}, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, "meridian.a1b2c.tmprl.cloud:7233")
			want(t, o.Namespace, "meridian.a1b2c")
			if o.Credentials == nil || o.ConnectionOptions.TLS == nil {
				t.Error("api key credentials over TLS expected")
			}
		}},
		{"profile from env, address from env", mapEnv{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_ADDRESS": "other:7233"}, nil, func(t *testing.T, o client.Options) {
			want(t, o.HostPort, "other:7233")
			want(t, o.Namespace, "meridian.a1b2c")
		}},
		{"api key from env", mapEnv{"TEMPORAL_CONFIG_FILE": noFile, "TEMPORAL_API_KEY": "k"}, nil, func(t *testing.T, o client.Options) {
			if o.Credentials == nil || o.ConnectionOptions.TLS == nil {
				t.Error("api key credentials over TLS expected")
			}
		}},
		{"mtls flags", mapEnv{"TEMPORAL_CONFIG_FILE": noFile}, []string{"--tls-cert-path", certPath, "--tls-key-path", keyPath, "--tls-ca-path", certPath, "--tls-server-name", "temporal.internal"}, func(t *testing.T, o client.Options) {
			tls := o.ConnectionOptions.TLS
			if tls == nil || len(tls.Certificates) != 1 || tls.RootCAs == nil {
				t.Fatalf("TLS with a client certificate and a CA pool expected, got %+v", tls)
			}
			want(t, tls.ServerName, "temporal.internal")
		}},
		{"tls env", mapEnv{"TEMPORAL_CONFIG_FILE": noFile, "TEMPORAL_TLS": "true", "TEMPORAL_TLS_SERVER_NAME": "env.internal"}, nil, func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS == nil {
				t.Fatal("TLS expected")
			}
			want(t, o.ConnectionOptions.TLS.ServerName, "env.internal")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.env, tc.args...).Options(nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	certPath, _ := writeCert(t, dir)
	for _, tc := range []struct {
		name string
		env  mapEnv
		args []string
		want string
	}{
		{"unknown profile", mapEnv{"TEMPORAL_CONFIG_FILE": file}, []string{"--profile", "nope"}, "unable to find profile nope"},
		{"cert without key", mapEnv{"TEMPORAL_CONFIG_FILE": file}, []string{"--tls-cert-path", certPath}, "other must be present too"},
		{"missing ca", mapEnv{"TEMPORAL_CONFIG_FILE": file}, []string{"--tls-ca-path", filepath.Join(dir, "missing.pem")}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.env, tc.args...).Options(nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestStringHidesAPIKey(t *testing.T) {
	f := parse(t, mapEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "TEMPORAL_API_KEY": "s3cret-key", "TEMPORAL_ADDRESS": "x:7233"})
	s := f.String()
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "x:7233") || !strings.Contains(s, "api key") {
		t.Errorf("String() = %q", s)
	}
}

func TestDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{NoUI: true, Namespace: "meridian"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	noFile := filepath.Join(t.TempDir(), "none.toml")

	c, err := parse(t, mapEnv{"TEMPORAL_CONFIG_FILE": noFile, "TEMPORAL_ADDRESS": s.Address()}, "--namespace", "meridian").Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Error(err)
	}
	c.Close()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	_, err = parse(t, mapEnv{"TEMPORAL_CONFIG_FILE": noFile}, "--address", addr).Dial(short, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach Temporal at "+addr) {
		t.Errorf("dial to a closed port: %v", err)
	}
}

func want(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "temporal.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
