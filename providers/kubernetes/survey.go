package kubernetes

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// removed is a Removal's Spec: the object of the revision that was live.
type removed struct {
	Kind   string         `json:"kind"`
	Object map[string]any `json:"object"`
}

// Remove deletes t's workload and Meridian's record of it; the config
// object the live template mounts stays, for Restore.
func (d *Driver) Remove(ctx context.Context, t driver.Target) (driver.Removal, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.Removal{}, err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil || w == nil {
		return driver.Removal{}, err
	}
	live, err := getLive(ctx, c, *w)
	if err != nil {
		return driver.Removal{}, err
	}
	var r driver.Removal
	keep := map[string]bool{}
	if live != nil {
		rev := liveRevision(live)
		rv, ok := rec.find(rev)
		if !ok {
			image, version := mainImage(live, t.Service)
			rv = revision{Revision: rev, Image: image, Version: version, Object: appliable(live)}
		}
		spec, err := json.Marshal(removed{Kind: w.kind, Object: rv.Object})
		if err != nil {
			return driver.Removal{}, err
		}
		replicas, _, _ := unstructured.NestedFieldNoCopy(live, "spec", "replicas")
		n, _ := replicas.(float64)
		r = driver.Removal{Revision: rev, Image: rv.Image, Version: rv.Version, Instances: int(n), Spec: string(spec)}
		if ref := configOf(live); ref != nil {
			keep[ref.Name] = true
		}
	}
	return r, d.deleteAll(ctx, c, *w, keep)
}

// Restore applies the removed revision's object again.
func (d *Driver) Restore(ctx context.Context, t driver.Target, r driver.Removal) (driver.Deployment, error) {
	if r.Revision == "" {
		return driver.Deployment{}, nil
	}
	var rm removed
	if err := json.Unmarshal([]byte(r.Spec), &rm); err != nil || rm.Object == nil {
		return driver.Deployment{}, driver.Errorf(driver.Invalid, "%s: a removal the kubernetes driver did not write", t.ID())
	}
	u := &unstructured.Unstructured{Object: rm.Object}
	for _, l := range targetLabels {
		if got := u.GetLabels()[l.key]; got != "" && got != l.get(t) {
			return driver.Deployment{}, driver.Errorf(driver.Invalid, "%s: the removal is of another target (%s %s)", t.ID(), l.key, got)
		}
	}
	w := workload{kind: rm.Kind, namespace: u.GetNamespace(), name: u.GetName()}
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.Deployment{}, err
	}
	live, err := getLive(ctx, c, w)
	if err != nil {
		return driver.Deployment{}, err
	}
	if live != nil && liveRevision(live) == r.Revision {
		return driver.Deployment{Revision: r.Revision}, nil
	}
	rec, err := loadRecord(ctx, c, w)
	if err != nil {
		return driver.Deployment{}, err
	}
	rec.add(revision{Revision: r.Revision, Image: r.Image, Version: r.Version, Object: rm.Object}, d.opts.History)
	if err := saveRecord(ctx, c, t, w, rec); err != nil {
		return driver.Deployment{}, err
	}
	d.remember(t, w)
	body := deepCopy(rm.Object)
	markDeployed(body)
	if err := apply(ctx, c, t, w, body, true); err != nil {
		return driver.Deployment{}, err
	}
	return driver.Deployment{Revision: r.Revision, Changed: true}, nil
}

// Current reports the live revision of t's workload and its rollout.
func (d *Driver) Current(ctx context.Context, t driver.Target) (driver.Current, error) {
	c, err := d.client(ctx, t)
	if err != nil {
		return driver.Current{}, err
	}
	w, rec, err := d.locate(ctx, c, t)
	if err != nil || w == nil {
		return driver.Current{}, err
	}
	live, err := getLive(ctx, c, *w)
	if err != nil || live == nil {
		return driver.Current{}, err
	}
	rev := liveRevision(live)
	cur := driver.Current{Revision: rev}
	if rv, ok := rec.find(rev); ok {
		cur.Image, cur.Version, cur.ChangeID = rv.Image, rv.Version, rv.ChangeID
	} else {
		cur.Image, cur.Version = mainImage(live, t.Service)
	}
	st, err := judge(ctx, c, *w, live)
	if err != nil {
		return driver.Current{}, err
	}
	cur.State, cur.Ready, cur.Desired, cur.Reason = st.State, st.Ready, st.Desired, st.Reason
	return cur, nil
}

// Managed lists the targets in scope whose record is in one of the
// scope's cells, the clusters the spec has in its region.
func (d *Driver) Managed(ctx context.Context, scope driver.Scope) ([]driver.Target, error) {
	sel := labels.Set{"meridian.dev/record": "true", "meridian.dev/cloud": scope.Cloud, "meridian.dev/boundary": scope.Boundary, "meridian.dev/region": scope.Region}
	if scope.Service != "" {
		sel["meridian.dev/service"] = scope.Service
	}
	if scope.Environment != "" {
		sel["meridian.dev/environment"] = scope.Environment
	}
	var out []driver.Target
	for _, cell := range scope.Cells {
		c, err := d.client(ctx, driver.Target{Cloud: scope.Cloud, Boundary: scope.Boundary, Region: scope.Region, Cell: cell})
		if err != nil {
			return nil, err
		}
		list, err := c.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, wrapf(err, "listing Meridian's records in cluster %s", cell)
		}
		for _, cm := range list.Items {
			l := cm.Labels
			t := driver.Target{Service: l["meridian.dev/service"], Environment: l["meridian.dev/environment"], Cloud: l["meridian.dev/cloud"],
				Boundary: l["meridian.dev/boundary"], Region: l["meridian.dev/region"], Cell: l["meridian.dev/cell"]}
			if scope.Contains(t) {
				out = append(out, t)
			}
		}
	}
	slices.SortFunc(out, func(a, b driver.Target) int { return strings.Compare(a.ID(), b.ID()) })
	return slices.CompactFunc(out, func(a, b driver.Target) bool { return a.ID() == b.ID() }), nil
}
