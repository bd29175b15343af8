package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// freezeSpec is a service of its own on the steering workers' boundary,
// whose canary bakes (an operator promotes it) before the rest.
const freezeSpec = `package freeze

import "meridian.dev/schema"

environments: schema.#Environments & {
	prod: local: regions: ["us-east-1", "eu-west-1"]
}
pipelines: baked: stages: [
	{name: "canary", environment: "prod", select: limit: 1, bake: "1h"},
	{name: "rest", environment: "prod"},
]
services: ledger: {
	owner: "payments"
	artifact: image: "registry.example.com/ledger"
	placement: clouds: ["local"]
	pipeline: "baked"
	health: gates: [{alarm: name: "ledger-5xx"}]
}
`

// An emergency freeze declared mid-release holds the release before its
// next stage, with the freeze's name, who and why in its status; a
// rollback goes through it; a release started in the freeze waits before
// its first stage and goes on once the freeze is lifted.
func TestEmergencyFreezeHoldsTheNextStageAndLetsARollbackThrough(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fleet.cue"), []byte(freezeSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	model, _, err := planSpec(context.Background(), dir, "", os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	targets := serviceTargets(model, "ledger")
	if len(targets) != 2 {
		t.Fatalf("ledger targets: %v", targets)
	}
	for _, tg := range targets {
		steerFake.SetLive(tg, "r0")
	}
	t.Cleanup(func() { meridian(t, "unfreeze", "--as", "cleanup") })

	// Change ids of their own: -count=N runs on one server.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	first, second := "ledger/f1-"+run, "ledger/f2-"+run
	r := meridian(t, "rollout", dir, "--service", "ledger", "--version", "2.0.0", "--change-id", "f1-"+run)
	if r.code != 0 {
		t.Fatalf("rollout: exit %d, %v\n%s", r.code, r.err, r.out)
	}
	awaitPipeline(t, first, workflows.PhaseBaking)
	fz := meridian(t, "freeze", "--reason", "INC-9: payments down", "--service", "ledger", "--name", "inc-9", "--as", "hal")
	if fz.code != 0 || !strings.Contains(fz.out, "froze inc-9 (service ledger) until lifted as hal: INC-9: payments down") {
		t.Fatalf("freeze: exit %d, %v\n%s", fz.code, fz.err, fz.out)
	}
	if again := meridian(t, "freeze", "--reason", "twice", "--name", "inc-9"); again.code != 1 || !strings.Contains(again.err.Error(), "freeze inc-9 is already in force") {
		t.Errorf("the same freeze twice: exit %d, %v", again.code, again.err)
	}
	if p := meridian(t, "promote", first); p.code != 0 {
		t.Fatalf("promote: exit %d, %v", p.code, p.err)
	}
	st := awaitPipeline(t, first, workflows.PhaseFrozen)
	want := "frozen by inc-9 (declared by hal) before stage rest until it is lifted: INC-9: payments down"
	if ps := st.Pipelines[0]; st.Phase != workflows.PhaseFrozen || ps.Reason != want {
		t.Errorf("frozen release: %s, pipeline %q; want frozen, %q", st.Phase, ps.Reason, want)
	}
	if list := meridian(t, "freeze", "--list"); !strings.Contains(list.out, "inc-9 (service ledger) until lifted") || !strings.Contains(list.out, "freeze inc-9") {
		t.Errorf("freeze --list:\n%s", list.out)
	}
	if plain := meridian(t, "resume", first); plain.code != 1 || !strings.Contains(plain.err.Error(), "resume --override-freeze --reason R lets it through") {
		t.Errorf("resume of a frozen release: exit %d, %v", plain.code, plain.err)
	}

	// The rollback is not held: the canary is back on 1.0.0, the rest was
	// never touched.
	if rb := meridian(t, "rollback", first, "--reason", "undo the canary", "--as", "hal"); rb.code != 0 {
		t.Fatalf("rollback: exit %d, %v\n%s", rb.code, rb.err, rb.out)
	}
	if st := awaitRelease(t, first); st.Phase != workflows.PhaseRolledBack {
		t.Fatalf("release ended %s (%s), want rolled back inside the freeze", st.Phase, st.Reason)
	}
	assertLedgerRuns(t, targets, "r0")

	// A release started in the freeze waits before its first stage, and
	// goes on once the freeze is lifted.
	if r := meridian(t, "rollout", dir, "--service", "ledger", "--version", "2.0.1", "--change-id", "f2-"+run); r.code != 0 {
		t.Fatalf("second rollout: exit %d, %v", r.code, r.err)
	}
	if st := awaitPipeline(t, second, workflows.PhaseFrozen); st.Pipelines[0].Stage != "canary" {
		t.Errorf("frozen at stage %q, want canary", st.Pipelines[0].Stage)
	}
	if u := meridian(t, "resume", second, "--override-freeze"); u.code != 2 || !strings.Contains(u.err.Error(), "--override-freeze needs --reason") {
		t.Errorf("override without a reason: exit %d, %v", u.code, u.err)
	}
	un := meridian(t, "unfreeze", "inc-9", "--reason", "INC-9 resolved", "--as", "hal")
	if un.code != 0 || !strings.Contains(un.out, "lifted inc-9 as hal") {
		t.Fatalf("unfreeze: exit %d, %v\n%s", un.code, un.err, un.out)
	}
	if none := meridian(t, "unfreeze"); none.code != 1 || !strings.Contains(none.err.Error(), "no emergency freeze is in force") {
		t.Errorf("unfreeze with nothing frozen: exit %d, %v", none.code, none.err)
	}
	awaitPipeline(t, second, workflows.PhaseBaking)
	meridian(t, "promote", second)
	if st := awaitRelease(t, second); st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("release after the freeze ended %s (%s)", st.Phase, st.Reason)
	}
	assertLedgerRuns(t, targets, "2.0.1")
}

// awaitPipeline waits until the release's first pipeline is in phase.
func awaitPipeline(t *testing.T, release string, phase workflows.Phase) workflows.Status {
	t.Helper()
	var st workflows.Status
	awaitTrue(t, 30*time.Second, release+" to be "+string(phase), func() bool {
		s := meridian(t, "status", release, "-o", "json")
		st = workflows.Status{}
		return s.code == 0 && decodeInto(s.out, &st) && len(st.Pipelines) > 0 && st.Pipelines[0].Phase == phase
	})
	return st
}

// awaitRelease waits until the release has ended.
func awaitRelease(t *testing.T, release string) workflows.Status {
	t.Helper()
	var st workflows.Status
	awaitTrue(t, 30*time.Second, release+" to end", func() bool {
		s := meridian(t, "status", release, "-o", "json")
		st = workflows.Status{}
		return decodeInto(s.out, &st) && st.Phase.Terminal()
	})
	return st
}

// assertLedgerRuns checks that every target runs revision (r0) or a
// revision of that version.
func assertLedgerRuns(t *testing.T, targets []placement.Target, revision string) {
	t.Helper()
	for _, tg := range targets {
		if live, _ := steerFake.Live(tg); live != revision && !strings.Contains(live, revision) {
			t.Errorf("%s runs %q, want %s", tg.ID(), live, revision)
		}
	}
}

// decodeInto decodes a JSON answer into v, and reports whether it could.
func decodeInto(out string, v any) bool { return json.Unmarshal([]byte(out), v) == nil }
