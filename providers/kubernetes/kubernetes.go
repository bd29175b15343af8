// Package kubernetes is the provider driver for Kubernetes clusters (EKS,
// AKS, GKE or any other): a target's cell is a cluster, reached through
// Options.Clusters, and its workload is the Deployment or StatefulSet the
// spec writes (driver.DeployRequest.Workload), to which Meridian adds the
// image, the version, the config and its own labels.
//
//   - Deploy is a server-side apply with field manager "meridian". The
//     revision is a digest of the pod template Meridian applies (image,
//     version, config reference and the spec's template), recorded on the
//     workload and its pod template as meridian.dev/revision. Each
//     revision's applied object is kept in the target's record, a
//     ConfigMap named <workload>.meridian beside the workload, for
//     Rollback (the last 10; the workload's own revision when Meridian
//     first deploys to a workload it did not create).
//   - Status judges a rollout as `kubectl rollout status` does (see
//     status.go), and fails it early when a pod of the revision cannot
//     start (CrashLoopBackOff, OOMKilled, an image that cannot be pulled).
//   - Rollback re-applies the previous revision's object, without force:
//     a field someone else changed since (kubectl set image, edit) is a
//     server-side apply conflict, reported with code Failed and not
//     overwritten. Rolling back a first deploy deletes what Meridian made.
//   - Config is a ConfigMap (a Secret when the document holds resolved
//     secrets) named after its content's digest, mounted at
//     /etc/meridian/config.json in every container; a new config is a new
//     pod template, so it rolls the pods, and a rollback restores the old
//     reference. Config objects no kept revision refers to are deleted
//     once a rollout succeeds.
//   - Instances are pods; RestartInstance evicts one through the Eviction
//     API, so PodDisruptionBudgets hold (a Deployment's replacement pod has
//     a new name), retrying an eviction a budget refuses until
//     Options.EvictionTimeout.
//   - EvaluateGate probes HTTP gates on every pod of the live revision at
//     its pod IP, and evaluates the workload gate (driver.WorkloadGate):
//     container restarts, CrashLoopBackOff or OOMKilled on a pod of the
//     live revision make it unhealthy, naming the pod and the reason.
//   - Remove, Restore, Current and Managed decommission targets and
//     survey them.
//
// See docs/providers-kubernetes.md for the permissions Meridian needs.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Clusters resolves how to reach a target's cluster. One that calls a
// cloud API (EKS, AKS, GKE) also implements driver.ErrorCoder, which
// classifies that API's errors.
type Clusters interface {
	// Config returns a client configuration for the cluster t.Cell
	// names; its credentials may expire (the driver asks again after
	// Options.ClientTTL).
	Config(ctx context.Context, t driver.Target) (*rest.Config, error)
}

// Options configure a Driver.
type Options struct {
	// Clusters reaches targets' clusters; required.
	Clusters Clusters
	// ClientTTL is how long a cluster's client is reused (default 5m).
	ClientTTL time.Duration
	// EvictionTimeout bounds how long RestartInstance retries an eviction
	// a PodDisruptionBudget refuses (default 1m).
	EvictionTimeout time.Duration
	// History is how many revisions a target's record keeps (default 10).
	History int
}

// Driver deploys to Kubernetes clusters. It implements driver.Deployer,
// Configurer, ConfigRemover, GateEvaluator, Restarter, Remover, Surveyor,
// ConfigSurveyor and Lister.
type Driver struct {
	opts Options

	mu        sync.Mutex
	clients   map[string]cachedClient // by cluster: cloud/boundary/region/cell
	workloads map[string]workload     // by target ID: where Deploy or locate found it
}

type cachedClient struct {
	client  kubernetes.Interface
	expires time.Time
}

var (
	_ driver.Deployer       = (*Driver)(nil)
	_ driver.Configurer     = (*Driver)(nil)
	_ driver.ConfigRemover  = (*Driver)(nil)
	_ driver.GateEvaluator  = (*Driver)(nil)
	_ driver.Restarter      = (*Driver)(nil)
	_ driver.Remover        = (*Driver)(nil)
	_ driver.Surveyor       = (*Driver)(nil)
	_ driver.ConfigSurveyor = (*Driver)(nil)
	_ driver.Lister         = (*Driver)(nil)
)

// New returns a driver that reaches clusters through opts.Clusters.
func New(opts Options) (*Driver, error) {
	if opts.Clusters == nil {
		return nil, errors.New("kubernetes: Options.Clusters is required")
	}
	if opts.ClientTTL == 0 {
		opts.ClientTTL = 5 * time.Minute
	}
	if opts.EvictionTimeout == 0 {
		opts.EvictionTimeout = time.Minute
	}
	if opts.History == 0 {
		opts.History = 10
	}
	return &Driver{opts: opts, clients: map[string]cachedClient{}}, nil
}

// client returns the client of t's cluster.
func (d *Driver) client(ctx context.Context, t driver.Target) (kubernetes.Interface, error) {
	if t.Cell == "" {
		return nil, driver.Errorf(driver.Invalid, "%s: a Kubernetes target needs a cell, the cluster it runs on", t.ID())
	}
	key := t.Cloud + "/" + t.Boundary + "/" + t.Region + "/" + t.Cell
	d.mu.Lock()
	c, ok := d.clients[key]
	d.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.client, nil
	}
	cfg, err := d.opts.Clusters.Config(ctx, t)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "meridian"
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, driver.Errorf(driver.Invalid, "cluster %s: %v", t.Cell, err)
	}
	d.mu.Lock()
	d.clients[key] = cachedClient{client: cs, expires: time.Now().Add(d.opts.ClientTTL)}
	d.mu.Unlock()
	return cs, nil
}

// ErrorCode maps Kubernetes API errors and the driver's own to codes.
func (d *Driver) ErrorCode(err error) driver.Code {
	var de *driver.Error
	var ne net.Error
	switch {
	case errors.As(err, &de):
		return de.Code
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable
	case apierrors.IsNotFound(err):
		return driver.NotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return driver.Conflict
	case apierrors.IsTooManyRequests(err):
		return driver.Throttled
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return driver.PermissionDenied
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsRequestEntityTooLargeError(err), apierrors.IsUnsupportedMediaType(err):
		return driver.Invalid
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return driver.Unavailable
	case errors.As(err, &ne):
		return driver.Unavailable // the cluster cannot be reached: retried
	}
	if ec, ok := d.opts.Clusters.(driver.ErrorCoder); ok {
		return ec.ErrorCode(err) // a cloud API's error, resolving the cluster
	}
	return driver.Unknown
}

// wrapf adds what the driver was doing to err, keeping its chain.
func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
