package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the cluster, which can be killed and started
// again with the same command line and environment.
type Proc struct {
	// Name is unique in the cluster: temporal-server, web-ui,
	// control-1, worker-aws-us-gov…
	Name string
	// Boundary is the cloud/boundary a boundary worker serves, "" for the
	// others.
	Boundary string

	bin   string
	args  []string
	env   []string
	log   string
	ready func(ctx context.Context, p *Proc) error // nil: ready once started

	mu     sync.Mutex
	pid    int
	pids   []int         // every pid it has run as
	exited chan struct{} // closed when the current run ends; nil for an adopted process
}

// NewProc is a process outside a cluster (the soak's meridian dev):
// bin with args and env, its output in log, ready when ready says (nil:
// once started).
func NewProc(name, bin string, args, env []string, log string, ready func(ctx context.Context, p *Proc) error) *Proc {
	return &Proc{Name: name, bin: bin, args: args, env: env, log: log, ready: ready}
}

// Start runs the process and waits until it is ready.
func (p *Proc) Start(ctx context.Context) error { return p.start(ctx) }

// adopt is a process another command started, known only by its pid.
func adopt(ps procState) *Proc { return &Proc{Name: ps.Name, pid: ps.Pid, log: ps.Log} }

// Pid is the pid of the current run.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Pids are every pid the process has run as, restarts included: the
// identities of its workers' activities start with one of them.
func (p *Proc) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.pids...)
}

// Log is the file its output goes to.
func (p *Proc) Log() string { return p.log }

// start runs the process in its own session, its output appended to its
// log, and waits until it is ready. If it exits first, the error is the
// last line of its log.
func (p *Proc) start(ctx context.Context) error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.pid, p.exited = cmd.Process.Pid, exited
	p.pids = append(p.pids, cmd.Process.Pid)
	p.mu.Unlock()
	if p.ready == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := p.ready(ctx, p); err != nil {
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %s (log: %s)", p.Name, lastLogLine(p.log), p.log)
		default:
			return fmt.Errorf("%s is not ready: %w (log: %s)", p.Name, err, p.log)
		}
	}
	return nil
}

// Alive reports whether the current run is still running.
func (p *Proc) Alive() bool {
	p.mu.Lock()
	pid, exited := p.pid, p.exited
	p.mu.Unlock()
	if exited != nil {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	// An exited child not yet reaped by its new parent is a zombie.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL, time.Minute) }

// Stop asks the process to stop (SIGTERM) and kills it after grace.
func (p *Proc) Stop(grace time.Duration) {
	if !p.signal(syscall.SIGTERM, grace) {
		p.Kill()
	}
}

// signal sends sig and reports whether the process ended within wait.
func (p *Proc) signal(sig syscall.Signal, wait time.Duration) bool {
	pid := p.Pid()
	if pid <= 0 || !p.Alive() {
		return true
	}
	_ = syscall.Kill(pid, sig)
	deadline := time.Now().Add(wait)
	for p.Alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Restart kills the process if it runs and starts it again, ready.
func (p *Proc) Restart(ctx context.Context) error {
	p.Kill()
	return p.start(ctx)
}

// baseEnv is the part of this process's environment every child gets:
// what finds programs and a home, nothing that could be a credential.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// lastLogLine is the last non-empty line of a log file.
func lastLogLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLine(b, errors.New("no output"))
}

// lastLine is the last non-empty line of out, or err's text if none.
func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}

func appendFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}
