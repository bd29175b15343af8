package kubernetes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Labels and annotations Meridian sets.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedBy       = "meridian"
	LabelWorkload   = "meridian.dev/workload"
	AnnRevision     = "meridian.dev/revision"
	AnnImage        = "meridian.dev/image"
	AnnVersion      = "meridian.dev/version"
	AnnChangeID     = "meridian.dev/change-id"
	AnnDeployedAt   = "meridian.dev/deployed-at"
	AnnProgressTime = "meridian.dev/progress-deadline" // a StatefulSet's progress deadline, a Go duration (default 10m)
	AnnConfigVer    = "meridian.dev/config-version"
	AnnConfigSource = "meridian.dev/config-source"

	// ConfigDir is where every container finds its config, ConfigDir/ConfigFile.
	ConfigDir  = "/etc/meridian"
	ConfigFile = "config.json"
	// EnvVersion and EnvConfig are set on the containers: the version
	// Meridian deployed and the config file's path.
	EnvVersion = "MERIDIAN_VERSION"
	EnvConfig  = "MERIDIAN_CONFIG"

	configVolume = "meridian-config"
	fieldManager = "meridian"
)

// targetLabels are the labels that tie an object to its target.
var targetLabels = []struct {
	key string
	get func(driver.Target) string
}{
	{"meridian.dev/service", func(t driver.Target) string { return t.Service }},
	{"meridian.dev/environment", func(t driver.Target) string { return t.Environment }},
	{"meridian.dev/cloud", func(t driver.Target) string { return t.Cloud }},
	{"meridian.dev/boundary", func(t driver.Target) string { return t.Boundary }},
	{"meridian.dev/region", func(t driver.Target) string { return t.Region }},
	{"meridian.dev/cell", func(t driver.Target) string { return t.Cell }},
}

// workload names a target's Deployment or StatefulSet.
type workload struct {
	kind, namespace, name string
}

func (w workload) String() string { return fmt.Sprintf("%s %s/%s", w.kind, w.namespace, w.name) }

// recordName is the name of the target's record, beside its workload.
func (w workload) recordName() string { return w.name + ".meridian" }

// manifest is the workload the spec writes, checked and named.
type manifest struct {
	workload
	body map[string]any
}

