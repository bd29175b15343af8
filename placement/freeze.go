package placement

import (
	"maps"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"
)

// Freeze is a window in which forward changes (versions, configs,
// placements, restarts) to its scope wait; rollbacks, aborts and
// compensations never do. A spec's freeze is a one-off window (Start to
// End) or a weekly one (Weekly); an emergency freeze (meridian freeze) is
// declared by Who at Start and holds until End, or until it is lifted
// when End is zero.
type Freeze struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
	// Who declared an emergency freeze; "" for a freeze of the spec.
	Who    string        `json:"who,omitempty"`
	Start  time.Time     `json:"start,omitzero"`
	End    time.Time     `json:"end,omitzero"`
	Weekly *WeeklyWindow `json:"weekly,omitempty"`
	Scope  FreezeScope   `json:"scope,omitzero"`
}

// WeeklyWindow repeats every week: it opens on each of Days at At (hh:mm)
// in TimeZone and lasts Duration.
type WeeklyWindow struct {
	Days     []string `json:"days"` // mon, tue, wed, thu, fri, sat, sun
	At       string   `json:"at"`
	Duration Duration `json:"duration"`
	TimeZone string   `json:"timeZone"`
}

// FreezeScope is what a freeze covers: a target is covered when each list
// is empty or names the target's service, environment, cloud and boundary.
// The zero scope covers everything.
type FreezeScope struct {
	Services     []string `json:"services,omitempty"`
	Environments []string `json:"environments,omitempty"`
	Clouds       []string `json:"clouds,omitempty"`
	Boundaries   []string `json:"boundaries,omitempty"`
}

// Covers reports whether the scope covers t.
func (s FreezeScope) Covers(t Target) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	return in(s.Services, t.Service) && in(s.Environments, t.Environment) && in(s.Clouds, t.Cloud) && in(s.Boundaries, t.Boundary)
}

// String says what the scope covers: "env prod; boundary us-gov", or
// "everything".
func (s FreezeScope) String() string {
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"service", s.Services}, {"env", s.Environments}, {"cloud", s.Clouds}, {"boundary", s.Boundaries}} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ","))
		}
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, "; ")
}

// Weekdays are the names a weekly window's days use, Sunday first as in
// time.Weekday.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ActiveAt reports whether the freeze holds at now, and until when (zero:
// until it is lifted). Weekly windows that overlap or touch count as one.
// A weekly window whose time zone is unknown never holds (Compile refuses
// one).
func (f Freeze) ActiveAt(now time.Time) (until time.Time, active bool) {
	if f.Weekly == nil {
		active = !now.Before(f.Start) && (f.End.IsZero() || now.Before(f.End))
		return f.End, active
	}
	w := f.Weekly
	loc, err := time.LoadLocation(w.TimeZone)
	at, err2 := time.Parse("15:04", w.At)
	if err != nil || err2 != nil || w.Duration <= 0 {
		return time.Time{}, false
	}
	length := time.Duration(w.Duration)
	local := now.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), at.Hour(), at.Minute(), 0, 0, loc)
	// Windows that may hold now opened at most length (and a day) ago;
	// scan from the oldest, extending until over windows that touch.
	back := int(length/(24*time.Hour)) + 1
	for d := -back; d <= 7; d++ {
		open := day.AddDate(0, 0, d)
		if !slices.Contains(w.Days, Weekdays[open.Weekday()]) {
			continue
		}
		end := open.Add(length)
		switch {
		case active && !open.After(until):
			until = later(until, end)
		case active:
			return until.UTC(), true
		case !now.Before(open) && now.Before(end):
			until, active = end, true
		}
	}
	return until.UTC(), active
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// freezeDoc is a freeze as the spec writes it.
type freezeDoc struct {
	Reason string        `json:"reason"`
	Start  string        `json:"start"`
	End    string        `json:"end"`
	Weekly *WeeklyWindow `json:"weekly"`
	Scope  FreezeScope   `json:"scope"`
}

// maxWeeklyWindow is the longest weekly window: one that lasts a week or
// more never opens.
const maxWeeklyWindow = 7 * 24 * time.Hour

// freezes checks the spec's freezes against the rest of the model m.
func (c *compiler) freezes(m *Model) []Freeze {
	var out []Freeze
	for _, name := range slices.Sorted(maps.Keys(c.doc.Freezes)) {
		doc := c.doc.Freezes[name]
		at := func(parts ...any) []cue.Selector { return sel(append([]any{"freezes", name}, parts...)...) }
		f := Freeze{Name: name, Reason: doc.Reason, Weekly: doc.Weekly, Scope: FreezeScope{
			Services: sortedCopy(doc.Scope.Services), Environments: sortedCopy(doc.Scope.Environments),
			Clouds: sortedCopy(doc.Scope.Clouds), Boundaries: sortedCopy(doc.Scope.Boundaries),
		}}
		switch {
		case doc.Weekly != nil && (doc.Start != "" || doc.End != ""):
			c.errorf(at("weekly"), "freeze %q: set either start and end or weekly, not both", name)
		case doc.Weekly != nil:
			if _, err := time.LoadLocation(doc.Weekly.TimeZone); err != nil {
				c.errorf(at("weekly", "timeZone"), "freeze %q: unknown time zone %q (want an IANA name such as Europe/Berlin)", name, doc.Weekly.TimeZone)
			}
			if d := time.Duration(doc.Weekly.Duration); d <= 0 || d >= maxWeeklyWindow {
				c.errorf(at("weekly", "duration"), "freeze %q: a weekly window lasts more than 0s and less than a week (168h), not %s", name, doc.Weekly.Duration)
			}
			f.Weekly.Days = sortedCopy(doc.Weekly.Days)
		case doc.Start == "" || doc.End == "":
			c.errorf(at(), "freeze %q: set start and end (RFC 3339 times), or weekly", name)
		default:
			f.Start, _ = time.Parse(time.RFC3339, doc.Start) // the schema checked the form
			f.End, _ = time.Parse(time.RFC3339, doc.End)
			if !f.End.After(f.Start) {
				c.errorf(at("end"), "freeze %q: end %s is not after start %s", name, doc.End, doc.Start)
			}
		}
		c.checkScope(at("scope"), m, f.Scope)
		out = append(out, f)
	}
	return out
}

// checkScope reports the names of a freeze's scope that nothing in m has.
func (c *compiler) checkScope(at []cue.Selector, m *Model, s FreezeScope) {
	var services, envs, boundaries []string
	for _, svc := range m.Services {
		services = append(services, svc.Name)
	}
	for _, e := range m.Environments {
		envs = append(envs, e.Name)
	}
	for _, b := range c.cat.Boundaries() {
		boundaries = append(boundaries, b.ID)
	}
	check := func(field, kind string, written, known []string) {
		known = sortedCopy(known)
		for i, v := range written {
			if !slices.Contains(known, v) {
				c.errorf(append(slices.Clip(at), cue.Str(field), cue.Index(i)), "unknown %s %q in freeze scope (want one of %s)", kind, v, strings.Join(known, ", "))
			}
		}
	}
	check("services", "service", s.Services, services)
	check("environments", "environment", s.Environments, envs)
	check("clouds", "cloud", s.Clouds, c.clouds)
	check("boundaries", "boundary", s.Boundaries, boundaries)
}

// FreezesOf returns the spec's freezes that may cover service: those that
// name it or name no service.
func (m *Model) FreezesOf(service string) []Freeze {
	var fs []Freeze
	for _, f := range m.Freezes {
		if len(f.Scope.Services) == 0 || slices.Contains(f.Scope.Services, service) {
			fs = append(fs, f)
		}
	}
	return fs
}
