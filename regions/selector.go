package regions

import (
	"fmt"
	"slices"
	"strings"
)

// SelectorKind says what a Selector compares.
type SelectorKind string

// The selector kinds. KindRegion is written as a bare region id or as
// cloud:region; every other kind is written kind:value.
const (
	KindRegion     SelectorKind = "region"
	KindGeo        SelectorKind = "geo"
	KindCountry    SelectorKind = "country"
	KindPairedWith SelectorKind = "paired-with"
	KindBoundary   SelectorKind = "boundary"
	KindCloud      SelectorKind = "cloud"
	KindTier       SelectorKind = "tier"
)

// prefixed lists the kinds written kind:value, in the order error messages
// name them.
var prefixed = []SelectorKind{KindGeo, KindCountry, KindPairedWith, KindBoundary, KindCloud, KindTier}

// Tiers accepted by tier:X. A standard region is neither restricted nor
// air-gapped.
const (
	TierStandard   = "standard"
	TierRestricted = "restricted"
	TierAirGapped  = "air-gapped"
)

var tiers = []string{TierStandard, TierRestricted, TierAirGapped}

// Geos are the normalised geographies, the values of Region.Geo.
var geos = []string{"africa", "asia", "europe", "middle-east", "north-america", "oceania", "south-america"}

var geoAliases = map[string]string{
	"eu":   "europe",
	"na":   "north-america",
	"sa":   "south-america",
	"apac": "asia",
	"me":   "middle-east",
}

// Geos returns the normalised geography names, sorted.
func Geos() []string { return slices.Clone(geos) }

// NormalizeGeo resolves a geography name or alias (eu, na, sa, apac, me) to
// its normalised name. Case is ignored.
func NormalizeGeo(s string) (string, bool) {
	s = strings.ToLower(s)
	if g, ok := geoAliases[s]; ok {
		return g, true
	}
	if slices.Contains(geos, s) {
		return s, true
	}
	return "", false
}

// Selector picks regions out of the catalog. The zero Selector matches
// nothing; build one with ParseSelector.
type Selector struct {
	Kind SelectorKind
	// Cloud qualifies a KindRegion selector written cloud:region; empty for
	// a bare region id, which matches that id in every cloud.
	Cloud string
	// Value is the normalised value: a region id, geography (europe), upper
	// case country code (DE), boundary, cloud or tier.
	Value string
}

// ParseSelector parses one selector:
//
//	eu-west-1              a region id, in any cloud that has it
//	aws:eu-west-1          a region of one cloud
//	geo:europe             a geography (aliases eu, na, sa, apac, me)
//	country:DE             an ISO 3166 alpha-2 country code
//	paired-with:westeurope regions whose pairs include this region
//	boundary:us-gov        a sovereign boundary, in any cloud
//	cloud:azure            every region of a cloud
//	tier:restricted        also tier:air-gapped and tier:standard
//
// Clouds and boundaries are checked against the default catalog; region ids
// are not (the caller reports an unknown region with its own context).
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Selector{}, fmt.Errorf("empty region selector: %s", acceptedKinds())
	}
	prefix, value, qualified := strings.Cut(s, ":")
	if !qualified {
		return Selector{Kind: KindRegion, Value: s}, nil
	}
	cat := Default()
	kind := SelectorKind(prefix)
	if !slices.Contains(prefixed, kind) {
		if !cat.hasCloud(prefix) {
			return Selector{}, fmt.Errorf("region selector %q: unknown kind or cloud %q: %s", s, prefix, acceptedKinds())
		}
		kind = KindRegion
	}
	if value == "" {
		return Selector{}, fmt.Errorf("region selector %q: empty value after %q", s, prefix+":")
	}
	sel := Selector{Kind: kind, Value: value}
	switch kind {
	case KindRegion:
		sel.Cloud = prefix
	case KindGeo:
		g, ok := NormalizeGeo(value)
		if !ok {
			return Selector{}, fmt.Errorf("region selector %q: unknown geography %q (want one of %s, or an alias eu, na, sa, apac, me)", s, value, strings.Join(geos, ", "))
		}
		sel.Value = g
	case KindCountry:
		if !isCountryCode(value) {
			return Selector{}, fmt.Errorf("region selector %q: country must be an ISO 3166 alpha-2 code such as DE", s)
		}
		sel.Value = strings.ToUpper(value)
	case KindBoundary:
		if !cat.hasBoundary(value) {
			return Selector{}, fmt.Errorf("region selector %q: unknown boundary %q (want one of %s)", s, value, strings.Join(boundaryIDs(cat), ", "))
		}
	case KindCloud:
		if !cat.hasCloud(value) {
			return Selector{}, fmt.Errorf("region selector %q: unknown cloud %q (want one of %s)", s, value, strings.Join(cat.clouds, ", "))
		}
	case KindTier:
		if !slices.Contains(tiers, value) {
			return Selector{}, fmt.Errorf("region selector %q: unknown tier %q (want one of %s)", s, value, strings.Join(tiers, ", "))
		}
	}
	return sel, nil
}

// Matches reports whether r is selected.
func (s Selector) Matches(r Region) bool {
	switch s.Kind {
	case KindRegion:
		return r.ID == s.Value && (s.Cloud == "" || r.Cloud == s.Cloud)
	case KindGeo:
		return r.Geo == s.Value
	case KindCountry:
		return r.Country == s.Value
	case KindPairedWith:
		return slices.Contains(r.Paired, s.Value)
	case KindBoundary:
		return r.Boundary == s.Value
	case KindCloud:
		return r.Cloud == s.Value
	case KindTier:
		switch s.Value {
		case TierRestricted:
			return r.Restricted
		case TierAirGapped:
			return r.AirGapped
		case TierStandard:
			return !r.Restricted && !r.AirGapped
		}
	}
	return false
}

// String returns the selector in its normalised written form, which
// ParseSelector accepts.
func (s Selector) String() string {
	switch {
	case s.Kind == KindRegion && s.Cloud == "":
		return s.Value
	case s.Kind == KindRegion:
		return s.Cloud + ":" + s.Value
	}
	return string(s.Kind) + ":" + s.Value
}

func acceptedKinds() string {
	kinds := make([]string, len(prefixed))
	for i, k := range prefixed {
		kinds[i] = string(k) + ":"
	}
	return "want a region id, cloud:region (aws:eu-west-1), or one of " + strings.Join(kinds, ", ")
}

func isCountryCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func boundaryIDs(c *Catalog) []string {
	var ids []string
	for id := range c.byBoundary {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
