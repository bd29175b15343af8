package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// dataDir is ../shared/data from the repository root, which is three
// levels above this package's directory, where go test runs its tests.
var dataDir = filepath.Join("..", "..", "..", "..", "shared", "data")

// requireSharedData skips the test when the shared data is not beside the
// repository, as in a clone of the repository alone. CI (which sets
// CI=true) runs .ci/run in a clone with shared/ beside it, so there a
// missing directory fails the test instead of leaving catalog.json unchecked.
func requireSharedData(t *testing.T) {
	t.Helper()
	_, err := os.Stat(dataDir)
	if err == nil {
		return
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dataDir)
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("shared region data not found at %s: CI must have shared/ beside the repository", abs)
	}
	t.Skipf("shared region data not found at %s (../shared/data beside the repository); outside CI the test skips", abs)
}

// TestCatalogIsCurrent regenerates the catalog from the shared data and
// compares it with the committed regions/catalog.json.
func TestCatalogIsCurrent(t *testing.T) {
	requireSharedData(t)
	got, err := generate(os.DirFS(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatal("regions/catalog.json is stale: run go generate ./regions and commit the result")
	}
}

// TestGenerateIsDeterministic guards against map-order leaks.
func TestGenerateIsDeterministic(t *testing.T) {
	data := sharedData(t)
	first, err := generate(data)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := generate(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("two runs over the same data differ")
		}
	}
}

// TestGenerateRejectsUncoveredFacts checks that new data the tables do not
// cover stops the generator instead of producing guessed facts.
func TestGenerateRejectsUncoveredFacts(t *testing.T) {
	tests := []struct {
		name, file, old, new, wantErr string
	}{
		{"new partition", fileAWS, `"id" : "aws-iso-f"`, `"id" : "aws-iso-z"`, `partition "aws-iso-z" has no boundary`},
		{"new aws region", fileAWS, `"us-gov-east-1" :`, `"us-gov-east-9" :`, `region "us-gov-east-9" has no country`},
		{"new azure geography", fileAzurePublic, `"geography": "Austria"`, `"geography": "Atlantis"`, `no country in tables.go for geography "Atlantis"`},
		{"new azure cloud", fileAzureSovereign, `"AzureChina": {`, `"AzureMoon": {`, `cloud "AzureMoon" has no boundary`},
		{"gcp geo disagrees", fileGCP, `"country": "JP", "geo": "asia"`, `"country": "JP", "geo": "europe"`, `geo "europe", but tables.go puts JP in "asia"`},
		{"new gcp universe", fileGCP, `"s3nsapis.fr"`, `"example.de"`, `universe "example.de"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := sharedData(t)
			f := data[tt.file]
			if !bytes.Contains(f.Data, []byte(tt.old)) {
				t.Fatalf("%s no longer contains %q; update the test", tt.file, tt.old)
			}
			data[tt.file] = &fstest.MapFile{Data: bytes.Replace(f.Data, []byte(tt.old), []byte(tt.new), 1)}
			_, err := generate(data)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("generate: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParenthesised(t *testing.T) {
	for in, want := range map[string]string{
		"Europe (Ireland)":      "Ireland",
		"US East (N. Virginia)": "N. Virginia",
		"US ISO East":           "",
		"broken ) (":            "",
	} {
		if got := parenthesised(in); got != want {
			t.Errorf("parenthesised(%q) = %q, want %q", in, got, want)
		}
	}
}

// sharedData loads the shared data files into memory, so a test can edit them.
func sharedData(t *testing.T) fstest.MapFS {
	t.Helper()
	requireSharedData(t)
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	data := fstest.MapFS{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dataDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data[e.Name()] = &fstest.MapFile{Data: b}
	}
	return data
}
