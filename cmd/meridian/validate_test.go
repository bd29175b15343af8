package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestValidateInvalid runs `meridian validate` on every case of
// testdata/invalid: exit code 1, nothing on stdout, and exactly the case's
// expected.golden on stderr, as cliLines prints it.
func TestValidateInvalid(t *testing.T) {
	cases, err := filepath.Glob("../../testdata/invalid/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "expected.golden"))
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := execute("validate", dir)
			var silent silentError
			if !errors.As(err, &silent) || exitCode(err) != 1 {
				t.Errorf("got error %v, want exit status 1", err)
			}
			if stdout != "" {
				t.Errorf("stdout: %q, want nothing", stdout)
			}
			if want := cliLines(string(want)); stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
}

// positioned matches an error line that begins with its file name.
var positioned = regexp.MustCompile(`^[^\s:]+\.cue:`)

// cliLines is what validate prints for the errors of an expected.golden: a
// problem with the directory itself has no position and the CLI prints it
// as any failure, after "meridian: ".
func cliLines(golden string) string {
	lines := strings.SplitAfter(golden, "\n")
	for i, l := range lines {
		if l != "" && !positioned.MatchString(l) {
			lines[i] = "meridian: " + l
		}
	}
	return strings.Join(lines, "")
}

func TestValidateOK(t *testing.T) {
	dir := t.TempDir()
	spec := `package fleet

environments: prod: aws: regions: ["us-east-1", "eu-west-1"]
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: billing: {
	owner: "payments"
	artifact: image: "registry.example.com/billing"
	placement: clouds: ["aws"]
	pipeline: "standard"
}
`
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := execute("validate", dir)
	if err != nil || stderr != "" {
		t.Fatalf("err %v, stderr %q", err, stderr)
	}
	if want := "ok: 1 services, 2 targets\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}
