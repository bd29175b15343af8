package regions

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in   string
		want string // String() of the parsed selector
		// selected lists regions (cloud:id) the selector must pick.
		selected []string
		// notSelected lists regions it must not pick.
		notSelected []string
	}{
		{in: "eu-west-1", want: "eu-west-1", selected: []string{"aws:eu-west-1", "local:eu-west-1"}, notSelected: []string{"aws:eu-west-2"}},
		{in: " westeurope ", want: "westeurope", selected: []string{"azure:westeurope"}},
		{in: "aws:eu-west-1", want: "aws:eu-west-1", selected: []string{"aws:eu-west-1"}, notSelected: []string{"local:eu-west-1"}},
		{in: "gcp:u-france-east1", want: "gcp:u-france-east1", selected: []string{"gcp:u-france-east1"}},
		{in: "geo:europe", want: "geo:europe", selected: []string{"azure:germanywestcentral", "gcp:europe-west3", "aws:eusc-de-east-1"}, notSelected: []string{"aws:us-east-1"}},
		{in: "geo:eu", want: "geo:europe", selected: []string{"aws:eu-west-1"}},
		{in: "geo:NA", want: "geo:north-america", selected: []string{"aws:us-gov-west-1", "gcp:northamerica-south1"}},
		{in: "geo:sa", want: "geo:south-america", selected: []string{"aws:sa-east-1"}},
		{in: "geo:apac", want: "geo:asia", selected: []string{"azure:japaneast"}, notSelected: []string{"azure:australiaeast"}},
		{in: "geo:me", want: "geo:middle-east", selected: []string{"azure:qatarcentral", "aws:il-central-1"}},
		{in: "geo:oceania", want: "geo:oceania", selected: []string{"azure:australiaeast", "aws:ap-southeast-6"}},
		{in: "country:DE", want: "country:DE", selected: []string{"azure:germanywestcentral", "azure:germanynorth", "aws:eu-central-1", "gcp:europe-west10"}, notSelected: []string{"azure:westeurope"}},
		{in: "country:fr", want: "country:FR", selected: []string{"gcp:u-france-east1", "azure:francecentral"}},
		{in: "paired-with:germanywestcentral", want: "paired-with:germanywestcentral", selected: []string{"azure:germanynorth"}, notSelected: []string{"azure:germanywestcentral"}},
		{in: "paired-with:usgovtexas", want: "paired-with:usgovtexas", selected: []string{"azure:usgovvirginia", "azure:usgovarizona"}},
		{in: "boundary:us-gov", want: "boundary:us-gov", selected: []string{"aws:us-gov-east-1", "azure:usdodeast", "local:us-gov-west-1"}, notSelected: []string{"aws:us-east-1"}},
		{in: "boundary:fr-sovereign", want: "boundary:fr-sovereign", selected: []string{"gcp:u-france-east1"}},
		{in: "cloud:local", want: "cloud:local", selected: []string{"local:us-east-1", "local:eusc-de-east-1"}, notSelected: []string{"aws:us-east-1"}},
		{in: "tier:restricted", want: "tier:restricted", selected: []string{"azure:usdodeast", "azure:usdodcentral"}, notSelected: []string{"azure:usgovvirginia", "aws:us-iso-east-1"}},
		{in: "tier:air-gapped", want: "tier:air-gapped", selected: []string{"aws:us-iso-east-1", "aws:us-isob-west-1", "aws:us-isof-east-1", "aws:eu-isoe-west-1"}, notSelected: []string{"aws:us-gov-west-1"}},
		{in: "tier:standard", want: "tier:standard", selected: []string{"aws:us-gov-west-1", "gcp:u-france-east1"}, notSelected: []string{"azure:usdodeast", "aws:us-iso-east-1"}},
	}
	c := Default()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sel, err := ParseSelector(tt.in)
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.in, err)
			}
			if sel.String() != tt.want {
				t.Errorf("String() = %q, want %q", sel.String(), tt.want)
			}
			again, err := ParseSelector(sel.String())
			if err != nil || again != sel {
				t.Errorf("String() does not round-trip: %v, %+v != %+v", err, again, sel)
			}
			got := map[string]bool{}
			for _, r := range c.Select(sel) {
				got[r.Cloud+":"+r.ID] = true
			}
			for _, s := range tt.selected {
				if !got[s] {
					t.Errorf("%s does not select %s", tt.in, s)
				}
			}
			for _, s := range tt.notSelected {
				if got[s] {
					t.Errorf("%s selects %s", tt.in, s)
				}
			}
		})
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"", "empty region selector: want a region id, cloud:region (aws:eu-west-1), or one of geo:, country:, paired-with:, boundary:, cloud:, tier:"},
		{"   ", "empty region selector"},
		{"continent:europe", `region selector "continent:europe": unknown kind or cloud "continent": want a region id, cloud:region (aws:eu-west-1), or one of geo:, country:`},
		{"geo:", `region selector "geo:": empty value after "geo:"`},
		{"aws:", `empty value after "aws:"`},
		{"geo:atlantis", `unknown geography "atlantis" (want one of africa, asia, europe, middle-east, north-america, oceania, south-america, or an alias eu, na, sa, apac, me)`},
		{"country:DEU", "country must be an ISO 3166 alpha-2 code"},
		{"country:1A", "country must be an ISO 3166 alpha-2 code"},
		{"boundary:us-gvo", `unknown boundary "us-gvo" (want one of china, eu-isoe, eu-sovereign, fr-sovereign, public, us-gov, us-iso, us-isob, us-isof)`},
		{"cloud:oracle", `unknown cloud "oracle" (want one of aws, azure, gcp, local)`},
		{"tier:gold", `unknown tier "gold" (want one of standard, restricted, air-gapped)`},
	}
	for _, tt := range tests {
		_, err := ParseSelector(tt.in)
		if err == nil {
			t.Errorf("ParseSelector(%q) succeeded, want error", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseSelector(%q) = %q, want it to contain %q", tt.in, err, tt.wantErr)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSelector(%q): error spans lines: %q", tt.in, err)
		}
	}
}

