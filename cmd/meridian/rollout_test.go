package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/workflows"
)

func TestRolloutWaitSucceeds(t *testing.T) {
	m, _ := steerPlan(t)
	r := meridian(t, "rollout", steerSpec, "--service", "api", "--version", "1.0.0", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.out)
	}
	id := regexp.MustCompile(`started release (release/api/1\.0\.0-[0-9a-f]{12})`).FindStringSubmatch(r.out)
	if id == nil {
		t.Fatalf("no release id in:\n%s", r.out)
	}
	for _, want := range []string{
		"http://ui.test/namespaces/default/workflows/" + strings.ReplaceAll(id[1], "/", "%2F"),
		"local/public", "local/us-gov",
		"release " + id[1] + " succeeded",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	for _, tg := range serviceTargets(m, "api") {
		if live, _ := steerFake.Live(tg); !strings.Contains(live, "1.0.0") {
			t.Errorf("%s runs %q, want 1.0.0", tg.ID(), live)
		}
	}

	// The same rollout again attaches to the release that ended.
	again := meridian(t, "rollout", steerSpec, "--service", "api", "--version", "1.0.0", "-o", "json")
	var ref struct {
		Release  string `json:"release"`
		Attached bool   `json:"attached"`
		URL      string `json:"url"`
	}
	if err := json.Unmarshal([]byte(again.out), &ref); err != nil || again.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", again.code, err, again.out)
	}
	if ref.Release != id[1] || !ref.Attached || !strings.HasPrefix(ref.URL, "http://ui.test/") {
		t.Errorf("second rollout: %+v, want attached to %s", ref, id[1])
	}

	// History lists it, from visibility.
	var past []workflows.ReleaseSummary
	awaitTrue(t, 30*time.Second, "history to list the second release as succeeded", func() bool {
		h := meridian(t, "history", "--service", "api", "-o", "json")
		past = nil
		return h.code == 0 && json.Unmarshal([]byte(h.out), &past) == nil &&
			slices.ContainsFunc(past, func(s workflows.ReleaseSummary) bool {
				return s.Release == id[1] && s.Phase == workflows.PhaseSucceeded
			})
	})
	text := meridian(t, "history", "--service", "api")
	if !strings.Contains(text.out, id[1]) || !strings.Contains(text.out, "succeeded") {
		t.Errorf("history table lacks the release:\n%s", text.out)
	}
}

func TestGateFailureRollsBack(t *testing.T) {
	m, plan := steerPlan(t)
	for _, tg := range serviceTargets(m, "checkout") {
		steerFake.SetLive(tg, "r0")
	}
	// The gate of the second stage's target fails: both stages roll back.
	i := slices.IndexFunc(plan.Pipelines, func(p pipelines.Pipeline) bool { return p.Service == "checkout" })
	bad := plan.Pipelines[i].Stages[1].Targets[0]
	steerFake.SetHealth(bad, driver.Unhealthy)
	defer steerFake.SetHealth(bad, driver.Healthy)

	r := meridian(t, "rollout", steerSpec, "--service", "checkout", "--version", "2.0.0", "--wait", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %v\n%s", r.code, r.err, r.out)
	}
	st := decodeStatus(t, r.out)
	if st.Phase != workflows.PhaseRolledBack || st.Reason == "" {
		t.Errorf("phase %s (%q), want rolled-back with a reason", st.Phase, st.Reason)
	}
	for _, tg := range serviceTargets(m, "checkout") {
		if live, _ := steerFake.Live(tg); live != "r0" {
			t.Errorf("%s runs %q after rollback, want r0", tg.ID(), live)
		}
	}
	// status agrees, and exits 1 too.
	s := meridian(t, "status", st.Release)
	if s.code != 1 || !strings.Contains(s.out, "rolled-back") {
		t.Errorf("status: exit %d:\n%s", s.code, s.out)
	}
}

// A CI trigger twice attaches; a different change mid-release is refused;
// the approval unblocks the release; status -o json has the documented shape.
func TestTriggerApproveStatus(t *testing.T) {
	first := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1")
	if first.code != 0 || !strings.Contains(first.out, "started release release/billing/c1") {
		t.Fatalf("exit %d:\n%s", first.code, first.out)
	}
	second := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1")
	if second.code != 0 || !strings.Contains(second.out, "attached to release release/billing/c1") {
		t.Errorf("second trigger: exit %d:\n%s", second.code, second.out)
	}
	// The same change id for another version is refused, in one line.
	taken := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.1", "--change-id", "c1")
	want := "change id c1 is already release/billing/c1 (version 3.0.0); this request is version 3.0.1"
	if taken.code != 1 || taken.err == nil || taken.err.Error() != want {
		t.Errorf("the change id of another version: exit %d, %v; want exit 1 with %q", taken.code, taken.err, want)
	}

	// The release waits for approval of its second stage.
	var raw map[string]any
	awaitTrue(t, 30*time.Second, "the release to await approval", func() bool {
		s := meridian(t, "status", "billing/c1", "-o", "json")
		raw = nil
		return s.code == 0 && json.Unmarshal([]byte(s.out), &raw) == nil && raw["phase"] == string(workflows.PhaseAwaitingApproval)
	})
	for _, key := range []string{"release", "service", "phase", "pipelines"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("status JSON lacks %q: %v", key, raw)
		}
	}
	for _, p := range raw["pipelines"].([]any) {
		for _, key := range []string{"cloud", "boundary", "stage", "phase"} {
			if _, ok := p.(map[string]any)[key]; !ok {
				t.Errorf("pipeline in status JSON lacks %q: %v", key, p)
			}
		}
	}
	if raw["release"] != "release/billing/c1" || raw["service"] != "billing" {
		t.Errorf("status JSON: %v", raw)
	}

	busy := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.1.0", "--change-id", "c2")
	if busy.code != 1 || busy.err == nil || !strings.Contains(busy.err.Error(), "mid-release") {
		t.Errorf("a different change mid-release: exit %d, %v", busy.code, busy.err)
	}

	approve := meridian(t, "approve", "release/billing/c1", "--stage", "rest", "--reason", "dashboards green", "--as", "alice")
	if approve.code != 0 || !strings.Contains(approve.out, "approved release/billing/c1 (stage rest) as alice") {
		t.Fatalf("approve: exit %d, %v:\n%s", approve.code, approve.err, approve.out)
	}
	// The answer is the state the approval produced, not the one before.
	if strings.Contains(approve.out, "release is awaiting-approval") {
		t.Errorf("approve answers with the phase from before it:\n%s", approve.out)
	}
	done := meridian(t, "trigger", steerSpec, "--service", "billing", "--version", "3.0.0", "--change-id", "c1", "--wait", "-o", "json")
	st := decodeStatus(t, done.out)
	if done.code != 0 || st.Phase != workflows.PhaseSucceeded {
		t.Fatalf("after approval: exit %d, phase %s", done.code, st.Phase)
	}
	if !slices.ContainsFunc(st.Events, func(e workflows.Event) bool {
		return e.Action == workflows.UpdateApprove && e.Who == "alice" && e.Reason == "dashboards green"
	}) {
		t.Errorf("the approval is not recorded with who and why: %+v", st.Events)
	}

	// Nothing waits any more: approve refuses, exit 1, and says why.
	again := meridian(t, "approve", "billing/c1")
	if want := "approve release/billing/c1: the release has ended (succeeded)"; again.code != 1 || again.err == nil || again.err.Error() != want {
		t.Errorf("approve of an ended release: exit %d, %v; want %q", again.code, again.err, want)
	}
}
