package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers"
	"github.com/meridian-deploy/meridian/workflows"
)

// rollbackSpec is three services of their own in a boundary no other test
// uses (local/eu-sovereign), so that a fleet rollback scoped to it undoes
// only this test's releases.
const rollbackSpec = `package rollback

import "meridian.dev/schema"

environments: schema.#Environments & {
	prod: local: regions: ["eusc-de-east-1"]
}
pipelines: quick: stages: [{name: "prod", environment: "prod"}]
_svc: {
	owner: "payments"
	placement: {clouds: ["local"], boundaries: ["eu-sovereign"]}
	pipeline: "quick"
	health: gates: [{alarm: name: "5xx"}]
}
services: {
	orders: _svc & {artifact: image: "registry.example.com/orders"}
	invoices: _svc & {artifact: image: "registry.example.com/invoices"}
	payouts: _svc & {artifact: image: "registry.example.com/payouts"}
}
`

// rollback --since on a fleet where three services were released
// restores all three, newest first, each by a revert release of its own;
// rollback --to takes one service back to just before a release.
func TestRollbackSinceRestoresEveryServiceNewestFirst(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(rollbackSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	model, _, err := planSpec(context.Background(), dir, "", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// The steering workers serve public and us-gov: this boundary gets its own.
	rule := placement.BoundaryRule{Cloud: "local", Boundary: "eu-sovereign", TaskQueue: placement.DefaultTaskQueue("local", "eu-sovereign")}
	ws, err := startWorkers(steerClient(t), []placement.BoundaryRule{rule}, providers.NewSet().Add("local", "eu-sovereign", providers.New(steerFake, nil)), false, worker.WorkerDeploymentVersion{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopWorkers(ws) })

	services := []string{"orders", "invoices", "payouts"} // released in this order
	var targets []placement.Target
	for _, svc := range services {
		targets = append(targets, serviceTargets(model, svc)...)
	}
	for _, tg := range targets {
		steerFake.SetLive(tg, "r0")
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	released := map[string]string{}
	for _, svc := range services {
		r := meridian(t, "rollout", dir, "--service", svc, "--version", "2.0.0", "--change-id", "rb-"+run, "--wait", "-o", "json")
		if st := decodeStatus(t, r.out); r.code != 0 || st.Phase != workflows.PhaseSucceeded {
			t.Fatalf("rollout of %s: exit %d, %s", svc, r.code, st.Phase)
		}
		released[svc] = "release/" + svc + "/rb-" + run
	}
	assertLedgerRuns(t, targets, "2.0.0")

	calls := len(steerFake.Calls())
	r := meridian(t, "rollback", "--since", "10m", "--cloud", "local", "--boundary", "eu-sovereign", "--reason", "bad afternoon", "--as", "oscar", "--wait", "-o", "json")
	var st workflows.FleetRollbackStatus
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != 0 || st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("rollback --since: exit %d, %v\n%s", r.code, err, r.out)
	}
	var order []string
	for _, s := range st.Steps {
		order = append(order, s.Release)
		if s.Phase != workflows.PhaseSucceeded || s.By != strings.Replace(s.Release, "/rb-", "/revert-rb-", 1) {
			t.Errorf("step %+v: want undone by its revert release", s)
		}
	}
	if want := []string{released["payouts"], released["invoices"], released["orders"]}; !slices.Equal(order, want) {
		t.Errorf("undone %v, want newest first %v", order, want)
	}
	assertLedgerRuns(t, targets, "r0")
	var restored []string
	for _, c := range steerFake.Calls()[calls:] {
		if c.Op == "rollback" {
			restored = append(restored, strings.SplitN(c.Target, "/", 2)[0])
		}
	}
	if want := []string{"payouts", "invoices", "orders"}; !slices.Equal(restored, want) {
		t.Errorf("targets restored in the order %v, want %v", restored, want)
	}
	// The revert is a release of its own, with who and why.
	rev := meridian(t, "status", st.Steps[0].By, "-o", "json")
	if s := decodeStatus(t, rev.out); s.Kind != workflows.KindRevert || s.Phase != workflows.PhaseSucceeded {
		t.Errorf("revert release %s: kind %s, phase %s", st.Steps[0].By, s.Kind, s.Phase)
	}

	// rollback --to: orders back to just before its 3.0.0 release.
	r3 := meridian(t, "rollout", dir, "--service", "orders", "--version", "3.0.0", "--change-id", "rb3-"+run, "--wait")
	if r3.code != 0 {
		t.Fatalf("rollout 3.0.0: exit %d\n%s", r3.code, r3.out)
	}
	to := meridian(t, "rollback", "--service", "orders", "--to", "orders/rb3-"+run, "--reason", "3.0.0 is bad", "--wait")
	if to.code != 0 || !strings.Contains(to.out, "release/orders/rb3-"+run+"\treverted by release/orders/revert-rb3-"+run+": succeeded") {
		t.Fatalf("rollback --to: exit %d\n%s", to.code, to.out)
	}
	assertLedgerRuns(t, serviceTargets(model, "orders"), "r0")
}
