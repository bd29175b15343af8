package regions

import (
	"slices"
	"strings"
	"testing"
)

func TestSpotChecks(t *testing.T) {
	c := Default()
	tests := []struct {
		cloud, id string
		check     func(t *testing.T, r Region)
	}{
		{"aws", "us-gov-west-1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "us-gov")
			want(t, r.Country, "US")
			want(t, r.Name, "AWS GovCloud (US-West)")
		}},
		{"aws", "eusc-de-east-1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "eu-sovereign")
			want(t, r.Country, "DE")
			want(t, r.Geo, "europe")
		}},
		{"aws", "eu-west-1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "public")
			want(t, r.Country, "IE")
			want(t, r.Location, "Ireland")
			want(t, r.Zones, 0) // AWS data does not state zone counts
		}},
		{"aws", "cn-north-1", func(t *testing.T, r Region) { want(t, r.Boundary, "china") }},
		{"aws", "us-iso-east-1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "us-iso")
			want(t, r.AirGapped, true)
		}},
		{"aws", "us-isob-east-1", func(t *testing.T, r Region) { want(t, r.AirGapped, true) }},
		{"aws", "us-isof-south-1", func(t *testing.T, r Region) { want(t, r.Boundary, "us-isof") }},
		{"aws", "eu-isoe-west-1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "eu-isoe")
			want(t, r.AirGapped, true)
		}},
		{"aws", "ap-southeast-2", func(t *testing.T, r Region) { want(t, r.Geo, "oceania") }},
		{"azure", "usdodeast", func(t *testing.T, r Region) {
			want(t, r.Boundary, "us-gov")
			want(t, r.Restricted, true)
			want(t, strings.Join(r.Paired, ","), "usdodcentral")
		}},
		{"azure", "usgovvirginia", func(t *testing.T, r Region) { want(t, r.Restricted, false) }},
		{"azure", "germanywestcentral", func(t *testing.T, r Region) {
			want(t, r.Boundary, "public")
			want(t, r.Country, "DE")
			want(t, r.Geo, "europe")
			want(t, strings.Join(r.Paired, ","), "germanynorth")
			want(t, r.Zones, 3)
		}},
		{"azure", "usgovtexas", func(t *testing.T, r Region) {
			want(t, strings.Join(r.Paired, ","), "usgovarizona,usgovvirginia") // sorted
		}},
		{"azure", "austriaeast", func(t *testing.T, r Region) {
			if r.Paired == nil || len(r.Paired) != 0 {
				t.Errorf("Paired = %#v, want empty non-nil", r.Paired)
			}
		}},
		{"azure", "chinaeast3", func(t *testing.T, r Region) {
			want(t, r.Boundary, "china")
			want(t, r.Restricted, true)
		}},
		{"azure", "westeurope", func(t *testing.T, r Region) { want(t, r.Country, "NL") }},
		{"azure", "eastus2euap", func(t *testing.T, r Region) { want(t, r.Restricted, true) }},
		{"gcp", "u-france-east1", func(t *testing.T, r Region) {
			want(t, r.Boundary, "fr-sovereign")
			want(t, r.Zones, 3)
			want(t, r.Country, "FR")
		}},
		{"gcp", "europe-west3", func(t *testing.T, r Region) {
			want(t, r.Boundary, "public")
			want(t, r.Country, "DE")
		}},
		{"local", "us-gov-west-1", func(t *testing.T, r Region) { want(t, r.Boundary, "us-gov") }},
		{"local", "eusc-de-east-1", func(t *testing.T, r Region) { want(t, r.Boundary, "eu-sovereign") }},
	}
	for _, tt := range tests {
		t.Run(tt.cloud+":"+tt.id, func(t *testing.T) {
			r, ok := c.Region(tt.cloud, tt.id)
			if !ok {
				t.Fatalf("Region(%q, %q) not found", tt.cloud, tt.id)
			}
			want(t, r.Cloud, tt.cloud)
			want(t, r.ID, tt.id)
			tt.check(t, r)
		})
	}
}

