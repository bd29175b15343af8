// Package kubelocal runs a real Kubernetes control plane on this machine:
// etcd, kube-apiserver and kube-controller-manager, built from Go modules
// by `make kube` (the wrapper module providers/kubernetes/controlplane),
// every port on 127.0.0.1. Tests start one per package. Nothing in such a cluster runs pods by itself: package
// processnode is its node.
//
// The apiserver serves TLS with a certificate from a CA made here, checks
// bearer tokens from a static token file (Options.Tokens, plus an admin in
// system:masters) and, when Options.TokenWebhook is set, from a token
// review webhook (the cloud fakes' EKS, AKS and GKE tokens), and authorizes
// with RBAC. The controller manager runs the controllers a rollout needs:
// deployment, replicaset, statefulset, garbage collector, disruption, and
// the service account and namespace controllers that make namespaces
// usable.
package kubelocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Programs are the control plane's binaries, which Options.BinDir holds.
var Programs = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// Controllers are the controllers the controller manager runs.
var Controllers = []string{
	"deployment-controller", "replicaset-controller", "statefulset-controller",
	"garbage-collector-controller", "disruption-controller",
	"serviceaccount-controller", "namespace-controller",
}

// User is who a static token authenticates.
type User struct {
	Name   string
	Groups []string
}

// Options configure Start.
type Options struct {
	// Dir holds the cluster's certificates, etcd's data and the logs
	// (etcd.log, kube-apiserver.log, kube-controller-manager.log).
	Dir string
	// BinDir holds Programs (default: $MERIDIAN_KUBE_BIN, else bin/kube
	// in the nearest directory upward that has a go.mod).
	BinDir string
	// Tokens are static bearer tokens and the users they authenticate.
	Tokens map[string]User
	// TokenWebhook, when set, is a kubeconfig file naming a token review
	// webhook that authenticates the tokens Tokens does not.
	TokenWebhook string
	// Ready bounds how long the control plane may take to start (default 2m).
	Ready time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	// Host is the apiserver's URL, https://127.0.0.1:port.
	Host string
	// CA is the PEM certificate of the CA that signed the apiserver's.
	CA []byte
	// AdminToken authenticates a member of system:masters.
	AdminToken string

	dir   string
	procs []*exec.Cmd // in start order
}

// Start starts etcd, the apiserver and the controller manager and returns
// once the apiserver is ready and the controllers run (the default
// namespace has its service account). On error nothing is left running.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("kubelocal: Options.Dir is required")
	}
	if opts.Ready == 0 {
		opts.Ready = 2 * time.Minute
	}
	bin, err := binDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c = &Cluster{Host: "https://127.0.0.1:" + strconv.Itoa(ports[2]), dir: opts.Dir, AdminToken: randomToken()}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	pki, err := writePKI(filepath.Join(opts.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	c.CA = pki.caPEM
	tokens := map[string]User{c.AdminToken: {Name: "meridian-admin", Groups: []string{"system:masters"}}}
	for t, u := range opts.Tokens {
		tokens[t] = u
	}
	tokenFile := filepath.Join(opts.Dir, "tokens.csv")
	if err := writeTokens(tokenFile, tokens); err != nil {
		return nil, err
	}
	admin := filepath.Join(opts.Dir, "admin.kubeconfig")
	if err := c.WriteKubeconfig(admin, "admin", c.AdminToken); err != nil {
		return nil, err
	}

	etcd := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := c.start(bin, "etcd",
		"--name=meridian", "--data-dir="+filepath.Join(opts.Dir, "etcd"),
		"--listen-client-urls="+etcd, "--advertise-client-urls="+etcd,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=meridian="+peer, "--listen-metrics-urls=",
		"--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return nil, err
	}
	apiserver := []string{
		"--etcd-servers=" + etcd,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[2]),
		"--tls-cert-file=" + pki.cert, "--tls-private-key-file=" + pki.key,
		"--token-auth-file=" + tokenFile, "--anonymous-auth=false",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc", "--api-audiences=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.saPub, "--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		// No kubelets or kube-proxies run here: the apiserver must not
		// reconcile its own endpoints onto a network it cannot reach.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false", "--profiling=false",
	}
	if opts.TokenWebhook != "" {
		apiserver = append(apiserver, "--authentication-token-webhook-config-file="+opts.TokenWebhook,
			"--authentication-token-webhook-version=v1", "--authentication-token-webhook-cache-ttl=0s")
	}
	if err := c.start(bin, "kube-apiserver", apiserver...); err != nil {
		return nil, err
	}
	ready, cancel := context.WithTimeout(ctx, opts.Ready)
	defer cancel()
	cs, err := kubernetes.NewForConfig(c.Config(c.AdminToken))
	if err != nil {
		return nil, err
	}
	if err := c.await(ready, "the apiserver to be ready", func() (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ready)
		return err == nil && string(body) == "ok", nil
	}); err != nil {
		return nil, err
	}
	if err := c.start(bin, "kube-controller-manager",
		"--kubeconfig="+admin, "--authentication-kubeconfig="+admin, "--authorization-kubeconfig="+admin,
		"--controllers="+strings.Join(Controllers, ","),
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=false", "--concurrent-deployment-syncs=10",
		"--concurrent-statefulset-syncs=10", "--concurrent-replicaset-syncs=10",
		"--profiling=false"); err != nil {
		return nil, err
	}
	if err := c.await(ready, "the controllers to run (the default service account)", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ready, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Config returns a client configuration that authenticates with token.
func (c *Cluster) Config(token string) *rest.Config {
	return &rest.Config{Host: c.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.CA},
		QPS: 200, Burst: 400}
}

