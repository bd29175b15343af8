package processnode

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
)

// pod runs one pod's containers.
type pod struct {
	node    *Node
	key     string // namespace/name
	uid     types.UID
	spec    *corev1.Pod
	ip      string
	dir     string
	once    sync.Once
	cancel  context.CancelFunc
	stopped chan struct{} // closed once every container stopped for good
	dirty   chan struct{} // the status changed and is not reported yet

	mu         sync.Mutex // guards the fields below and the containers' state
	containers []*container
	startTime  metav1.Time
	readySince metav1.Time // when Ready last changed
	ready      bool
}

// container is one container's process and what the node reports of it.
type container struct {
	spec     corev1.Container
	proc     *os.Process
	started  metav1.Time // when the running process started; zero while none runs
	ready    bool
	restarts int32
	waiting  *corev1.ContainerStateWaiting
	last     *corev1.ContainerStateTerminated
	pid      int
}

// start starts the pod's containers once.
func (p *pod) start() {
	p.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		p.dirty = make(chan struct{}, 1)
		p.startTime = metav1.Now()
		for _, c := range p.spec.Spec.Containers {
			p.containers = append(p.containers, &container{spec: c,
				waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}})
		}
		p.node.logf("pod %s: starting on %s", p.key, p.ip)
		var wg sync.WaitGroup
		for _, c := range p.containers {
			wg.Go(func() { p.run(ctx, c) })
		}
		reported := make(chan struct{})
		go func() { p.report(ctx); close(reported) }()
		go func() { wg.Wait(); cancel(); <-reported; close(p.stopped) }()
		p.changed()
	})
}

// stop ends the pod's processes: SIGTERM, then SIGKILL after grace.
func (p *pod) stop(grace time.Duration) {
	p.once.Do(func() { close(p.stopped) }) // never started: nothing runs
	if p.cancel == nil {
		return
	}
	p.mu.Lock()
	for _, c := range p.containers {
		if c.proc != nil {
			_ = c.proc.Signal(syscall.SIGTERM)
		}
	}
	p.mu.Unlock()
	timer := time.AfterFunc(grace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.containers {
			if c.proc != nil {
				_ = c.proc.Kill()
			}
		}
	})
	defer timer.Stop()
	p.cancel()
	<-p.stopped
	p.node.logf("pod %s: stopped", p.key)
}

// changed asks the reporter to send the pod's status.
func (p *pod) changed() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// run runs one container until ctx ends, restarting its process when it
// exits, with a growing back-off.
func (p *pod) run(ctx context.Context, c *container) {
	backoff := p.node.opts.Backoff
	for ctx.Err() == nil {
		cmd, err := p.command(ctx, c.spec)
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			p.wait(ctx, c, &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}, backoff)
			backoff = min(2*backoff, p.node.opts.MaxBackoff)
			continue
		}
		began := time.Now()
		p.mu.Lock()
		c.proc, c.pid, c.started, c.waiting, c.ready = cmd.Process, cmd.Process.Pid, metav1.Now(), nil, false
		p.mu.Unlock()
		p.node.logf("pod %s: container %s started, pid %d", p.key, c.spec.Name, cmd.Process.Pid)
		p.changed()
		probes, stopProbes := context.WithCancel(ctx)
		var probing sync.WaitGroup
		probing.Go(func() { p.probe(probes, c) })
		err = cmd.Wait()
		stopProbes()
		probing.Wait()
		p.exited(c, cmd, err)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 2*p.node.opts.MaxBackoff {
			backoff = p.node.opts.Backoff // it ran for a while: start again quickly
		}
		p.wait(ctx, c, &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backoff, c.spec.Name, p.spec.Name)}, backoff)
		backoff = min(2*backoff, p.node.opts.MaxBackoff)
	}
}