// TestSelectAgreesWithMatches checks the indexed Select against a scan with
// Matches for every kind.
func TestSelectAgreesWithMatches(t *testing.T) {
	c := Default()
	for _, in := range []string{"us-east-1", "aws:us-east-1", "azure:us-east-1", "cloud:gcp", "boundary:china", "boundary:public", "geo:africa", "country:US", "paired-with:eastus", "tier:standard", "nowhere"} {
		sel, err := ParseSelector(in)
		if err != nil {
			t.Fatal(err)
		}
		var scan []Region
		for _, r := range c.Regions() {
			if sel.Matches(r) {
				scan = append(scan, r)
			}
		}
		if got := c.Select(sel); !slices.EqualFunc(got, scan, func(a, b Region) bool { return a.Cloud == b.Cloud && a.ID == b.ID }) {
			t.Errorf("%s: Select gives %d regions, Matches %d", in, len(got), len(scan))
		}
	}
}

func TestZeroSelectorMatchesNothing(t *testing.T) {
	var sel Selector
	for _, r := range Default().Regions() {
		if sel.Matches(r) {
			t.Fatalf("zero Selector matches %s:%s", r.Cloud, r.ID)
		}
	}
}

func TestNormalizeGeo(t *testing.T) {
	for s, want := range map[string]string{"europe": "europe", "EU": "europe", "apac": "asia", "oceania": "oceania", "emea": "", "": ""} {
		if got, ok := NormalizeGeo(s); got != want || ok != (want != "") {
			t.Errorf("NormalizeGeo(%q) = %q, %v, want %q, %v", s, got, ok, want, want != "")
		}
	}
}