// WriteKubeconfig writes a kubeconfig file whose context name reaches
// the cluster with token.
func (c *Cluster) WriteKubeconfig(path, name, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CA}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}

// Stop stops the control plane, the controller manager first, and waits
// until every process has exited.
func (c *Cluster) Stop() {
	for _, cmd := range slices.Backward(c.procs) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	c.procs = nil
}

// start starts one program with its output in Dir/<program>.log.
func (c *Cluster) start(bin, program string, args ...string) error {
	log, err := os.Create(filepath.Join(c.dir, program+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(bin, program), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir}
	// Its own process group, so that a terminal's Ctrl-C reaches only the
	// caller, which stops the control plane in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kubelocal: starting %s: %w", program, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// await polls cond until it holds, failing with the last lines of the
// newest program's log when the context ends or the program exits.
func (c *Cluster) await(ctx context.Context, what string, cond func() (bool, error)) error {
	last := c.procs[len(c.procs)-1]
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if last.ProcessState != nil || processExited(last) {
			return fmt.Errorf("kubelocal: %s exited while waiting for %s: %s", filepath.Base(last.Path), what, c.logTail(last))
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("kubelocal: waiting for %s: %v: %s", what, err, c.logTail(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// processExited reports whether cmd's process is gone (a zombie counts).
func processExited(cmd *exec.Cmd) bool {
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(cmd.Process.Pid, &ws, syscall.WNOHANG, nil)
	return err != nil || pid == cmd.Process.Pid
}

func (c *Cluster) logTail(cmd *exec.Cmd) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, filepath.Base(cmd.Path)+".log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

// binDir finds the directory of the control plane's programs.
func binDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("MERIDIAN_KUBE_BIN")
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, "bin", "kube")
				break
			}
			if filepath.Dir(d) == d {
				return "", errors.New("kubelocal: no go.mod above the working directory: set MERIDIAN_KUBE_BIN")
			}
		}
	}
	for _, p := range Programs {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", fmt.Errorf("kubelocal: %s is not in %s: run `make kube` (or set MERIDIAN_KUBE_BIN)", p, dir)
		}
	}
	return dir, nil
}

// freePorts returns n ports free on 127.0.0.1 right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeTokens writes the apiserver's static token file:
// token,user,uid,"group,group".
func writeTokens(path string, tokens map[string]User) error {
	var b strings.Builder
	for _, t := range slices.Sorted(maps.Keys(tokens)) {
		u := tokens[t]
		fmt.Fprintf(&b, "%s,%s,%s,%q\n", t, u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