// parseManifest checks the spec's workload: a Deployment or a StatefulSet
// of apps/v1 whose fields are all Kubernetes' (an unknown field is an
// error, not dropped). Its name defaults to the service's, its namespace
// to "default".
func parseManifest(t driver.Target, raw []byte) (manifest, error) {
	if len(raw) == 0 {
		return manifest{}, driver.Errorf(driver.Invalid, "%s: no workload: a Kubernetes target's service needs kubernetes.workload in the spec", t.ID())
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return manifest{}, driver.Errorf(driver.Invalid, "%s: workload: %v", t.ID(), err)
	}
	var typed any
	switch head.Kind {
	case "Deployment":
		typed = &appsv1.Deployment{}
	case "StatefulSet":
		typed = &appsv1.StatefulSet{}
	default:
		return manifest{}, driver.Errorf(driver.Invalid, "%s: workload kind %q: want Deployment or StatefulSet", t.ID(), head.Kind)
	}
	if head.APIVersion != "" && head.APIVersion != "apps/v1" {
		return manifest{}, driver.Errorf(driver.Invalid, "%s: workload apiVersion %q: want apps/v1", t.ID(), head.APIVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		return manifest{}, driver.Errorf(driver.Invalid, "%s: workload %s: %v", t.ID(), head.Kind, err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return manifest{}, driver.Errorf(driver.Invalid, "%s: workload: %v", t.ID(), err)
	}
	u := &unstructured.Unstructured{Object: body}
	u.SetAPIVersion("apps/v1")
	if u.GetName() == "" {
		u.SetName(t.Service)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace("default")
	}
	if containers, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "containers"); len(containers) == 0 {
		// The spec's default: one container, named after the service.
		_ = unstructured.SetNestedSlice(body, []any{map[string]any{"name": t.Service}}, "spec", "template", "spec", "containers")
	}
	return manifest{workload: workload{kind: head.Kind, namespace: u.GetNamespace(), name: u.GetName()}, body: body}, nil
}

// configRef names a config object (a ConfigMap, or a Secret when the
// document holds resolved secrets).
type configRef struct {
	Name   string `json:"name"`
	Secret bool   `json:"secret,omitempty"`
}

// desired is the object Meridian applies for a deploy of req: the
// manifest with the target's labels, a selector, the replicas, the image
// and version on the main container (the one named after the service,
// else the first) and the config.
func desired(m manifest, req driver.DeployRequest, cfg *configRef) map[string]any {
	body := deepCopy(m.body)
	t := req.Target
	u := &unstructured.Unstructured{Object: body}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedBy
	labels[LabelWorkload] = m.name
	for _, l := range targetLabels {
		labels[l.key] = l.get(t)
	}
	u.SetLabels(labels)
	if req.Instances > 0 {
		_ = unstructured.SetNestedField(body, int64(req.Instances), "spec", "replicas")
	}
	selector, found, _ := unstructured.NestedStringMap(body, "spec", "selector", "matchLabels")
	if !found {
		selector = map[string]string{LabelWorkload: m.name}
		_ = unstructured.SetNestedStringMap(body, selector, "spec", "selector", "matchLabels")
	}
	podLabels, _, _ := unstructured.NestedStringMap(body, "spec", "template", "metadata", "labels")
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	for k, v := range selector {
		podLabels[k] = v
	}
	podLabels[LabelManagedBy] = ManagedBy
	_ = unstructured.SetNestedStringMap(body, podLabels, "spec", "template", "metadata", "labels")
	if m.kind == "StatefulSet" {
		if _, found, _ := unstructured.NestedString(body, "spec", "serviceName"); !found {
			_ = unstructured.SetNestedField(body, m.name, "spec", "serviceName")
		}
	}
	containers, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "containers")
	main := 0
	for i, c := range containers {
		if c.(map[string]any)["name"] == t.Service {
			main = i
		}
	}
	c := containers[main].(map[string]any)
	c["image"] = req.Image + ":" + req.Version
	c["env"] = setEnv(c["env"], EnvVersion, req.Version)
	_ = unstructured.SetNestedSlice(body, containers, "spec", "template", "spec", "containers")
	withConfig(body, cfg)
	return body
}

// withConfig makes body's pod template mount cfg at ConfigDir in every
// container, or no config when cfg is nil.
func withConfig(body map[string]any, cfg *configRef) {
	volumes, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "volumes")
	volumes = slices.DeleteFunc(volumes, func(v any) bool { return v.(map[string]any)["name"] == configVolume })
	if cfg != nil {
		v := map[string]any{"name": configVolume}
		if cfg.Secret {
			v["secret"] = map[string]any{"secretName": cfg.Name}
		} else {
			v["configMap"] = map[string]any{"name": cfg.Name}
		}
		volumes = append(volumes, v)
	}
	if len(volumes) > 0 {
		_ = unstructured.SetNestedSlice(body, volumes, "spec", "template", "spec", "volumes")
	} else {
		unstructured.RemoveNestedField(body, "spec", "template", "spec", "volumes")
	}
	containers, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "containers")
	for _, c := range containers {
		c := c.(map[string]any)
		mounts, _ := c["volumeMounts"].([]any)
		mounts = slices.DeleteFunc(mounts, func(m any) bool { return m.(map[string]any)["name"] == configVolume })
		env := removeEnv(c["env"], EnvConfig)
		if cfg != nil {
			mounts = append(mounts, map[string]any{"name": configVolume, "mountPath": ConfigDir, "readOnly": true})
			env = setEnv(env, EnvConfig, ConfigDir+"/"+ConfigFile)
		}
		setOrDelete(c, "volumeMounts", mounts)
		setOrDelete(c, "env", env)
	}
	_ = unstructured.SetNestedSlice(body, containers, "spec", "template", "spec", "containers")
}

