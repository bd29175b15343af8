package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// labelConfig marks Meridian's config objects.
const labelConfig = "meridian.dev/config"

// ApplyConfig stores req's document as a config object named after its
// digest and mounts it in the workload's pod template, which rolls the
// pods. The workload must have been deployed first.
func (d *Driver) ApplyConfig(ctx context.Context, req driver.ConfigRequest) (driver.Deployment, error) {
	t := req.Target
	c, w, rec, live, err := d.deployed(ctx, t)
	if err != nil {
		return driver.Deployment{}, err
	}
	sum := sha256.Sum256(append([]byte(req.Version+"\x00"), req.Data...))
	ref := configRef{Name: fmt.Sprintf("%s-config-%s", w.name, hex.EncodeToString(sum[:5])), Secret: req.Source != nil}
	if err := createConfig(ctx, c, w, ref, req); err != nil {
		return driver.Deployment{}, err
	}
	prev := ""
	if cur := configOf(live); cur != nil {
		prev = cur.Name
	}
	if prev == ref.Name {
		return driver.Deployment{Revision: ref.Name, Previous: prev}, nil
	}
	if err := d.mount(ctx, c, t, w, rec, live, &ref, true); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: ref.Name, Previous: prev, Changed: true}, nil
}

// deployed finds t's live workload, failing when there is none.
func (d *Driver) deployed(ctx context.Context, t driver.Target) (kubernetes.Interface, workload, *record, map[string]any, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return nil, workload{}, nil, nil, err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil {
		return nil, workload{}, nil, nil, err
	}
	if w == nil {
		return nil, workload{}, nil, nil, driver.Errorf(driver.Invalid, "%s: no workload: deploy the service before its config", t.ID())
	}
	live, err := getLive(ctx, c, *w)
	if err != nil {
		return nil, workload{}, nil, nil, err
	}
	if live == nil {
		return nil, workload{}, nil, nil, driver.Errorf(driver.Invalid, "%s: %s does not exist: deploy the service before its config", t.ID(), w)
	}
	return c, *w, rec, live, nil
}

// mount applies the live revision's object with ref (nil: no config) as
// a new revision.
func (d *Driver) mount(ctx context.Context, c kubernetes.Interface, t driver.Target, w workload, rec *record, live map[string]any, ref *configRef, force bool) error {
	cur := liveRevision(live)
	rv, ok := rec.find(cur)
	if !ok {
		image, version := mainImage(live, t.Service)
		rv = revision{Revision: cur, Image: image, Version: version, Object: appliable(live)}
	}
	body := deepCopy(rv.Object)
	withConfig(body, ref)
	rev := stamp(body, rv.Image, rv.Version, rv.ChangeID)
	markDeployed(body)
	rec.add(revision{Revision: rev, Previous: cur, Image: rv.Image, Version: rv.Version, ChangeID: rv.ChangeID, Object: body}, d.opts.History)
	if err := saveRecord(ctx, c, t, w, rec); err != nil {
		return err
	}
	return apply(ctx, c, t, w, body, force)
}

// createConfig creates the config object ref names, unless it exists.
func createConfig(ctx context.Context, c kubernetes.Interface, w workload, ref configRef, req driver.ConfigRequest) error {
	meta := metav1.ObjectMeta{Name: ref.Name, Namespace: w.namespace,
		Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelWorkload: w.name, labelConfig: "true"},
		Annotations: map[string]string{AnnConfigVer: req.Version}}
	var err error
	if ref.Secret {
		meta.Annotations[AnnConfigSource] = string(req.Source)
		_, err = c.CoreV1().Secrets(w.namespace).Create(ctx, &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{ConfigFile: req.Data}},
			metav1.CreateOptions{FieldManager: fieldManager})
	} else {
		_, err = c.CoreV1().ConfigMaps(w.namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{ConfigFile: string(req.Data)}},
			metav1.CreateOptions{FieldManager: fieldManager})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return wrapf(err, "creating config %s/%s", w.namespace, ref.Name)
	}
	return nil
}

// readConfig reads a config object's version and document as its
// caller wrote it; found is false when it does not exist.
func readConfig(ctx context.Context, c kubernetes.Interface, w workload, ref configRef) (version string, doc []byte, found bool, err error) {
	if ref.Secret {
		s, err := c.CoreV1().Secrets(w.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", nil, false, nil
		}
		if err != nil {
			return "", nil, false, wrapf(err, "reading config %s", ref.Name)
		}
		return s.Annotations[AnnConfigVer], []byte(s.Annotations[AnnConfigSource]), true, nil
	}
	cm, err := c.CoreV1().ConfigMaps(w.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, wrapf(err, "reading config %s", ref.Name)
	}
	return cm.Annotations[AnnConfigVer], []byte(cm.Data[ConfigFile]), true, nil
}

// findConfig resolves a config revision (an object name) to its object.
func findConfig(ctx context.Context, c kubernetes.Interface, w workload, rev string) (configRef, bool, error) {
	for _, ref := range []configRef{{Name: rev}, {Name: rev, Secret: true}} {
		_, _, found, err := readConfig(ctx, c, w, ref)
		if err != nil || found {
			return ref, found, err
		}
	}
	return configRef{}, false, nil
}

