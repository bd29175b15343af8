package kubernetes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod statuses a kubelet writes that the process node never produces
// (it enforces no memory limit): an OOM kill fails the rollout and the
// workload gate, naming the pod, the container and the kill.
func TestPodJudgement(t *testing.T) {
	oomKilled := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}
	tests := []struct {
		name                 string
		status               corev1.ContainerStatus
		cannotStart, trouble string
	}{
		{"ready", corev1.ContainerStatus{Name: "api", Ready: true},
			"", ""},
		{"oom killed, running again", corev1.ContainerStatus{Name: "api", RestartCount: 1, LastTerminationState: oomKilled},
			"pod api-0: container api was OOMKilled", "pod api-0: container api restarted 1 time(s) (last exit: OOMKilled, code 137)"},
		{"oom killed, backing off", corev1.ContainerStatus{Name: "api", RestartCount: 3, LastTerminationState: oomKilled,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}},
			"pod api-0: container api: CrashLoopBackOff: back-off 40s", "pod api-0: container api restarted 3 time(s) (last exit: OOMKilled, code 137), now CrashLoopBackOff"},
		{"image not found", corev1.ContainerStatus{Name: "api", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}},
			"pod api-0: container api: ImagePullBackOff: not found", "pod api-0: container api: ImagePullBackOff: not found"},
	}
	for _, tt := range tests {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-0"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tt.status}}}
		if got := cannotStart(p); got != tt.cannotStart {
			t.Errorf("%s: cannotStart = %q, want %q", tt.name, got, tt.cannotStart)
		}
		if got := troubled(p); got != tt.trouble {
			t.Errorf("%s: troubled = %q, want %q", tt.name, got, tt.trouble)
		}
	}
}
