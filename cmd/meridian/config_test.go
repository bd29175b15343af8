package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

// meridian config releases the service's resolved config (CUE defaults
// applied) to every target, through the fake provider's config driver; the
// same config again attaches to that release; the same change id for a
// version change is refused.
func TestConfigReleasesConfig(t *testing.T) {
	m, _ := steerPlan(t)
	const doc = `{"cacheTTL":"30s","maxItems":500,"region":"any"}`
	i := slices.IndexFunc(m.Services, func(s placement.Service) bool { return s.Name == "catalog" })
	want, err := workflows.ConfigChange(m.Services[i].Config)
	if err != nil || string(want.Config) != doc || !regexp.MustCompile(`^cfg-[0-9a-f]{12}$`).MatchString(want.Version) {
		t.Fatalf("the spec's config: %s version %q, %v; want %s", want.Config, want.Version, err, doc)
	}

	r := meridian(t, "config", steerSpec, "--service", "catalog", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d: %v\n%s", r.code, r.err, r.out)
	}
	id := regexp.MustCompile(`started release (release/catalog/` + want.Version + `-[0-9a-f]{12})\n`).FindStringSubmatch(r.out)
	if id == nil {
		t.Fatalf("no release id with config version %s in:\n%s", want.Version, r.out)
	}
	for _, s := range []string{"local/public", "local/us-gov", "release " + id[1] + " succeeded"} {
		if !strings.Contains(r.out, s) {
			t.Errorf("output lacks %q:\n%s", s, r.out)
		}
	}
	for _, tg := range serviceTargets(m, "catalog") {
		if version, data := steerFake.LiveConfig(tg); version != want.Version || string(data) != doc {
			t.Errorf("%s has config %s %s, want %s %s", tg.ID(), version, data, want.Version, doc)
		}
	}

	// The same config again attaches to the release that ended.
	again := meridian(t, "config", steerSpec, "--service", "catalog", "-o", "json")
	var ref struct {
		Release  string `json:"release"`
		Attached bool   `json:"attached"`
	}
	if err := json.Unmarshal([]byte(again.out), &ref); err != nil || again.code != 0 {
		t.Fatalf("exit %d, %v:\n%s", again.code, err, again.out)
	}
	if ref.Release != id[1] || !ref.Attached {
		t.Errorf("second config: %+v, want attached to %s", ref, id[1])
	}
	st := decodeStatus(t, meridian(t, "status", id[1], "-o", "json").out)
	if st.Kind != workflows.KindConfig || st.Version != want.Version {
		t.Errorf("status: kind %s version %s, want config %s", st.Kind, st.Version, want.Version)
	}

	// Its change id names this config: a version change under it is refused.
	changeID := strings.TrimPrefix(id[1], "release/catalog/")
	refused := meridian(t, "trigger", steerSpec, "--service", "catalog", "--version", "2.0.0", "--change-id", changeID)
	if refused.code != 1 || !strings.Contains(refused.err.Error(), "is already "+id[1]) {
		t.Errorf("trigger under the config's change id: exit %d, %v", refused.code, refused.err)
	}
}
