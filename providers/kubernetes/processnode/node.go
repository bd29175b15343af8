// Package processnode is a Kubernetes node that runs each pod's containers
// as local processes, for clusters that have no kubelet (package
// kubelocal's). It registers a Node, binds the pods no one has scheduled
// to itself (it is the cluster's only node), and for each pod:
//
//   - gives it its own loopback address as its pod IP (127.x.y.z, x ≥ 1,
//     one whose container ports are free), on which its containers serve;
//   - runs each container's image as a program: the image's last path
//     element without its tag names a binary ("local/meridian-demo:v1" →
//     meridian-demo), looked up in Options.BinDir, then in $PATH; the
//     container's command after its first word, then its args, are the
//     program's arguments, with $(VAR) expanded from its environment;
//   - sets the environment from the container's env: values, the downward
//     API (metadata.name, metadata.namespace, metadata.uid, status.podIP,
//     spec.nodeName) and ConfigMap and Secret keys;
//   - writes its ConfigMap and Secret volumes to a directory of the pod's,
//     and replaces each volume mount's path, wherever it appears in the
//     arguments and environment, with that directory (a process has no
//     filesystem of its own to mount it in);
//   - reports its status truthfully: Running once its processes started,
//     Ready when every container's readiness probe (an HTTP GET on the pod
//     IP) passes, or when it runs where there is no probe; a process that
//     exits, or fails its liveness probe, is restarted with a growing
//     back-off (CrashLoopBackOff while it waits) and counted in
//     restartCount, with the exit in lastState;
//   - on deletion, sends SIGTERM, then SIGKILL after the grace period,
//     and deletes the pod for good once its processes are gone.
//
// Resource limits are recorded, not enforced: no process is ever OOMKilled
// here. Services, networking between pods and other volume kinds are not
// provided.
package processnode

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Options configure Run.
type Options struct {
	// Name is the Node's name (default "meridian-node").
	Name string
	// Dir holds the pods' volumes and their containers' logs.
	Dir string
	// BinDir is where image binaries are looked up first.
	BinDir string
	// Backoff is the first restart back-off of a container that exited,
	// doubled on each further exit up to MaxBackoff (defaults 1s and 10s).
	Backoff, MaxBackoff time.Duration
}

// Node runs the pods bound to it until Stop.
type Node struct {
	opts   Options
	client kubernetes.Interface
	queue  workqueue.TypedRateLimitingInterface[string]
	lister cache.Indexer
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	pods   map[types.UID]*pod // the pods it runs
	nextIP uint32             // the last pod IP handed out, counted from 127.1.0.0
}

// Run registers the node and starts running its pods; it returns once its
// pod cache has synced.
func Run(ctx context.Context, client kubernetes.Interface, opts Options) (*Node, error) {
	if opts.Name == "" {
		opts.Name = "meridian-node"
	}
	if opts.Dir == "" {
		return nil, errors.New("processnode: Options.Dir is required")
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if err := register(ctx, client, opts.Name); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &Node{opts: opts, client: client, cancel: cancel, done: make(chan struct{}), pods: map[types.UID]*pod{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	n.lister = inf.GetIndexer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			n.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		cancel()
		return nil, err
	}
	factory.Start(runCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		cancel()
		factory.Shutdown()
		return nil, fmt.Errorf("processnode: pod cache did not sync: %w", ctx.Err())
	}
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for n.next(runCtx) {
			}
		})
	}
	go func() {
		<-runCtx.Done()
		n.queue.ShutDown()
		workers.Wait()
		factory.Shutdown()
		close(n.done)
	}()
	return n, nil
}

// Stop stops every pod's processes (as a node that loses power: the pods
// stay in the apiserver) and the node itself.
func (n *Node) Stop() {
	n.cancel()
	<-n.done
	n.mu.Lock()
	pods := n.pods
	n.pods = map[types.UID]*pod{}
	n.mu.Unlock()
	for _, p := range pods {
		p.stop(0)
	}
}

// register creates or refreshes the Node, Ready with room for many pods.
func register(ctx context.Context, client kubernetes.Interface, name string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		created, err = client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("processnode: registering node %s: %w", name, err)
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourcePods: resource.MustParse("1000"), corev1.ResourceCPU: resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
	}
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "ProcessNodeReady",
			Message: "processnode runs pods as local processes", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}},
		NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "processnode", OperatingSystem: "linux", Architecture: "amd64"},
	}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("processnode: reporting node %s ready: %w", name, err)
	}
	return nil
}

