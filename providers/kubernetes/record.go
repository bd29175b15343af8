package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// record is Meridian's record of a target, kept in a ConfigMap beside its
// workload: the objects of the revisions it deployed (or found live), for
// rollbacks.
type record struct {
	Revisions []revision `json:"revisions"` // oldest first

	version string // the ConfigMap's resourceVersion, "" when it does not exist
}

// revision is one revision's applied object and what it runs.
type revision struct {
	Revision string         `json:"revision"`
	Previous string         `json:"previous,omitempty"` // what was live when Meridian deployed it
	Image    string         `json:"image,omitempty"`
	Version  string         `json:"version,omitempty"`
	ChangeID string         `json:"changeId,omitempty"`
	Object   map[string]any `json:"object"`
}

func (r *record) find(rev string) (revision, bool) {
	i := slices.IndexFunc(r.Revisions, func(x revision) bool { return x.Revision == rev })
	if i < 0 {
		return revision{}, false
	}
	return r.Revisions[i], true
}

// add records rv as the newest revision, keeping keep revisions (and
// always the one live before it).
func (r *record) add(rv revision, keep int) {
	r.Revisions = slices.DeleteFunc(r.Revisions, func(x revision) bool { return x.Revision == rv.Revision })
	r.Revisions = append(r.Revisions, rv)
	for len(r.Revisions) > keep {
		i := slices.IndexFunc(r.Revisions, func(x revision) bool { return x.Revision != rv.Revision && x.Revision != rv.Previous })
		if i < 0 {
			break
		}
		r.Revisions = slices.Delete(r.Revisions, i, i+1)
	}
}

// configs are the config objects the record's revisions mount.
func (r *record) configs() map[string]bool {
	used := map[string]bool{}
	for _, rv := range r.Revisions {
		if c := configOf(rv.Object); c != nil {
			used[c.Name] = true
		}
	}
	return used
}

const recordKey = "record.json"

// loadRecord reads w's record; a missing one is empty.
func loadRecord(ctx context.Context, c kubernetes.Interface, w workload) (*record, error) {
	cm, err := c.CoreV1().ConfigMaps(w.namespace).Get(ctx, w.recordName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &record{}, nil
	}
	if err != nil {
		return nil, wrapf(err, "reading %s's record", w)
	}
	r := &record{}
	if err := json.Unmarshal([]byte(cm.Data[recordKey]), r); err != nil {
		return nil, driver.Errorf(driver.Invalid, "%s: record %s/%s is not Meridian's: %v", w, w.namespace, w.recordName(), err)
	}
	r.version = cm.ResourceVersion
	return r, nil
}

// saveRecord writes r, failing with a conflict when someone else wrote
// it since it was read.
func saveRecord(ctx context.Context, c kubernetes.Interface, t driver.Target, w workload, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: w.recordName(), Namespace: w.namespace, Labels: recordLabels(t, w), ResourceVersion: r.version,
			Annotations: map[string]string{"meridian.dev/kind": w.kind}},
		Data: map[string]string{recordKey: string(b)},
	}
	var saved *corev1.ConfigMap
	if r.version == "" {
		saved, err = c.CoreV1().ConfigMaps(w.namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
	} else {
		saved, err = c.CoreV1().ConfigMaps(w.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if err != nil {
		if apierrors.IsNotFound(err) && isNamespaceMissing(err, w.namespace) {
			return driver.Errorf(driver.Invalid, "namespace %s does not exist in cluster %s: create it (Meridian does not create namespaces)", w.namespace, t.Cell)
		}
		return wrapf(err, "writing %s's record", w)
	}
	r.version = saved.ResourceVersion
	return nil
}

// isNamespaceMissing tells a NotFound about the namespace itself.
func isNamespaceMissing(err error, ns string) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces" && d.Name == ns
}

func recordLabels(t driver.Target, w workload) map[string]string {
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelWorkload: w.name, "meridian.dev/record": "true"}
	for _, l := range targetLabels {
		labels[l.key] = l.get(t)
	}
	return labels
}

// getLive reads w as it runs, nil when it does not exist.
func getLive(ctx context.Context, c kubernetes.Interface, w workload) (map[string]any, error) {
	var obj any
	var err error
	if w.kind == "StatefulSet" {
		obj, err = c.AppsV1().StatefulSets(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	} else {
		obj, err = c.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf(err, "reading %s", w)
	}
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u["apiVersion"], u["kind"] = "apps/v1", w.kind
	return u, nil
}

func toUnstructured(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// fromMap decodes an object read as a map into its typed form.
func fromMap(m map[string]any, obj any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, obj)
}