// ConfigStatus is the rollout of the pod template that mounts rev.
func (d *Driver) ConfigStatus(ctx context.Context, t driver.Target, rev string) (driver.Status, error) {
	c, w, _, live, err := d.deployed(ctx, t)
	var de *driver.Error
	if errors.As(err, &de) && de.Code == driver.Invalid {
		return driver.Status{}, driver.Errorf(driver.NotFound, "%s: no config %s: %v", t.ID(), rev, err)
	} else if err != nil {
		return driver.Status{}, err
	}
	if _, found, err := findConfig(ctx, c, w, rev); err != nil || !found {
		if err == nil {
			err = driver.Errorf(driver.NotFound, "%s: %s never had config %s", t.ID(), w, rev)
		}
		return driver.Status{}, err
	}
	if cur := configOf(live); cur == nil || cur.Name != rev {
		return driver.Status{Revision: rev, State: driver.StateFailed, Reason: fmt.Sprintf("%s mounts another config now", w)}, nil
	}
	st, err := judge(ctx, c, w, live)
	st.Revision = rev
	return st, err
}

// RollbackConfig mounts config rev again, without force (see Rollback).
func (d *Driver) RollbackConfig(ctx context.Context, t driver.Target, rev string) error {
	c, w, rec, live, err := d.deployed(ctx, t)
	if err != nil {
		return err
	}
	ref, found, err := findConfig(ctx, c, w, rev)
	if err != nil {
		return err
	}
	if !found {
		return driver.Errorf(driver.NotFound, "%s: %s never had config %s", t.ID(), w, rev)
	}
	if cur := configOf(live); cur != nil && cur.Name == rev {
		return nil
	}
	return d.mount(ctx, c, t, w, rec, live, &ref, false)
}

// RemoveConfig unmounts the live config and deletes its object.
func (d *Driver) RemoveConfig(ctx context.Context, t driver.Target) (driver.ConfigRemoval, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.ConfigRemoval{}, err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil || w == nil {
		return driver.ConfigRemoval{}, err
	}
	live, err := getLive(ctx, c, *w)
	if err != nil || live == nil {
		return driver.ConfigRemoval{}, err
	}
	ref := configOf(live)
	if ref == nil {
		return driver.ConfigRemoval{}, nil
	}
	version, doc, _, err := readConfig(ctx, c, *w, *ref)
	if err != nil {
		return driver.ConfigRemoval{}, err
	}
	if err := d.mount(ctx, c, t, *w, rec, live, nil, true); err != nil {
		return driver.ConfigRemoval{}, err
	}
	if err := deleteConfig(ctx, c, *w, *ref); err != nil {
		return driver.ConfigRemoval{}, err
	}
	return driver.ConfigRemoval{Revision: ref.Name, Version: version, Data: doc}, nil
}

// CurrentConfig is the config the live pod template mounts.
func (d *Driver) CurrentConfig(ctx context.Context, t driver.Target) (driver.LiveConfig, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.LiveConfig{}, err
	}
	w, _, err := d.locate(ctx, c, t)
	if err != nil || w == nil {
		return driver.LiveConfig{}, err
	}
	live, err := getLive(ctx, c, *w)
	if err != nil || live == nil {
		return driver.LiveConfig{}, err
	}
	ref := configOf(live)
	if ref == nil {
		return driver.LiveConfig{}, nil
	}
	version, _, _, err := readConfig(ctx, c, *w, *ref)
	return driver.LiveConfig{Revision: ref.Name, Version: version}, err
}

func deleteConfig(ctx context.Context, c kubernetes.Interface, w workload, ref configRef) error {
	var err error
	if ref.Secret {
		err = c.CoreV1().Secrets(w.namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	} else {
		err = c.CoreV1().ConfigMaps(w.namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return wrapf(err, "deleting config %s", ref.Name)
	}
	return nil
}

// deleteConfigs deletes w's config objects but those in keep.
func (d *Driver) deleteConfigs(ctx context.Context, c kubernetes.Interface, w workload, keep map[string]bool) error {
	sel := metav1.ListOptions{LabelSelector: LabelWorkload + "=" + w.name + "," + labelConfig + "=true"}
	cms, err := c.CoreV1().ConfigMaps(w.namespace).List(ctx, sel)
	if err != nil {
		return wrapf(err, "listing %s's configs", w)
	}
	secrets, err := c.CoreV1().Secrets(w.namespace).List(ctx, sel)
	if err != nil {
		return wrapf(err, "listing %s's configs", w)
	}
	var refs []configRef
	for _, cm := range cms.Items {
		refs = append(refs, configRef{Name: cm.Name})
	}
	for _, s := range secrets.Items {
		refs = append(refs, configRef{Name: s.Name, Secret: true})
	}
	for _, ref := range refs {
		if !keep[ref.Name] {
			if err := deleteConfig(ctx, c, w, ref); err != nil {
				return err
			}
		}
	}
	return nil
}

// collectConfigs deletes the config objects no kept revision mounts, once
// a rollout succeeded.
func (d *Driver) collectConfigs(ctx context.Context, c kubernetes.Interface, w workload, rec *record) error {
	return d.deleteConfigs(ctx, c, w, rec.configs())
}