func TestBoundaries(t *testing.T) {
	c := Default()
	tests := []struct {
		cloud, id string
		check     func(t *testing.T, b Boundary)
	}{
		{"aws", "public", func(t *testing.T, b Boundary) { want(t, b.Source, "aws") }},
		{"aws", "us-gov", func(t *testing.T, b Boundary) {
			want(t, b.Source, "aws-us-gov")
			want(t, b.DNSSuffix, "amazonaws.com")
		}},
		{"aws", "china", func(t *testing.T, b Boundary) { want(t, b.DNSSuffix, "amazonaws.com.cn") }},
		{"aws", "eu-sovereign", func(t *testing.T, b Boundary) { want(t, b.Source, "aws-eusc") }},
		{"aws", "us-iso", func(t *testing.T, b Boundary) { want(t, b.AirGapped, true) }},
		{"aws", "us-isob", func(t *testing.T, b Boundary) { want(t, b.AirGapped, true) }},
		{"aws", "us-isof", func(t *testing.T, b Boundary) { want(t, b.AirGapped, true) }},
		{"aws", "eu-isoe", func(t *testing.T, b Boundary) { want(t, b.Source, "aws-iso-e") }},
		{"azure", "public", func(t *testing.T, b Boundary) { want(t, b.Source, "AzurePublic") }},
		{"azure", "us-gov", func(t *testing.T, b Boundary) {
			want(t, b.Source, "AzureUSGovernment")
			want(t, b.DNSSuffix, "usgovcloudapi.net")
			want(t, b.Endpoints["authorityHost"], "https://login.microsoftonline.us/")
			want(t, b.Endpoints["resourceManager"], "https://management.usgovcloudapi.net")
			want(t, b.Endpoints["audience"], "https://management.core.usgovcloudapi.net")
		}},
		{"azure", "china", func(t *testing.T, b Boundary) { want(t, b.Source, "AzureChina") }},
		{"gcp", "public", func(t *testing.T, b Boundary) { want(t, b.Source, "googleapis.com") }},
		{"gcp", "fr-sovereign", func(t *testing.T, b Boundary) { want(t, b.DNSSuffix, "s3nsapis.fr") }},
		{"local", "public", func(t *testing.T, b Boundary) { want(t, b.AirGapped, false) }},
	}
	for _, tt := range tests {
		t.Run(tt.cloud+"/"+tt.id, func(t *testing.T) {
			b, ok := c.Boundary(tt.cloud, tt.id)
			if !ok {
				t.Fatalf("Boundary(%q, %q) not found", tt.cloud, tt.id)
			}
			tt.check(t, b)
		})
	}
	if got := len(c.Boundaries()); got != 16 {
		t.Errorf("%d boundaries, want 16 (8 aws, 3 azure, 2 gcp, 3 local)", got)
	}
	if _, ok := c.Boundary("local", "china"); ok {
		t.Error("local mirrors only public, us-gov and eu-sovereign")
	}
}

func TestLookupMisses(t *testing.T) {
	c := Default()
	if _, ok := c.Region("aws", "westeurope"); ok {
		t.Error("Region(aws, westeurope) found an azure region under aws")
	}
	if _, ok := c.Region("aws", "aws-global"); ok {
		t.Error("pseudo-region aws-global is in the catalog")
	}
	if _, ok := c.Boundary("azure", "eu-sovereign"); ok {
		t.Error("Boundary(azure, eu-sovereign) found")
	}
	if got := c.ByID("nowhere-1"); got != nil {
		t.Errorf("ByID(nowhere-1) = %v, want nil", got)
	}
}

func TestByID(t *testing.T) {
	got := Default().ByID("us-east-1")
	var clouds []string
	for _, r := range got {
		clouds = append(clouds, r.Cloud)
	}
	want(t, strings.Join(clouds, ","), "aws,local")
}

