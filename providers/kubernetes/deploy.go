package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Deploy applies the spec's workload with req's image, version and the
// live config, unless that revision is live already.
func (d *Driver) Deploy(ctx context.Context, req driver.DeployRequest) (driver.Deployment, error) {
	t := req.Target
	m, err := parseManifest(t, req.Workload)
	if err != nil {
		return driver.Deployment{}, err
	}
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.Deployment{}, err
	}
	rec, err := loadRecord(ctx, c, m.workload)
	if err != nil {
		return driver.Deployment{}, err
	}
	live, err := getLive(ctx, c, m.workload)
	if err != nil {
		return driver.Deployment{}, err
	}
	prev, cfg := "", (*configRef)(nil)
	if live != nil {
		prev, cfg = liveRevision(live), configOf(live)
		if _, ok := rec.find(prev); !ok {
			// A revision Meridian did not deploy: kept, to roll back to.
			image, version := mainImage(live, t.Service)
			rec.add(revision{Revision: prev, Image: image, Version: version, Object: appliable(live)}, d.opts.History)
		}
	}
	body := desired(m, req, cfg)
	rev := stamp(body, req.Image, req.Version, req.ChangeID)
	if rev == prev {
		was, _ := rec.find(rev)
		return driver.Deployment{Revision: rev, Previous: was.Previous}, nil
	}
	markDeployed(body)
	rec.add(revision{Revision: rev, Previous: prev, Image: req.Image, Version: req.Version, ChangeID: req.ChangeID, Object: body}, d.opts.History)
	if err := saveRecord(ctx, c, t, m.workload, rec); err != nil {
		return driver.Deployment{}, err
	}
	d.remember(t, m.workload)
	if err := apply(ctx, c, t, m.workload, body, true); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: rev, Previous: prev, Changed: true}, nil
}

// markDeployed records when a revision was applied, from which a
// StatefulSet's progress deadline runs.
func markDeployed(body map[string]any) {
	meta := body["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann[AnnDeployedAt] = time.Now().UTC().Format(time.RFC3339)
	meta["annotations"] = ann
}

// apply server-side applies body as field manager "meridian". Without
// force, a field another manager changed since is a conflict, which fails
// the call with code Failed instead of being overwritten.
func apply(ctx context.Context, c kubernetes.Interface, t driver.Target, w workload, body map[string]any, force bool) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
	if w.kind == "StatefulSet" {
		_, err = c.AppsV1().StatefulSets(w.namespace).Patch(ctx, w.name, types.ApplyPatchType, b, opts)
	} else {
		_, err = c.AppsV1().Deployments(w.namespace).Patch(ctx, w.name, types.ApplyPatchType, b, opts)
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err) && isNamespaceMissing(err, w.namespace):
		return driver.Errorf(driver.Invalid, "namespace %s does not exist in cluster %s: create it (Meridian does not create namespaces)", w.namespace, t.Cell)
	case apierrors.IsConflict(err) && !force:
		return driver.Errorf(driver.Failed, "%s was changed by someone else since Meridian applied it, not overwritten: %v", w, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return driver.Errorf(driver.Invalid, "the apiserver of cluster %s rejects %s: %v", t.Cell, w, err)
	}
	return wrapf(err, "applying %s", w)
}

// remember notes where t's workload is, so that calls that name only the
// target find it without a search.
func (d *Driver) remember(t driver.Target, w workload) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.workloads == nil {
		d.workloads = map[string]workload{}
	}
	d.workloads[t.ID()] = w
}

// locate finds t's workload through its record: nil when Meridian has no
// record of t (never deployed, removed).
func (d *Driver) locate(ctx context.Context, c kubernetes.Interface, t driver.Target) (*workload, *record, error) {
	d.mu.Lock()
	w, ok := d.workloads[t.ID()]
	d.mu.Unlock()
	if ok {
		rec, err := loadRecord(ctx, c, w)
		if err != nil || rec.version != "" {
			return &w, rec, err
		}
	}
	sel := labels.Set(recordLabels(t, workload{}))
	delete(sel, LabelWorkload)
	list, err := c.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, wrapf(err, "finding %s's record", t.ID())
	}
	if len(list.Items) == 0 {
		return nil, nil, nil
	}
	cm := list.Items[0]
	w = workload{kind: cm.Annotations["meridian.dev/kind"], namespace: cm.Namespace, name: cm.Labels[LabelWorkload]}
	rec, err := loadRecord(ctx, c, w)
	if err != nil {
		return nil, nil, err
	}
	d.remember(t, w)
	return &w, rec, nil
}

