package pipelines

import (
	"fmt"
	"time"

	"github.com/meridian-deploy/meridian/placement"
)

// Hold is a freeze that holds a stage: the freeze, and until when it
// holds (zero: until it is lifted).
type Hold struct {
	Freeze placement.Freeze `json:"freeze"`
	Until  time.Time        `json:"until,omitzero"`
}

// Holding returns the freeze that holds targets at now: of the freezes
// active then that cover any of them, the one that holds longest (one
// held until lifted first, then by name). ok is false when none does.
func Holding(freezes []placement.Freeze, targets []placement.Target, now time.Time) (h Hold, ok bool) {
	for _, f := range freezes {
		until, active := f.ActiveAt(now)
		if !active || !coversAny(f.Scope, targets) {
			continue
		}
		if !ok || longer(until, h.Until) {
			h, ok = Hold{Freeze: f, Until: until}, true
		}
	}
	return h, ok
}

// longer reports whether a freeze held until a outlasts one held until b
// (zero is until lifted).
func longer(a, b time.Time) bool {
	switch {
	case b.IsZero():
		return false
	case a.IsZero():
		return true
	}
	return a.After(b)
}

func coversAny(s placement.FreezeScope, targets []placement.Target) bool {
	for _, t := range targets {
		if s.Covers(t) {
			return true
		}
	}
	return false
}

// Reason says why the stage waits: "frozen by NAME (declared by WHO)
// before stage S until T: REASON".
func (h Hold) Reason(stage string) string {
	by := ""
	if h.Freeze.Who != "" {
		by = " (declared by " + h.Freeze.Who + ")"
	}
	until := "until it is lifted"
	if !h.Until.IsZero() {
		until = "until " + h.Until.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("frozen by %s%s before stage %s %s: %s", h.Freeze.Name, by, stage, until, h.Freeze.Reason)
}

// HeldStage is a stage of a plan that a freeze holds.
type HeldStage struct {
	Service  string `json:"service"`
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	Stage    string `json:"stage"`
	Targets  int    `json:"targets"`
	Hold     Hold   `json:"hold"`
}

// FrozenStages lists, in plan order, the stages of pls that a change
// started at now would wait before, and the freeze that holds each.
func FrozenStages(pls []Pipeline, freezes []placement.Freeze, now time.Time) []HeldStage {
	var held []HeldStage
	for _, pl := range pls {
		for _, st := range pl.Stages {
			if h, ok := Holding(freezes, st.Targets, now); ok {
				held = append(held, HeldStage{Service: pl.Service, Cloud: pl.Cloud, Boundary: pl.Boundary, Stage: st.Name, Targets: len(st.Targets), Hold: h})
			}
		}
	}
	return held
}