// exited records a container's exit, counted as a restart.
func (p *pod) exited(c *container, cmd *exec.Cmd, err error) {
	code, reason := int32(0), "Completed"
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code, reason = 128+int32(ws.Signal()), "Error"
	} else if err != nil {
		code, reason = int32(cmd.ProcessState.ExitCode()), "Error"
	}
	p.mu.Lock()
	c.last = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: c.started, FinishedAt: metav1.Now(),
		ContainerID: containerID(c.pid)}
	c.proc, c.started, c.ready = nil, metav1.Time{}, false
	c.restarts++
	p.mu.Unlock()
	p.node.logf("pod %s: container %s exited, code %d", p.key, c.spec.Name, code)
	p.changed()
}

// wait reports the container waiting and sleeps d, or until ctx ends.
func (p *pod) wait(ctx context.Context, c *container, w *corev1.ContainerStateWaiting, d time.Duration) {
	p.mu.Lock()
	c.waiting = w
	p.mu.Unlock()
	p.changed()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// probe runs the container's readiness and liveness probes while its
// process runs; without a readiness probe it is ready once started.
func (p *pod) probe(ctx context.Context, c *container) {
	var wg sync.WaitGroup
	if rp := c.spec.ReadinessProbe; rp != nil {
		wg.Go(func() { p.every(ctx, c, rp, func(ok bool) { p.setReady(c, ok) }) })
	} else {
		p.setReady(c, true)
	}
	if lp := c.spec.LivenessProbe; lp != nil {
		wg.Go(func() {
			p.every(ctx, c, lp, func(ok bool) {
				if !ok {
					p.mu.Lock()
					if c.proc != nil {
						_ = c.proc.Kill() // run restarts it
					}
					p.mu.Unlock()
				}
			})
		})
	}
	wg.Wait()
}

// every runs probe pr on its period and calls verdict whenever its
// thresholds turn it one way or the other.
func (p *pod) every(ctx context.Context, c *container, pr *corev1.Probe, verdict func(ok bool)) {
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	failures, successes := max(pr.FailureThreshold, 1), max(pr.SuccessThreshold, 1)
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	}
	var ok, bad int32
	for {
		if p.check(ctx, c, pr, timeout) {
			ok, bad = ok+1, 0
			if ok == successes {
				verdict(true)
			}
		} else {
			ok, bad = 0, bad+1
			if bad == failures {
				verdict(false)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

// check runs one HTTP GET or TCP probe against the pod IP.
func (p *pod) check(ctx context.Context, c *container, pr *corev1.Probe, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		port, ok := containerPort(c.spec, pr.HTTPGet.Port)
		if !ok {
			return false
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(p.ip, strconv.Itoa(port))+pr.HTTPGet.Path, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case pr.TCPSocket != nil:
		port, ok := containerPort(c.spec, pr.TCPSocket.Port)
		if !ok {
			return false
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(p.ip, strconv.Itoa(port)))
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	return true // a probe kind the node does not run passes
}

// containerPort resolves a probe's port, a number or a port's name.
func containerPort(c corev1.Container, port intstr.IntOrString) (int, bool) {
	if port.Type == intstr.Int {
		return port.IntValue(), true
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), true
		}
	}
	return 0, false
}

func (p *pod) setReady(c *container, ready bool) {
	p.mu.Lock()
	changed := c.ready != ready && c.proc != nil
	if changed {
		c.ready = ready
	}
	p.mu.Unlock()
	if changed {
		p.changed()
	}
}

// report sends the pod's status to the apiserver whenever it changes,
// until ctx ends and the last change is sent.
func (p *pod) report(ctx context.Context) {
	for {
		select {
		case <-p.dirty:
		case <-ctx.Done():
			return
		}
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			cur, err := p.node.client.CoreV1().Pods(p.spec.Namespace).Get(ctx, p.spec.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.UID != p.uid {
				return apierrors.NewNotFound(corev1.Resource("pods"), p.spec.Name)
			}
			cur.Status = p.status(cur.Status)
			_, err = p.node.client.CoreV1().Pods(p.spec.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		switch {
		case apierrors.IsNotFound(err), ctx.Err() != nil:
		case err != nil:
			p.node.logf("pod %s: reporting status: %v", p.key, err)
			p.changed()
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// status is the pod's status now; prev keeps what the node does not own.
func (p *pod) status(prev corev1.PodStatus) corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := corev1.PodStatus{
		Phase: corev1.PodPending, HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}}, StartTime: &p.startTime, QOSClass: prev.QOSClass,
	}
	ready := len(p.containers) > 0
	for _, c := range p.containers {
		cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "process://" + imageBinary(c.spec.Image),
			Ready: c.ready, RestartCount: c.restarts, LastTerminationState: corev1.ContainerState{Terminated: c.last}}
		started := !c.started.IsZero()
		cs.Started = &started
		if started {
			s.Phase = corev1.PodRunning
			cs.ContainerID = containerID(c.pid)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: c.started}
		} else {
			cs.State.Waiting = c.waiting
		}
		if c.restarts > 0 || started {
			s.Phase = corev1.PodRunning
		}
		ready = ready && c.ready
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	if ready != p.ready || p.readySince.IsZero() {
		p.ready, p.readySince = ready, metav1.Now()
	}
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	since := p.startTime
	s.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: since},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: since},
		{Type: corev1.ContainersReady, Status: readyStatus, LastTransitionTime: p.readySince},
		{Type: corev1.PodReady, Status: readyStatus, LastTransitionTime: p.readySince},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: since},
	}
	return s
}