// Status judges revision's rollout on t (see status.go).
func (d *Driver) Status(ctx context.Context, t driver.Target, rev string) (driver.Status, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.Status{}, err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil {
		return driver.Status{}, err
	}
	if rev == "" {
		return d.statusOfNothing(ctx, c, t, w)
	}
	if w == nil {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s: no revision %s: Meridian has no record of the target", t.ID(), rev)
	}
	if _, ok := rec.find(rev); !ok {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s: %s never had revision %s", t.ID(), w, rev)
	}
	live, err := getLive(ctx, c, *w)
	if err != nil {
		return driver.Status{}, err
	}
	if live == nil {
		return driver.Status{Revision: rev, State: driver.StateFailed, Reason: w.String() + " does not exist"}, nil
	}
	if now := liveRevision(live); now != rev {
		return driver.Status{Revision: rev, State: driver.StateFailed, Reason: fmt.Sprintf("%s runs revision %s now", w, now)}, nil
	}
	st, err := judge(ctx, c, *w, live)
	st.Revision = rev
	if err == nil && st.State == driver.StateReady {
		err = d.collectConfigs(ctx, c, *w, rec)
	}
	return st, err
}

// statusOfNothing is ready, with nothing desired, once t's workload and
// its pods are gone.
func (d *Driver) statusOfNothing(ctx context.Context, c kubernetes.Interface, t driver.Target, w *workload) (driver.Status, error) {
	if w == nil {
		return driver.Status{State: driver.StateReady}, nil
	}
	live, err := getLive(ctx, c, *w)
	if err != nil {
		return driver.Status{}, err
	}
	if live != nil {
		return driver.Status{State: driver.StateProgressing, Reason: w.String() + " is still there"}, nil
	}
	pods, err := c.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelWorkload + "=" + w.name})
	if err != nil {
		return driver.Status{}, wrapf(err, "listing %s's pods", w)
	}
	if n := len(pods.Items); n > 0 {
		return driver.Status{State: driver.StateProgressing, Ready: 0, Reason: fmt.Sprintf("%d pod(s) of %s still running", n, w)}, nil
	}
	return driver.Status{State: driver.StateReady}, nil
}

// Rollback re-applies revision's object, or removes what Meridian made
// for revision "" (a first deploy).
func (d *Driver) Rollback(ctx context.Context, t driver.Target, rev string) error {
	c, err := d.client(ctx, t)
	if err != nil {
		return err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil {
		return err
	}
	if rev == "" {
		if w == nil {
			return nil
		}
		return d.deleteAll(ctx, c, *w, nil)
	}
	if w == nil {
		return driver.Errorf(driver.NotFound, "%s: no revision %s: Meridian has no record of the target", t.ID(), rev)
	}
	rv, ok := rec.find(rev)
	if !ok {
		return driver.Errorf(driver.NotFound, "%s: %s never had revision %s", t.ID(), w, rev)
	}
	live, err := getLive(ctx, c, *w)
	if err != nil {
		return err
	}
	if live != nil && liveRevision(live) == rev {
		return nil
	}
	body := deepCopy(rv.Object)
	markDeployed(body)
	if err := apply(ctx, c, t, *w, body, live == nil); err != nil {
		return err
	}
	if w.kind == "StatefulSet" {
		// A StatefulSet does not replace a pod that never became ready
		// when its template goes back (kubernetes#67250): delete them.
		return d.deleteStuckPods(ctx, c, *w, rev)
	}
	return nil
}

// deleteAll deletes t's workload, its record and its config objects but
// those in keep.
func (d *Driver) deleteAll(ctx context.Context, c kubernetes.Interface, w workload, keep map[string]bool) error {
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	var err error
	if w.kind == "StatefulSet" {
		err = c.AppsV1().StatefulSets(w.namespace).Delete(ctx, w.name, opts)
	} else {
		err = c.AppsV1().Deployments(w.namespace).Delete(ctx, w.name, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return wrapf(err, "deleting %s", w)
	}
	if err := d.deleteConfigs(ctx, c, w, keep); err != nil {
		return err
	}
	err = c.CoreV1().ConfigMaps(w.namespace).Delete(ctx, w.recordName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return wrapf(err, "deleting %s's record", w)
	}
	return nil
}
