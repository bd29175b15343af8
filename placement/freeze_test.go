package placement_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

func TestFreezeActiveAt(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	holidays := placement.Freeze{Start: at("2026-12-24T00:00:00Z"), End: at("2026-12-27T00:00:00Z")}
	emergency := placement.Freeze{Start: at("2026-12-02T10:00:00Z")} // until lifted
	// Friday 18:00 in Berlin for 62 hours: the weekend, across the change to
	// winter time on Sunday 25 October 2026.
	weekend := placement.Freeze{Weekly: &placement.WeeklyWindow{Days: []string{"fri"}, At: "18:00", Duration: placement.Duration(62 * time.Hour), TimeZone: "Europe/Berlin"}}
	// Every weekday night 22:00-06:00 UTC, and Saturday and Sunday whole
	// days that touch: Friday 22:00 to Monday 06:00 is one window.
	nights := placement.Freeze{Weekly: &placement.WeeklyWindow{Days: []string{"fri", "mon", "sat", "sun", "thu", "tue", "wed"}, At: "22:00", Duration: placement.Duration(8 * time.Hour), TimeZone: "UTC"}}
	for _, tc := range []struct {
		name   string
		f      placement.Freeze
		now    string
		active bool
		until  string // "" for zero
	}{
		{"before a window", holidays, "2026-12-23T23:59:59Z", false, "2026-12-27T00:00:00Z"},
		{"at its start", holidays, "2026-12-24T00:00:00Z", true, "2026-12-27T00:00:00Z"},
		{"at its end", holidays, "2026-12-27T00:00:00Z", false, "2026-12-27T00:00:00Z"},
		{"an emergency freeze holds until lifted", emergency, "2027-06-01T00:00:00Z", true, ""},
		{"not before it was declared", emergency, "2026-12-02T09:59:00Z", false, ""},
		{"weekly: Friday evening in Berlin", weekend, "2026-11-06T17:30:00Z", true, "2026-11-09T07:00:00Z"},
		{"weekly: Friday afternoon in Berlin", weekend, "2026-11-06T16:59:00Z", false, ""},
		{"weekly: across the end of summer time", weekend, "2026-10-25T12:00:00Z", true, "2026-10-26T06:00:00Z"},
		{"weekly: Monday morning", weekend, "2026-11-09T07:00:00Z", false, ""},
		{"weekly: between two nights", nights, "2026-11-07T12:00:00Z", false, ""},
		{"weekly: a night", nights, "2026-11-04T23:00:00Z", true, "2026-11-05T06:00:00Z"},
		{"weekly: unknown time zone never holds", placement.Freeze{Weekly: &placement.WeeklyWindow{Days: []string{"mon"}, At: "00:00", Duration: placement.Duration(time.Hour), TimeZone: "Mars/Olympus"}}, "2026-11-09T00:30:00Z", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until, active := tc.f.ActiveAt(at(tc.now))
			if active != tc.active || active && (tc.until == "" && !until.IsZero() || tc.until != "" && !until.Equal(at(tc.until))) {
				t.Errorf("ActiveAt(%s) = %s, %v; want %s, %v", tc.now, until, active, tc.until, tc.active)
			}
		})
	}
}

func TestFreezeChainsTouchingWindows(t *testing.T) {
	daily := placement.Freeze{Weekly: &placement.WeeklyWindow{Days: []string{"sat", "sun"}, At: "00:00", Duration: placement.Duration(24 * time.Hour), TimeZone: "UTC"}}
	until, active := daily.ActiveAt(time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)) // a Saturday
	if want := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC); !active || !until.Equal(want) {
		t.Errorf("Saturday noon: %s, %v; want until Monday %s", until, active, want)
	}
}

func TestFreezeScopeCovers(t *testing.T) {
	gov := placement.Target{Service: "billing", Environment: "prod", Cloud: "aws", Boundary: "us-gov", Region: "us-gov-west-1"}
	for _, tc := range []struct {
		scope placement.FreezeScope
		want  bool
	}{
		{placement.FreezeScope{}, true},
		{placement.FreezeScope{Boundaries: []string{"us-gov"}}, true},
		{placement.FreezeScope{Boundaries: []string{"public"}}, false},
		{placement.FreezeScope{Services: []string{"billing"}, Environments: []string{"prod"}, Clouds: []string{"aws", "gcp"}}, true},
		{placement.FreezeScope{Services: []string{"billing"}, Environments: []string{"staging"}}, false},
	} {
		if got := tc.scope.Covers(gov); got != tc.want {
			t.Errorf("%+v covers %s: %v, want %v", tc.scope, gov.ID(), got, tc.want)
		}
	}
}

func TestFreezesCompile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "fleet.cue"), `package fleet

environments: prod: aws: regions: ["us-east-1", "us-gov-west-1"]
pipelines: standard: stages: [{name: "prod", environment: "prod"}]
services: billing: {
	owner: "payments"
	artifact: image: "registry.example.com/billing"
	placement: {clouds: ["aws"], boundaries: ["public", "us-gov"]}
	pipeline: "standard"
}
freezes: {
	holidays: {reason: "end of year", start: "2026-12-24T00:00:00+01:00", end: "2027-01-02T00:00:00+01:00"}
	weekends: {
		reason: "nobody on call"
		weekly: {days: ["sat", "fri"], at: "18:00", duration: "36h", timeZone: "America/New_York"}
		scope: boundaries: ["us-gov"]
	}
}
`)
	spec, err := placement.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := placement.Compile(spec, regions.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Freezes) != 2 {
		t.Fatalf("freezes: %+v", m.Freezes)
	}
	h, w := m.Freezes[0], m.Freezes[1]
	if h.Name != "holidays" || h.Reason != "end of year" || !h.End.Equal(time.Date(2027, 1, 1, 23, 0, 0, 0, time.UTC)) || h.Weekly != nil {
		t.Errorf("holidays: %+v", h)
	}
	if w.Name != "weekends" || w.Weekly == nil || w.Weekly.TimeZone != "America/New_York" || w.Weekly.Days[0] != "fri" ||
		time.Duration(w.Weekly.Duration) != 36*time.Hour || len(w.Scope.Boundaries) != 1 {
		t.Errorf("weekends: %+v %+v", w, w.Weekly)
	}
}