func TestInvariants(t *testing.T) {
	c := Default()
	want(t, strings.Join(c.Clouds(), ","), "aws,azure,gcp,local")
	if !strings.HasPrefix(c.Version(), "1.") {
		t.Errorf("Version() = %q, want format 1", c.Version())
	}
	all := c.Regions()
	if !slices.IsSortedFunc(all, compareRegions) {
		t.Error("Regions() is not sorted by cloud, boundary, id")
	}
	perCloud := map[string]int{}
	for _, r := range all {
		perCloud[r.Cloud]++
		if _, ok := c.Boundary(r.Cloud, r.Boundary); !ok {
			t.Errorf("%s:%s: unknown boundary %q", r.Cloud, r.ID, r.Boundary)
		}
		if len(r.Country) != 2 || strings.ToUpper(r.Country) != r.Country {
			t.Errorf("%s:%s: country %q is not ISO 3166 alpha-2", r.Cloud, r.ID, r.Country)
		}
		if !slices.Contains(Geos(), r.Geo) {
			t.Errorf("%s:%s: geo %q is not normalised", r.Cloud, r.ID, r.Geo)
		}
		if r.Paired == nil || !slices.IsSorted(r.Paired) {
			t.Errorf("%s:%s: paired %v must be sorted and non-nil", r.Cloud, r.ID, r.Paired)
		}
		if r.Name == "" || strings.HasSuffix(r.ID, "-global") {
			t.Errorf("%s:%s: bad region %+v", r.Cloud, r.ID, r)
		}
	}
	// Counts follow the shared data: 46 AWS regions (without the 8
	// -global pseudo-regions), 62 + 12 Azure, 43 + 1 GCP, and the 37 AWS
	// public, us-gov and eu-sovereign regions mirrored as local.
	for cloud, n := range map[string]int{"aws": 46, "azure": 74, "gcp": 44, "local": 37} {
		if perCloud[cloud] != n {
			t.Errorf("%s has %d regions, want %d", cloud, perCloud[cloud], n)
		}
	}
}

// TestLocalMirrorsAWS checks the local cloud is the AWS public, us-gov and
// eu-sovereign boundaries under another cloud name.
func TestLocalMirrorsAWS(t *testing.T) {
	c := Default()
	n := 0
	for _, r := range c.Regions() {
		if r.Cloud != "aws" {
			continue
		}
		l, ok := c.Region("local", r.ID)
		mirrored := slices.Contains([]string{"public", "us-gov", "eu-sovereign"}, r.Boundary)
		if ok != mirrored {
			t.Errorf("aws:%s (boundary %s): local mirror present = %v", r.ID, r.Boundary, ok)
			continue
		}
		if !ok {
			continue
		}
		n++
		l.Cloud = "aws"
		if !slices.Equal(l.Paired, r.Paired) || l.Name != r.Name || l.Boundary != r.Boundary ||
			l.Country != r.Country || l.Geo != r.Geo || l.Location != r.Location || l.Zones != r.Zones {
			t.Errorf("local:%s = %+v, differs from aws:%s = %+v", r.ID, l, r.ID, r)
		}
	}
	if n == 0 {
		t.Fatal("no local regions")
	}
}

func TestParseRejectsBadCatalogs(t *testing.T) {
	tests := map[string]string{
		"not json":           `{`,
		"no version":         `{"boundaries":[],"regions":[]}`,
		"duplicate region":   `{"version":"1","boundaries":[{"cloud":"a","id":"b"}],"regions":[{"cloud":"a","boundary":"b","id":"r"},{"cloud":"a","boundary":"b","id":"r"}]}`,
		"duplicate boundary": `{"version":"1","boundaries":[{"cloud":"a","id":"b"},{"cloud":"a","id":"b"}],"regions":[]}`,
		"unknown boundary":   `{"version":"1","boundaries":[{"cloud":"a","id":"b"}],"regions":[{"cloud":"a","boundary":"x","id":"r"}]}`,
	}
	for name, data := range tests {
		if _, err := parse([]byte(data)); err == nil {
			t.Errorf("%s: parse accepted %s", name, data)
		}
	}
}

func BenchmarkRegion(b *testing.B) {
	c := Default()
	for b.Loop() {
		if _, ok := c.Region("azure", "germanywestcentral"); !ok {
			b.Fatal("not found")
		}
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}
