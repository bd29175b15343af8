package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meridian-deploy/meridian/regions"
)

func TestRegionsJSON(t *testing.T) {
	out, _, err := execute("regions", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	if len(raw) != len(regions.Default().Regions()) {
		t.Fatalf("%d regions, want the whole catalog (%d)", len(raw), len(regions.Default().Regions()))
	}
	for _, field := range []string{"cloud", "boundary", "id", "name", "country", "paired", "zones"} {
		if _, ok := raw[0][field]; !ok {
			t.Errorf("region object lacks %q: %v", field, raw[0])
		}
	}
	var list []regions.Region
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range list {
		if r.Cloud == "aws" && r.ID == "us-gov-west-1" {
			found = true
			if r.Boundary != "us-gov" || r.Country != "US" {
				t.Errorf("aws:us-gov-west-1 = %+v", r)
			}
		}
	}
	if !found {
		t.Error("aws:us-gov-west-1 missing")
	}
	if strings.Contains(out, `"paired": null`) {
		t.Error("paired is null somewhere; want an empty array")
	}
}

func TestRegionsFilters(t *testing.T) {
	tests := []struct {
		args  []string
		check func(t *testing.T, list []regions.Region)
	}{
		{[]string{"--cloud", "gcp", "--boundary", "fr-sovereign"}, func(t *testing.T, list []regions.Region) {
			if len(list) != 1 || list[0].ID != "u-france-east1" || list[0].Zones != 3 {
				t.Errorf("got %+v, want only u-france-east1 with 3 zones", list)
			}
		}},
		{[]string{"--boundary", "eu-sovereign"}, func(t *testing.T, list []regions.Region) {
			if len(list) != 2 || list[0].Cloud != "aws" || list[1].Cloud != "local" || list[0].ID != "eusc-de-east-1" {
				t.Errorf("got %+v, want aws and local eusc-de-east-1", list)
			}
		}},
		{[]string{"--cloud", "azure"}, func(t *testing.T, list []regions.Region) {
			for _, r := range list {
				if r.Cloud != "azure" {
					t.Fatalf("--cloud azure listed %s:%s", r.Cloud, r.ID)
				}
			}
			if len(list) == 0 {
				t.Error("no azure regions")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := execute(append([]string{"regions", "-o", "json"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var list []regions.Region
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatal(err)
			}
			tt.check(t, list)
		})
	}
}

func TestRegionsTable(t *testing.T) {
	out, _, err := execute("regions", "--cloud", "azure", "--boundary", "us-gov")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines, want header and 6 regions:\n%s", len(lines), out)
	}
	col := strings.Index(lines[0], "REGION")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "azure") || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("column REGION not aligned at %d in %q", col, l)
		}
	}
	if !strings.Contains(out, "usdodeast") || !strings.Contains(out, "restricted") {
		t.Errorf("table lacks usdodeast restricted:\n%s", out)
	}
}

func TestRegionsUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--cloud", "oracle"}, `unknown cloud "oracle" (want one of aws, azure, gcp, local)`},
		{[]string{"--cloud", "azure", "--boundary", "eu-sovereign"}, `unknown boundary "eu-sovereign" in cloud azure (want one of china, public, us-gov)`},
		{[]string{"--boundary", "mars"}, `unknown boundary "mars"`},
		{[]string{"-o", "yaml"}, `unknown output format "yaml" (want table or json)`},
		{[]string{"extra"}, `meridian regions takes no arguments (got "extra")`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := execute(append([]string{"regions"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var usage usageError
			if !errors.As(err, &usage) && !isCobraUsage(err) {
				t.Errorf("%v is not a usage error (exit code 2)", err)
			}
			if out != "" {
				t.Errorf("printed output on error: %q", out)
			}
		})
	}
}
