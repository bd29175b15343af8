package placement_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

const tinySpec = `package fleet

environments: prod: aws: regions: ["us-east-1"]
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: billing: {
	owner: "payments"
	artifact: image: "registry.example.com/billing"
	placement: clouds: ["aws"]
	pipeline: "standard"
}
`

// loadErr loads dir, which must fail within a few seconds, and returns
// its error.
func loadErr(t *testing.T, dir string) string {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := placement.Load(dir)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Load succeeded, want an error")
		}
		return err.Error()
	case <-time.After(10 * time.Second):
		t.Fatal("Load still runs after 10s")
	}
	return ""
}

// The loader reads only regular files inside the spec directory, each
// bounded: a symlink or a special file is refused by name, never followed
// or echoed.
func TestLoadReadsOnlyRegularFilesInsideTheDirectory(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "credentials")
	write(t, outside, "[default]\naws_secret_access_key = TOPSECRETVALUE\n")
	cases := map[string]struct {
		make func(t *testing.T, dir string)
		want string
	}{
		"symlink to /dev/zero": {func(t *testing.T, dir string) {
			symlink(t, "/dev/zero", filepath.Join(dir, "zero.cue"))
		}, "zero.cue: symlink to a file outside the spec directory"},
		"symlink outside": {func(t *testing.T, dir string) {
			symlink(t, outside, filepath.Join(dir, "creds.cue"))
		}, "creds.cue: symlink to a file outside the spec directory"},
		"fifo": {func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe.cue"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "pipe.cue: not a regular file"},
		"directory": {func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "sub.cue"))
		}, "sub.cue: not a regular file"},
		"module file outside": {func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "cue.mod"))
			symlink(t, outside, filepath.Join(dir, "cue.mod", "module.cue"))
		}, "cue.mod/module.cue: symlink to a file outside the spec directory"},
		"module package outside": {func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "cue.mod"))
			write(t, filepath.Join(dir, "cue.mod", "module.cue"), "module: \"example.com/fleet@v0\"\nlanguage: version: \"v0.17.0\"\n")
			symlink(t, filepath.Dir(outside), filepath.Join(dir, "defaults"))
		}, "defaults: symlink to a directory"},
		"symlink to a large file inside": {func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "_big"), "// "+strings.Repeat("x", placement.MaxFileSize)+"\n")
			symlink(t, "_big", filepath.Join(dir, "big.cue"))
		}, "big.cue: file is too large"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "fleet.cue"), tinySpec)
			c.make(t, dir)
			got := loadErr(t, dir)
			if !strings.Contains(got, c.want) {
				t.Errorf("error %q, want it to contain %q", got, c.want)
			}
			if strings.Contains(got, "TOPSECRETVALUE") || strings.Contains(got, "aws_secret_access_key") {
				t.Errorf("the error echoes a file outside the spec: %q", got)
			}
		})
	}
}

func TestLoadFollowsSymlinksInsideTheDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "_real"), tinySpec)
	symlink(t, "_real", filepath.Join(dir, "fleet.cue"))
	if _, err := placement.Load(dir); err != nil {
		t.Fatalf("a symlink to a file inside the spec: %v", err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
