package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// livePods returns t's workload, its live object and its pods; a nil
// workload when nothing runs.
func (d *Driver) livePods(ctx context.Context, t driver.Target) (kubernetes.Interface, *workload, map[string]any, []corev1.Pod, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	w, _, err := d.locate(ctx, c, t)
	if err != nil || w == nil {
		return c, nil, nil, nil, err
	}
	live, err := getLive(ctx, c, *w)
	if err != nil || live == nil {
		return c, nil, nil, nil, err
	}
	pods, err := podsOf(ctx, c, *w, liveSelector(live))
	return c, w, live, pods, err
}

// Instances lists the workload's pods that are not being deleted.
func (d *Driver) Instances(ctx context.Context, t driver.Target) ([]driver.Instance, error) {
	_, w, _, pods, err := d.livePods(ctx, t)
	if err != nil || w == nil {
		return nil, err
	}
	var out []driver.Instance
	for _, p := range pods {
		in := driver.Instance{ID: p.Name, Revision: p.Annotations[AnnRevision], Ready: podReady(&p)}
		if port := servingPort(&p, t.Service); p.Status.PodIP != "" && port > 0 {
			in.Address = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))
		}
		out = append(out, in)
	}
	return out, nil
}

// servingPort is the first port of a pod's main container.
func servingPort(p *corev1.Pod, service string) int {
	cs := p.Spec.Containers
	if len(cs) == 0 {
		return 0
	}
	main := cs[0]
	for _, c := range cs {
		if c.Name == service {
			main = c
		}
	}
	if len(main.Ports) == 0 {
		return 0
	}
	return int(main.Ports[0].ContainerPort)
}

// RestartInstance evicts pod id, so that its controller replaces it. An
// eviction a PodDisruptionBudget refuses is tried again until
// Options.EvictionTimeout, then fails with code Failed and the budget's
// reason.
func (d *Driver) RestartInstance(ctx context.Context, t driver.Target, id string) error {
	c, w, _, pods, err := d.livePods(ctx, t)
	if err != nil {
		return err
	}
	found := false
	for _, p := range pods {
		found = found || p.Name == id
	}
	if w == nil || !found {
		return driver.Errorf(driver.NotFound, "%s: no pod %s", t.ID(), id)
	}
	deadline := time.Now().Add(d.opts.EvictionTimeout)
	for {
		err := c.PolicyV1().Evictions(w.namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: id, Namespace: w.namespace}})
		switch {
		case err == nil:
			return nil
		case apierrors.IsNotFound(err):
			return driver.Errorf(driver.NotFound, "%s: no pod %s", t.ID(), id)
		case !apierrors.IsTooManyRequests(err):
			return wrapf(err, "evicting pod %s/%s", w.namespace, id)
		case time.Now().After(deadline):
			return driver.Errorf(driver.Failed, "evicting pod %s/%s: refused for %s: %v", w.namespace, id, d.opts.EvictionTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// EvaluateGate probes an HTTP gate on every pod of the live revision, at
// its pod IP and its main container's first port (the worker runs where
// pod IPs route: in the cluster or on its network), or evaluates the
// workload gate.
func (d *Driver) EvaluateGate(ctx context.Context, t driver.Target, g driver.Gate) (driver.Observation, error) {
	if g.HTTP == nil && g.Workload == nil {
		return driver.Observation{}, driver.Errorf(driver.Invalid, "gate %s: the kubernetes driver evaluates HTTP and workload gates", g.Name)
	}
	_, w, live, pods, err := d.livePods(ctx, t)
	if err != nil {
		return driver.Observation{}, err
	}
	if w != nil {
		rev := liveRevision(live)
		pods = slices.DeleteFunc(pods, func(p corev1.Pod) bool { return p.Annotations[AnnRevision] != rev })
	}
	if len(pods) == 0 {
		return driver.Observation{Health: driver.HealthUnknown, Message: "no pod of the live revision runs"}, nil
	}
	if g.Workload != nil {
		for _, p := range pods {
			if why := troubled(&p); why != "" {
				return driver.Observation{Health: driver.Unhealthy, Message: why}, nil
			}
		}
		return driver.Observation{Health: driver.Healthy, Value: float64(len(pods))}, nil
	}
	want := g.HTTP.Status
	if want == 0 {
		want = 200
	}
	var bad []string
	probed := 0
	for _, p := range pods {
		if p.Status.PodIP == "" {
			continue // not started yet
		}
		probed++
		why, err := probe(ctx, &p, servingPort(&p, t.Service), g.HTTP.Path, want)
		if err != nil {
			return driver.Observation{}, err
		}
		if why != "" {
			bad = append(bad, why)
		}
	}
	if probed == 0 {
		return driver.Observation{Health: driver.HealthUnknown, Message: "no pod of the live revision has started"}, nil
	}
	if len(bad) > 0 {
		return driver.Observation{Health: driver.Unhealthy, Value: float64(len(bad)), Message: strings.Join(bad, "; ")}, nil
	}
	return driver.Observation{Health: driver.Healthy}, nil
}

// probe GETs path on a pod's IP and port; why says how it failed.
func probe(ctx context.Context, p *corev1.Pod, port int, path string, want int) (why string, err error) {
	if port == 0 {
		return fmt.Sprintf("pod %s's main container has no port to probe", p.Name), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", driver.Errorf(driver.Invalid, "gate path %q: %v", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return "", err
		}
		return fmt.Sprintf("pod %s: %v", p.Name, err), nil
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Sprintf("pod %s answered %d on %s", p.Name, resp.StatusCode, path), nil
	}
	return "", nil
}
