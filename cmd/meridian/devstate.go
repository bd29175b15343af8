package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// What `meridian dev` leaves on this machine: the local provider's state
// directory, which one dev at a time owns through a lock file, and the
// local instances, which outlive the dev that started them.

// devLockFile, in the local state directory, is locked (flock) by the
// `meridian dev` or `meridian dev --down` that owns the directory, and
// holds its pid. The kernel drops the lock when the process ends, however
// it ends.
const devLockFile = "dev.lock"

// lockState takes the lock of the local state directory dir, creating
// dir. When another process holds it, holder is that process's pid and
// unlock is nil.
func lockState(dir string) (unlock func(), holder string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("local state %s: %w", dir, unwrapPathError(err))
	}
	f, err := os.OpenFile(filepath.Join(dir, devLockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("local state %s: %w", dir, unwrapPathError(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, strings.TrimSpace(string(pid)), nil
		}
		return nil, "", fmt.Errorf("local state %s: lock: %w", dir, err)
	}
	// The pid is only for the message of the next one to try.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Truncate(0); f.Close() }, "", nil
}

// unwrapPathError drops the path and operation that the message already names.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// runningInstances counts, per service, the local instances recorded in
// dir's state.json (see docs/local-provider.md) whose process is alive.
func runningInstances(dir string) (map[string]int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local state: %w", err)
	}
	var state struct {
		Targets map[string]struct {
			Target    struct{ Service string }
			Instances []struct{ PID int }
		}
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, fmt.Errorf("local state %s: %w", filepath.Join(dir, "state.json"), err)
	}
	n := map[string]int{}
	for _, ts := range state.Targets {
		for _, in := range ts.Instances {
			if in.PID > 0 && syscall.Kill(in.PID, 0) == nil {
				n[ts.Target.Service]++
			}
		}
	}
	return n, nil
}

// instanceCount words per-service counts, services by name,
// "3 local instances (cache ×1, web ×2)", and adds them up.
func instanceCount(n map[string]int) (words string, total int) {
	var each []string
	for _, svc := range slices.Sorted(maps.Keys(n)) {
		total += n[svc]
		each = append(each, fmt.Sprintf("%s ×%d", svc, n[svc]))
	}
	return fmt.Sprintf("%s (%s)", plural(total, "local instance"), strings.Join(each, ", ")), total
}