func setOrDelete(m map[string]any, key string, list []any) {
	if len(list) == 0 {
		delete(m, key)
		return
	}
	m[key] = list
}

// setEnv sets one variable of a container's env list.
func setEnv(env any, name, value string) []any {
	list := removeEnv(env, name)
	return append(list, map[string]any{"name": name, "value": value})
}

func removeEnv(env any, name string) []any {
	list, _ := env.([]any)
	return slices.DeleteFunc(slices.Clone(list), func(e any) bool { return e.(map[string]any)["name"] == name })
}

// configOf is the config the pod template of body mounts, nil for none.
func configOf(body map[string]any) *configRef {
	volumes, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "volumes")
	for _, v := range volumes {
		v := v.(map[string]any)
		if v["name"] != configVolume {
			continue
		}
		if name, found, _ := unstructured.NestedString(v, "configMap", "name"); found {
			return &configRef{Name: name}
		}
		if name, found, _ := unstructured.NestedString(v, "secret", "secretName"); found {
			return &configRef{Name: name, Secret: true}
		}
	}
	return nil
}

// stamp names body's revision, a digest of its pod template, and records
// it (and what it runs) on the workload and its pod template.
func stamp(body map[string]any, image, version, change string) string {
	unstructured.RemoveNestedField(body, "spec", "template", "metadata", "annotations", AnnRevision)
	rev := templateDigest(body)
	ann, _, _ := unstructured.NestedStringMap(body, "spec", "template", "metadata", "annotations")
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnRevision] = rev
	_ = unstructured.SetNestedStringMap(body, ann, "spec", "template", "metadata", "annotations")
	u := &unstructured.Unstructured{Object: body}
	meta := u.GetAnnotations()
	if meta == nil {
		meta = map[string]string{}
	}
	meta[AnnRevision], meta[AnnImage], meta[AnnVersion], meta[AnnChangeID] = rev, image, version, change
	u.SetAnnotations(meta)
	return rev
}

// templateDigest is the digest of body's pod template without its
// revision annotation: 12 hex digits.
func templateDigest(body map[string]any) string {
	tmpl, _, _ := unstructured.NestedMap(body, "spec", "template")
	unstructured.RemoveNestedField(tmpl, "metadata", "annotations", AnnRevision)
	b, _ := json.Marshal(tmpl) // map keys marshal sorted: a stable digest
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// liveRevision is the revision a live workload's template runs: the one
// Meridian recorded, or, for a template Meridian did not apply, its
// digest as "live-<digest>".
func liveRevision(live map[string]any) string {
	if rev, _, _ := unstructured.NestedString(live, "spec", "template", "metadata", "annotations", AnnRevision); rev != "" {
		return rev
	}
	return "live-" + templateDigest(live)
}

// mainImage splits the image of a body's main container (named after the
// service, else the first) into repository and tag.
func mainImage(body map[string]any, service string) (image, version string) {
	containers, _, _ := unstructured.NestedSlice(body, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		return "", ""
	}
	c := containers[0].(map[string]any)
	for _, x := range containers {
		if x.(map[string]any)["name"] == service {
			c = x.(map[string]any)
		}
	}
	ref, _ := c["image"].(string)
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") && !strings.Contains(ref, "@") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// appliable is a live object as an apply body: what its owners set,
// without status and server-managed metadata.
func appliable(live map[string]any) map[string]any {
	body := deepCopy(live)
	delete(body, "status")
	u := &unstructured.Unstructured{Object: body}
	meta := map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()}
	if l := u.GetLabels(); len(l) > 0 {
		meta["labels"] = toAny(l)
	}
	ann := u.GetAnnotations()
	delete(ann, "deployment.kubernetes.io/revision")
	delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
	if len(ann) > 0 {
		meta["annotations"] = toAny(ann)
	}
	body["metadata"] = meta
	unstructured.RemoveNestedField(body, "spec", "template", "metadata", "creationTimestamp")
	return body
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func deepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}
