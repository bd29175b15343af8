package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is a process this Driver started; done closes once it has exited
// and been reaped.
type proc struct {
	done chan struct{}
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// pidAlive reports whether a process this Driver did not start (one it
// adopted) still runs.
func pidAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// alive reports whether the instance's process runs.
func (p *Driver) alive(pid int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.aliveLocked(pid)
}

// aliveLocked is alive with p.mu held.
func (p *Driver) aliveLocked(pid int) bool {
	if pr := p.procs[pid]; pr != nil {
		select {
		case <-pr.done:
			return false
		default:
			return true
		}
	}
	return pidAlive(pid)
}

// identify checks that the process on the instance's port is that instance.
func identify(ctx context.Context, in *instance) error {
	var info struct {
		Instance string `json:"instance"`
		PID      int    `json:"pid"`
	}
	if err := getJSON(ctx, "http://"+in.address()+"/", &info); err != nil {
		return err
	}
	if info.Instance != in.ID || info.PID != in.PID {
		return fmt.Errorf("port %d serves instance %q (pid %d), not %s (pid %d)", in.Port, info.Instance, info.PID, in.ID, in.PID)
	}
	return nil
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// probe GETs path on the instance and returns the status code and a short
// body, or an error when nothing answered.
func probe(ctx context.Context, in *instance, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.address()+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// launch starts the instance's process on a free port (keeping its port
// when it has one) and records its pid in the saved state at once, so that
// a crash of this process never leaves an instance that state.json omits.
func (p *Driver) launch(tid string, in *instance, rev *revision) error {
	bin, err := p.binary(rev.Image)
	if err != nil {
		return err
	}
	p.mu.Lock()
	port := in.Port
	p.mu.Unlock()
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
		p.mu.Lock()
		in.Port = port
		p.mu.Unlock()
	}
	if err := os.MkdirAll(p.dir(tid), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(p.dir(tid), in.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin,
		"--addr", in.address(),
		"--version", rev.Version,
		"--config", p.configPath(tid),
		"--instance", in.ID)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C meant for `meridian dev` does not reach
	// the fleet, which Shutdown stops in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	pr := &proc{done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(pr.done)
	}()
	p.mu.Lock()
	p.procs[cmd.Process.Pid] = pr
	in.PID = cmd.Process.Pid
	in.Revision = rev.ID
	p.saveLocked()
	p.mu.Unlock()
	return nil
}

// stop ends the process with SIGTERM, then SIGKILL after 5 seconds or when
// ctx ends, and waits for it to go.
func (p *Driver) stop(ctx context.Context, pid int) {
	if pid == 0 {
		return
	}
	p.mu.Lock()
	pr := p.procs[pid]
	p.mu.Unlock()
	syscall.Kill(pid, syscall.SIGTERM)
	grace, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gone := func() bool { return !p.alive(pid) }
	if pr != nil {
		select {
		case <-pr.done:
		case <-grace.Done():
		}
	} else {
		pollUntil(grace, 20*time.Millisecond, gone)
	}
	if !gone() {
		syscall.Kill(pid, syscall.SIGKILL)
		if pr != nil {
			<-pr.done
		} else {
			pollUntil(context.Background(), 20*time.Millisecond, gone)
		}
	}
	p.mu.Lock()
	delete(p.procs, pid)
	p.mu.Unlock()
}

// pollUntil calls cond every interval until it holds or ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
	return true
}

// errExited marks an instance whose process exited while starting.
var errExited = errors.New("exited")

// waitReady waits until the instance answers /healthz with 200. It fails
// when the process exits, after FailureThreshold consecutive other answers,
// or after ReadyTimeout.
func (p *Driver) waitReady(ctx context.Context, tid string, in *instance) error {
	deadline, cancel := context.WithTimeout(ctx, p.opts.ReadyTimeout)
	defer cancel()
	bad := 0
	var last string
	for {
		if !p.alive(in.PID) {
			return fmt.Errorf("instance %s %w: %s: %w", in.ID, errExited, p.logTail(tid, in.ID), errFailed)
		}
		code, body, err := probe(deadline, in, "/healthz")
		switch {
		case err == nil && code == http.StatusOK:
			return nil
		case err == nil:
			bad++
			last = fmt.Sprintf("/healthz answered %d: %s", code, body)
			if bad >= p.opts.FailureThreshold {
				return fmt.Errorf("instance %s: %s: %w", in.ID, last, errFailed)
			}
		default:
			bad = 0
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.Done():
			return fmt.Errorf("instance %s not ready after %v (%s): %w", in.ID, p.opts.ReadyTimeout, last, errFailed)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// start launches the instance and waits until it is ready, trying another
// port when the process exits at once (its port was taken meanwhile).
func (p *Driver) start(ctx context.Context, tid string, in *instance, rev *revision) error {
	var err error
	for range 3 {
		if err = p.launch(tid, in, rev); err != nil {
			return err
		}
		if err = p.waitReady(ctx, tid, in); err == nil || !errors.Is(err, errExited) || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		p.mu.Lock()
		in.Port, in.PID = 0, 0
		p.mu.Unlock()
	}
	if err != nil {
		p.stop(context.Background(), in.PID)
		p.mu.Lock()
		in.PID = 0
		p.mu.Unlock()
	}
	return err
}

// logTail returns the last line of the instance's log.
func (p *Driver) logTail(tid, id string) string {
	data, err := os.ReadFile(filepath.Join(p.dir(tid), id+".log"))
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}