func containerID(pid int) string { return "process://" + strconv.Itoa(pid) }

// command builds a container's process: its image's binary, arguments and
// environment (see the package doc).
func (p *pod) command(ctx context.Context, c corev1.Container) (*exec.Cmd, error) {
	bin, err := p.binary(c.Image)
	if err != nil {
		return nil, err
	}
	mounts, err := p.volumes(ctx, c)
	if err != nil {
		return nil, err
	}
	env, err := p.env(ctx, c, mounts)
	if err != nil {
		return nil, err
	}
	var args []string
	if len(c.Command) > 1 {
		args = append(args, c.Command[1:]...)
	}
	args = append(args, c.Args...)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for i, a := range args {
		args[i] = mounts.rewrite(expand(a, vars))
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(p.dir, c.Name+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.dir}, env...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	go func() { <-ctx.Done(); log.Close() }()
	return cmd, nil
}

// binary resolves an image to the program that runs it.
func (p *pod) binary(image string) (string, error) {
	name := imageBinary(image)
	if dir := p.node.opts.BinDir; dir != "" {
		if path := filepath.Join(dir, name); isExecutable(path) {
			return path, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("image %s: no program %s in %s or $PATH", image, name, p.node.opts.BinDir)
	}
	return path, nil
}

// imageBinary is the program an image names: its last path element
// without tag or digest.
func imageBinary(image string) string {
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	return name
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// mounts maps a container's volume mount paths to the directories that
// hold them.
type mounts [][2]string // mount path, directory: longest path first

func (m mounts) rewrite(s string) string {
	for _, pd := range m {
		s = strings.ReplaceAll(s, pd[0], pd[1])
	}
	return s
}

// volumes writes the pod's ConfigMap and Secret volumes that c mounts and
// returns c's mounts.
func (p *pod) volumes(ctx context.Context, c corev1.Container) (mounts, error) {
	var m mounts
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(p.spec.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 || vm.MountPath == "/" {
			continue
		}
		v := p.spec.Spec.Volumes[i]
		dir := filepath.Join(p.dir, "volumes", v.Name)
		files, err := p.volumeFiles(ctx, v)
		if err != nil {
			return nil, err
		}
		if files == nil && v.EmptyDir == nil {
			continue // a kind the node does not provide
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), data, 0o600); err != nil {
				return nil, err
			}
		}
		m = append(m, [2]string{vm.MountPath, filepath.Join(dir, vm.SubPath)})
	}
	slices.SortFunc(m, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	return m, nil
}

// volumeFiles reads the files of a ConfigMap or Secret volume; nil for
// other kinds.
func (p *pod) volumeFiles(ctx context.Context, v corev1.Volume) (map[string][]byte, error) {
	var data map[string][]byte
	var items []corev1.KeyToPath
	var optional *bool
	switch {
	case v.ConfigMap != nil:
		items, optional = v.ConfigMap.Items, v.ConfigMap.Optional
		cm, err := p.node.client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, orOptional(err, optional, "configmap "+v.ConfigMap.Name)
		}
		data = map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
	case v.Secret != nil:
		items, optional = v.Secret.Items, v.Secret.Optional
		s, err := p.node.client.CoreV1().Secrets(p.spec.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			return nil, orOptional(err, optional, "secret "+v.Secret.SecretName)
		}
		data = s.Data
	default:
		return nil, nil
	}
	if len(items) == 0 {
		return data, nil
	}
	picked := map[string][]byte{}
	for _, it := range items {
		picked[it.Path] = data[it.Key]
	}
	return picked, nil
}

func orOptional(err error, optional *bool, what string) error {
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// env is a container's environment, NAME=value, in its order.
func (p *pod) env(ctx context.Context, c corev1.Container, m mounts) ([]string, error) {
	vars := map[string]string{}
	var env []string
	set := func(k, v string) {
		vars[k] = v
		env = append(env, k+"="+m.rewrite(v))
	}
	for _, from := range c.EnvFrom {
		data, err := p.source(ctx, from.ConfigMapRef, from.SecretRef)
		if err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		v, err := p.value(ctx, e, vars)
		if err != nil {
			return nil, err
		}
		set(e.Name, v)
	}
	return env, nil
}

// value resolves one environment variable.
func (p *pod) value(ctx context.Context, e corev1.EnvVar, vars map[string]string) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return expand(e.Value, vars), nil
	case from.FieldRef != nil:
		switch from.FieldRef.FieldPath {
		case "metadata.name":
			return p.spec.Name, nil
		case "metadata.namespace":
			return p.spec.Namespace, nil
		case "metadata.uid":
			return string(p.spec.UID), nil
		case "status.podIP":
			return p.ip, nil
		case "spec.nodeName":
			return p.node.opts.Name, nil
		case "status.hostIP":
			return "127.0.0.1", nil
		}
		return "", fmt.Errorf("env %s: field %s is not provided by this node", e.Name, from.FieldRef.FieldPath)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := p.source(ctx, &corev1.ConfigMapEnvSource{LocalObjectReference: ref.LocalObjectReference, Optional: ref.Optional}, nil)
		return data[ref.Key], err
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := p.source(ctx, nil, &corev1.SecretEnvSource{LocalObjectReference: ref.LocalObjectReference, Optional: ref.Optional})
		return data[ref.Key], err
	}
	return "", fmt.Errorf("env %s: a source this node does not provide", e.Name)
}

// source reads a ConfigMap's or Secret's keys.
func (p *pod) source(ctx context.Context, cmRef *corev1.ConfigMapEnvSource, sRef *corev1.SecretEnvSource) (map[string]string, error) {
	if cmRef != nil {
		cm, err := p.node.client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, cmRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, orOptional(err, cmRef.Optional, "configmap "+cmRef.Name)
		}
		return cm.Data, nil
	}
	if sRef != nil {
		s, err := p.node.client.CoreV1().Secrets(p.spec.Namespace).Get(ctx, sRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, orOptional(err, sRef.Optional, "secret "+sRef.Name)
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

// expand replaces $(VAR) with vars' value as Kubernetes does: $$ is a
// literal $, and a reference to a variable not set stays as written.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
