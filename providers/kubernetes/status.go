package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// defaultProgressDeadline is a StatefulSet's progress deadline when its
// meridian.dev/progress-deadline annotation does not set one; a
// Deployment's is its own progressDeadlineSeconds.
const defaultProgressDeadline = 10 * time.Minute

// judge reads a live workload's rollout as `kubectl rollout status` does,
// and fails it early when a pod of the live revision cannot start.
func judge(ctx context.Context, c kubernetes.Interface, w workload, live map[string]any) (driver.Status, error) {
	var st driver.Status
	var selector *metav1.LabelSelector
	if w.kind == "StatefulSet" {
		var s appsv1.StatefulSet
		if err := fromMap(live, &s); err != nil {
			return driver.Status{}, err
		}
		st, selector = statefulSetStatus(&s, time.Now()), s.Spec.Selector
	} else {
		var dep appsv1.Deployment
		if err := fromMap(live, &dep); err != nil {
			return driver.Status{}, err
		}
		st, selector = deploymentStatus(&dep), dep.Spec.Selector
	}
	if st.State != driver.StateProgressing {
		return st, nil
	}
	pods, err := podsOf(ctx, c, w, selector)
	if err != nil {
		return driver.Status{}, err
	}
	rev := liveRevision(live)
	for _, p := range pods {
		if p.Annotations[AnnRevision] != rev {
			continue
		}
		if why := cannotStart(&p); why != "" {
			st.State, st.Reason = driver.StateFailed, why
			return st, nil
		}
	}
	return st, nil
}

// deploymentStatus is kubectl's judgement of a Deployment's rollout.
func deploymentStatus(d *appsv1.Deployment) driver.Status {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	s := d.Status
	st := driver.Status{State: driver.StateProgressing, Desired: int(desired), Ready: int(min(s.AvailableReplicas, s.UpdatedReplicas))}
	if d.Generation > s.ObservedGeneration {
		st.Reason = "waiting for the deployment's spec update to be observed"
		return st
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			st.State, st.Reason = driver.StateFailed, fmt.Sprintf("deployment %s exceeded its progress deadline: %s", d.Name, c.Message)
			return st
		}
	}
	switch {
	case s.UpdatedReplicas < desired:
		st.Reason = fmt.Sprintf("%d of %d new replicas updated", s.UpdatedReplicas, desired)
	case s.Replicas > s.UpdatedReplicas:
		st.Reason = fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < s.UpdatedReplicas:
		st.Reason = fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas)
	default:
		st.State, st.Reason = driver.StateReady, ""
	}
	return st
}

// statefulSetStatus is kubectl's judgement of a StatefulSet's rollout,
// with the progress deadline StatefulSets lack: a rollout not done
// within it since Meridian applied the revision fails.
func statefulSetStatus(s *appsv1.StatefulSet, now time.Time) driver.Status {
	desired := int32(1)
	if s.Spec.Replicas != nil {
		desired = *s.Spec.Replicas
	}
	ss := s.Status
	st := driver.Status{State: driver.StateProgressing, Desired: int(desired), Ready: int(min(ss.ReadyReplicas, ss.UpdatedReplicas))}
	if s.Spec.UpdateStrategy.Type != "" && s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		st.State, st.Reason = driver.StateFailed, fmt.Sprintf("statefulset %s: update strategy %s: Meridian rolls out RollingUpdate StatefulSets only", s.Name, s.Spec.UpdateStrategy.Type)
		return st
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	switch {
	case ss.ObservedGeneration == 0 || s.Generation > ss.ObservedGeneration:
		st.Reason = "waiting for the statefulset's spec update to be observed"
	case ss.ReadyReplicas < desired:
		st.Reason = fmt.Sprintf("%d of %d pods ready", ss.ReadyReplicas, desired)
	case partition > 0 && ss.UpdatedReplicas < desired-partition:
		st.Reason = fmt.Sprintf("%d of %d pods updated (partition %d)", ss.UpdatedReplicas, desired-partition, partition)
	case partition == 0 && ss.UpdateRevision != ss.CurrentRevision:
		st.Reason = fmt.Sprintf("%d of %d pods at revision %s", ss.UpdatedReplicas, desired, ss.UpdateRevision)
	default:
		st.State, st.Reason, st.Ready = driver.StateReady, "", int(desired)
		return st
	}
	deadline := defaultProgressDeadline
	if d, err := time.ParseDuration(s.Annotations[AnnProgressTime]); err == nil && d > 0 {
		deadline = d
	}
	if at, err := time.Parse(time.RFC3339, s.Annotations[AnnDeployedAt]); err == nil && now.Sub(at) > deadline {
		st.State, st.Reason = driver.StateFailed, fmt.Sprintf("statefulset %s exceeded its progress deadline (%s): %s", s.Name, deadline, st.Reason)
	}
	return st
}

// cannotStart names why a pod's container cannot start, "" when nothing
// says it cannot.
func cannotStart(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerError", "CreateContainerConfigError":
				return fmt.Sprintf("pod %s: container %s: %s: %s", p.Name, cs.Name, w.Reason, w.Message)
			}
		}
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" {
			return fmt.Sprintf("pod %s: container %s was OOMKilled", p.Name, cs.Name)
		}
	}
	return ""
}

// troubled names what is wrong with a running pod for the workload gate:
// a container that restarted, crash-loops or was OOM-killed.
func troubled(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount == 0 {
			continue
		}
		why := fmt.Sprintf("pod %s: container %s restarted %d time(s)", p.Name, cs.Name, cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil {
			why += fmt.Sprintf(" (last exit: %s, code %d)", t.Reason, t.ExitCode)
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			why += ", now " + w.Reason
		}
		return why
	}
	return cannotStart(p)
}

// podsOf lists the workload's pods that are not being deleted, by name.
func podsOf(ctx context.Context, c kubernetes.Interface, w workload, selector *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel := labels.Set{LabelWorkload: w.name}.AsSelector()
	if selector != nil {
		s, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return nil, err
		}
		sel = s
	}
	list, err := c.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, wrapf(err, "listing %s's pods", w)
	}
	pods := slices.DeleteFunc(list.Items, func(p corev1.Pod) bool {
		return p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// liveSelector is a live workload's pod selector.
func liveSelector(live map[string]any) *metav1.LabelSelector {
	var s struct {
		Spec struct {
			Selector *metav1.LabelSelector `json:"selector"`
		} `json:"spec"`
	}
	_ = fromMap(live, &s)
	return s.Spec.Selector
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// deleteStuckPods deletes the pods not at rev that are not ready.
func (d *Driver) deleteStuckPods(ctx context.Context, c kubernetes.Interface, w workload, rev string) error {
	live, err := getLive(ctx, c, w)
	if err != nil || live == nil {
		return err
	}
	pods, err := podsOf(ctx, c, w, liveSelector(live))
	if err != nil {
		return err
	}
	for _, p := range pods {
		if p.Annotations[AnnRevision] != rev && !podReady(&p) {
			err := c.CoreV1().Pods(w.namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return wrapf(err, "deleting stuck pod %s", p.Name)
			}
		}
	}
	return nil
}
