package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local"
)

// fleetSpec is web on the local cloud, one instance per target, in the
// boundaries given (public: us-east-1 and eu-west-1; us-gov:
// us-gov-west-1), rolled out in one stage without bake.
const fleetSpec = `package fleet

import "meridian.dev/schema"

environments: schema.#Environments & {
	prod: local: regions: ["us-east-1", "eu-west-1", "us-gov-west-1"]
}

pipelines: quick: schema.#Pipeline & {stages: [{name: "prod", environment: "prod", maxParallel: 3}], rollback: "automatic"}

services: web: schema.#Service & {
	owner: "test"
	artifact: image: "localhost/meridian-demo"
	pipeline: "quick"
	placement: {clouds: ["local"], boundaries: %s}
	instances: 1
	health: gates: [{http: path: "/healthz", interval: "1s"}]
}
`

// meridian fleet as a user runs it against meridian dev and the local
// provider's real processes: in sync after a release (with us-gov served
// by a worker of its own, which alone reads the us-gov target), then
// drifted, missing and orphaned after changes made by hand.
func TestFleetSurveysWhatRuns(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, worker, ports and fleet
	dir := t.TempDir()
	full, public := filepath.Join(dir, "full"), filepath.Join(dir, "public")
	writeSpec(t, full, "fleet.cue", fmt.Sprintf(fleetSpec, `["public", "us-gov"]`))
	writeSpec(t, public, "fleet.cue", fmt.Sprintf(fleetSpec, `["public"]`))
	db := filepath.Join(dir, "state", "dev.db")
	stopFleetAtEnd(t, db)
	govState := filepath.Join(dir, "gov-state")
	stopFleetAtEnd(t, filepath.Join(govState, "meridian", "dev.db")) // the worker's local state: $XDG_STATE_HOME/meridian/local

	// meridian dev serves public only; a worker of its own serves us-gov.
	d := startDev(t, bin, db, "--spec", public)
	gov := exec.Command(filepath.Join(bin, "meridian"), "worker", "--spec", full, "--boundary", "local/us-gov", "--control=false", "--address", d.addr)
	gov.Env = append(os.Environ(), "XDG_STATE_HOME="+govState)
	govOut := &syncBuffer{}
	gov.Stdout, gov.Stderr = govOut, govOut
	if err := gov.Start(); err != nil {
		t.Fatal(err)
	}
	govDone := make(chan struct{})
	go func() { _ = gov.Wait(); close(govDone) }()
	t.Cleanup(func() { _ = gov.Process.Kill(); <-govDone })
	awaitTrue(t, time.Minute, "the us-gov worker to poll", func() bool { return strings.Contains(govOut.String(), "polling meridian-local-us-gov") })

	rollout(t, bin, d, full, "v1", "c1", true)
	out, code := runMeridian(t, "", bin, d, "fleet", full, "-o", "json")
	var report fleetJSON
	if err := json.Unmarshal([]byte(out), &report); err != nil || code != 0 || !report.InSync || len(report.Targets) != 3 || report.Listed != 3 {
		t.Fatalf("fleet after the release: exit %d, want 0 with 3 targets in sync, 3 regions listed (%v):\n%s", code, err, out)
	}
	for _, ft := range report.Targets {
		if ft.Observed.Version != "v1" || ft.Release() != "release/web/c1" || ft.ReadyCell() != "1/1" {
			t.Errorf("%s: %+v, want v1 from release/web/c1, 1/1 ready", ft.Target.ID(), ft.Observed)
		}
	}
	// The us-gov reads ran on the us-gov worker, and only there.
	govIdentity := fmt.Sprintf("%d@", gov.Process.Pid)
	byQueue := surveyIdentities(t, d, report.Survey)
	if ids := byQueue["meridian-local-us-gov"]; len(ids) == 0 || strings.Join(ids, "") != strings.Repeat(ids[0], len(ids)) || !strings.HasPrefix(ids[0], govIdentity) {
		t.Errorf("us-gov activities started by %v, want the us-gov worker (%s…) only", ids, govIdentity)
	}
	for _, id := range byQueue["meridian-local-public"] {
		if strings.HasPrefix(id, govIdentity) {
			t.Errorf("the us-gov worker ran a public read")
		}
	}
	_ = gov.Process.Signal(os.Interrupt)
	<-govDone

	// By hand, with meridian dev stopped: another version on us-east-1,
	// eu-west-1 removed, a service the spec does not have deployed.
	if code := d.stop(t); code != 0 {
		t.Fatalf("meridian dev exited %d", code)
	}
	p, err := local.New(&local.Options{StateDir: localStateDir(db), BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	target := func(service, region string) driver.Target {
		return driver.Target(placement.Target{Service: service, Environment: "prod", Cloud: "local", Boundary: "public", Region: region})
	}
	ctx := context.Background()
	for _, req := range []driver.DeployRequest{
		{Target: target("web", "us-east-1"), Image: "localhost/meridian-demo", Version: "v2", Instances: 1},
		{Target: target("old", "us-east-1"), Image: "localhost/meridian-demo", Version: "v1", Instances: 1},
	} {
		if _, err := p.Deploy(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Remove(ctx, target("web", "eu-west-1")); err != nil {
		t.Fatal(err)
	}
	p.Detach()

	d = startDev(t, bin, db, "--spec", public)
	out, code = runMeridian(t, "", bin, d, "fleet", public)
	for _, want := range []string{
		`(?m)^drifted\s+web/prod/local/public/us-east-1\s+v2\s+-\s+\S+\s+-\s+version v2, want v1 \(last succeeded release\)$`,
		`(?m)^missing\s+web/prod/local/public/eu-west-1\s+-\s+-\s+-\s+-\s+nothing runs$`,
		`(?m)^orphaned\s+old/prod/local/public/us-east-1\s+v1\s+`,
		`(?m)^3 targets: 1 drifted, 1 missing, 1 orphaned$`,
		`orphans looked for in 2 regions\n`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("fleet after the changes by hand lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("fleet exited %d out of sync, want 1", code)
	}
}

// runMeridian runs meridian args… in dir against d and returns its
// output (stdout and stderr) and exit code.
func runMeridian(t *testing.T, dir, bin string, d *devProcess, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "meridian"), append(args, "--address", d.addr)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return string(out), code
}

// surveyIdentities returns, per task queue, the identities of the workers
// that started the survey's activities, from its history.
func surveyIdentities(t *testing.T, d *devProcess, id string) map[string][]string {
	t.Helper()
	queues := map[int64]string{}
	out := map[string][]string{}
	it := d.client.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			queues[e.GetEventId()] = a.GetTaskQueue().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			q := queues[a.GetScheduledEventId()]
			out[q] = append(out[q], a.GetIdentity())
		}
	}
	return out
}