// next syncs one pod from the queue; false once the queue shut down.
func (n *Node) next(ctx context.Context) bool {
	key, quit := n.queue.Get()
	if quit {
		return false
	}
	defer n.queue.Done(key)
	if err := n.sync(ctx, key); err != nil && ctx.Err() == nil {
		n.queue.AddRateLimited(key)
		return true
	}
	n.queue.Forget(key)
	return true
}

// sync brings one pod's processes in line with its object.
func (n *Node) sync(ctx context.Context, key string) error {
	obj, exists, err := n.lister.GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		n.forget(key)
		return nil
	}
	want := obj.(*corev1.Pod)
	switch {
	case want.Spec.NodeName == "" && want.DeletionTimestamp == nil:
		return n.bind(ctx, want)
	case want.Spec.NodeName != n.opts.Name:
		return nil
	case want.DeletionTimestamp != nil:
		return n.delete(ctx, want)
	}
	n.mu.Lock()
	p := n.pods[want.UID]
	if p == nil && want.Status.Phase != corev1.PodSucceeded && want.Status.Phase != corev1.PodFailed {
		p = n.newPod(want)
		n.pods[want.UID] = p
	}
	n.mu.Unlock()
	if p != nil {
		p.start()
	}
	return nil
}

// bind schedules a pod onto this node, as a scheduler would.
func (n *Node) bind(ctx context.Context, p *corev1.Pod) error {
	err := n.client.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: n.opts.Name},
	}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or bound already: its next event says which
	}
	return err
}

// delete stops a pod being deleted, then removes it for good.
func (n *Node) delete(ctx context.Context, want *corev1.Pod) error {
	n.mu.Lock()
	p := n.pods[want.UID]
	delete(n.pods, want.UID)
	n.mu.Unlock()
	if p != nil {
		grace := 30 * time.Second
		if want.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*want.DeletionGracePeriodSeconds) * time.Second
		}
		p.stop(grace)
	}
	zero := int64(0)
	err := n.client.CoreV1().Pods(want.Namespace).Delete(ctx, want.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &want.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// forget stops the processes of a pod that is gone from the apiserver.
func (n *Node) forget(key string) {
	n.mu.Lock()
	var gone []*pod
	for uid, p := range n.pods {
		if p.key == key {
			gone = append(gone, p)
			delete(n.pods, uid)
		}
	}
	n.mu.Unlock()
	for _, p := range gone {
		p.stop(0)
	}
}

// newPod makes the runner of a pod, with the next free loopback address
// as its IP; the caller holds n.mu.
func (n *Node) newPod(want *corev1.Pod) *pod {
	return &pod{
		node: n, key: want.Namespace + "/" + want.Name, uid: want.UID, spec: want.DeepCopy(), ip: n.podIP(want),
		dir: filepath.Join(n.opts.Dir, string(want.UID)), stopped: make(chan struct{}),
	}
}

// podIP hands out loopback addresses in 127.1.0.1–127.254.255.254 in
// turn, from a random start so that nodes of several processes on one
// machine rarely meet, skipping any on which a port of the pod's
// containers is taken (another node's pod); the caller holds n.mu.
func (n *Node) podIP(want *corev1.Pod) string {
	const first, size = 1 << 16, 254 << 16 // 127.1.0.0 and the addresses after it
	if n.nextIP == 0 {
		n.nextIP = uint32(rand.IntN(size))
	}
	for {
		n.nextIP = (n.nextIP + 1) % size
		a := first + n.nextIP
		if byte(a) == 0 || byte(a) == 255 {
			continue
		}
		ip := net.IPv4(127, byte(a>>16), byte(a>>8), byte(a)).String()
		if portsFree(ip, want) {
			return ip
		}
	}
}

// portsFree reports whether every container port of the pod can be bound
// on ip.
func portsFree(ip string, p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(cp.ContainerPort))))
			if err != nil {
				return false
			}
			ln.Close()
		}
	}
	return true
}

// logf records what the node did to a pod in Dir/node.log.
func (n *Node) logf(format string, args ...any) {
	f, err := os.OpenFile(filepath.Join(n.opts.Dir, "node.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, time.Now().Format(time.RFC3339Nano)+" "+format+"\n", args...)
}
