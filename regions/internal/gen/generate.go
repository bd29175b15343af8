package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"

	"github.com/meridian-deploy/meridian/regions"
)

// formatVersion is bumped when catalog.json's layout changes; the rest of
// the version is a digest of the facts.
const formatVersion = "1"

// The shared data files.
const (
	fileAWS            = "aws-partitions.json"
	fileAzurePublic    = "azure-public-regions.json"
	fileAzureSovereign = "azure-sovereign-regions.json"
	fileGCP            = "gcp-regions.json"
)

// source describes where facts came from: a data file (with its digest, so a
// changed file shows in the diff) or a table in this generator.
type source struct {
	File   string `json:"file,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Note   string `json:"note"`
}

// provenance maps a fact (a JSON field name) to the id of its source.
type provenance map[string]string

type regionRecord struct {
	regions.Region
	Provenance provenance `json:"provenance"`
}

type boundaryRecord struct {
	regions.Boundary
	Provenance provenance `json:"provenance"`
}

type builder struct {
	data       fs.FS
	sources    map[string]source
	boundaries []boundaryRecord
	regions    []regionRecord
}

// generate reads the facts in data and returns catalog.json.
func generate(data fs.FS) ([]byte, error) {
	b := &builder{data: data, sources: map[string]source{}}
	for id, note := range tableNotes {
		b.sources[id] = source{File: "regions/internal/gen/tables.go", Note: note}
	}
	b.sources[srcUnknown] = source{Note: tableNotes[srcUnknown]}
	for _, step := range []func() error{b.aws, b.azurePublic, b.azureSovereign, b.gcp, b.local} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return b.encode()
}

// read decodes one data file into v and records it as a source.
func (b *builder) read(name string, v any, note func() string) error {
	raw, err := fs.ReadFile(b.data, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sum := sha256.Sum256(raw)
	b.sources[name] = source{File: "shared/data/" + name, SHA256: hex.EncodeToString(sum[:]), Note: note()}
	return nil
}

func (b *builder) aws() error {
	var f struct {
		Version    string `json:"version"`
		Partitions []struct {
			ID      string `json:"id"`
			Outputs struct {
				DNSSuffix string `json:"dnsSuffix"`
			} `json:"outputs"`
			Regions map[string]struct {
				Description string `json:"description"`
			} `json:"regions"`
		} `json:"partitions"`
	}
	if err := b.read(fileAWS, &f, func() string {
		return "AWS SDK partitions metadata, version " + f.Version + ": partitions, DNS suffixes, regions with descriptions."
	}); err != nil {
		return err
	}
	for _, p := range f.Partitions {
		bd, ok := awsBoundary[p.ID]
		if !ok {
			return fmt.Errorf("%s: partition %q has no boundary in tables.go", fileAWS, p.ID)
		}
		b.boundaries = append(b.boundaries, boundaryRecord{
			Boundary: regions.Boundary{Cloud: "aws", ID: bd.id, Source: p.ID, DNSSuffix: p.Outputs.DNSSuffix, AirGapped: bd.airGapped},
			Provenance: provenance{
				"id": srcBoundaryMap, "source": fileAWS, "dnsSuffix": fileAWS, "airGapped": srcBoundaryMap,
			},
		})
		for id, r := range p.Regions {
			if id == p.ID+"-global" {
				continue // a pseudo-region for global endpoints
			}
			country, ok := awsCountry[id]
			if !ok {
				return fmt.Errorf("%s: region %q has no country in tables.go", fileAWS, id)
			}
			geo, err := geoOf(country)
			if err != nil {
				return fmt.Errorf("%s: region %q: %w", fileAWS, id, err)
			}
			b.regions = append(b.regions, regionRecord{
				Region: regions.Region{
					Cloud: "aws", Boundary: bd.id, ID: id,
					Name: r.Description, Location: parenthesised(r.Description),
					Country: country, Geo: geo, Paired: []string{},
					AirGapped: bd.airGapped,
				},
				Provenance: provenance{
					"boundary": srcBoundaryMap, "id": fileAWS, "name": fileAWS, "location": fileAWS,
					"country": srcAWSGeography, "geo": srcCountryGeo, "paired": srcUnknown, "zones": srcUnknown,
					"airGapped": srcBoundaryMap,
				},
			})
		}
	}
	return nil
}

func (b *builder) azurePublic() error {
	var f struct {
		Source  string `json:"source"`
		Cloud   string `json:"cloud"`
		Regions []struct {
			Name              string   `json:"name"`
			DisplayName       string   `json:"displayName"`
			Geography         string   `json:"geography"`
			PhysicalLocation  string   `json:"physicalLocation"`
			PairedRegion      []string `json:"pairedRegion"`
			AvailabilityZones int      `json:"availabilityZones"`
		} `json:"regions"`
	}
	if err := b.read(fileAzurePublic, &f, func() string { return f.Source }); err != nil {
		return err
	}
	boundary, ok := azureBoundary[f.Cloud]
	if !ok {
		return fmt.Errorf("%s: cloud %q has no boundary in tables.go", fileAzurePublic, f.Cloud)
	}
	for _, r := range f.Regions {
		country, ok := azureGeographyCountry[r.Geography]
		if !ok {
			country, ok = azureLocationCountry[r.PhysicalLocation]
		}
		if !ok {
			return fmt.Errorf("%s: region %q: no country in tables.go for geography %q, location %q", fileAzurePublic, r.Name, r.Geography, r.PhysicalLocation)
		}
		geo, err := geoOf(country)
		if err != nil {
			return fmt.Errorf("%s: region %q: %w", fileAzurePublic, r.Name, err)
		}
		b.regions = append(b.regions, regionRecord{
			Region: regions.Region{
				Cloud: "azure", Boundary: boundary, ID: r.Name, Name: r.DisplayName,
				Location: r.PhysicalLocation, Country: country, Geo: geo,
				Paired: sorted(r.PairedRegion), Zones: r.AvailabilityZones,
				Restricted: azureRestrictedGeographies[r.Geography],
			},
			Provenance: provenance{
				"boundary": srcBoundaryMap, "id": fileAzurePublic, "name": fileAzurePublic, "location": fileAzurePublic,
				"country": srcAzureGeo, "geo": srcCountryGeo, "paired": fileAzurePublic, "zones": fileAzurePublic,
				"restricted": srcAzureGeo,
			},
		})
	}
	return nil
}

func (b *builder) azureSovereign() error {
	var f struct {
		Source string `json:"source"`
		Clouds map[string]struct {
			AuthorityHost   string          `json:"authorityHost"`
			ResourceManager string          `json:"resourceManager"`
			Audience        string          `json:"audience"`
			Regions         json.RawMessage `json:"regions"`
		} `json:"clouds"`
	}
	if err := b.read(fileAzureSovereign, &f, func() string { return f.Source }); err != nil {
		return err
	}
	for name, c := range f.Clouds {
		boundary, ok := azureBoundary[name]
		if !ok {
			return fmt.Errorf("%s: cloud %q has no boundary in tables.go", fileAzureSovereign, name)
		}
		arm, err := url.Parse(c.ResourceManager)
		if err != nil || !strings.HasPrefix(arm.Host, "management.") {
			return fmt.Errorf("%s: cloud %q: resourceManager %q is not https://management.<suffix>", fileAzureSovereign, name, c.ResourceManager)
		}
		b.boundaries = append(b.boundaries, boundaryRecord{
			Boundary: regions.Boundary{
				Cloud: "azure", ID: boundary, Source: name,
				DNSSuffix: strings.TrimPrefix(arm.Host, "management."),
				Endpoints: map[string]string{
					"authorityHost":   c.AuthorityHost,
					"resourceManager": c.ResourceManager,
					"audience":        c.Audience,
				},
			},
			Provenance: provenance{
				"id": srcBoundaryMap, "source": fileAzureSovereign, "dnsSuffix": fileAzureSovereign + " (resourceManager host)",
				"endpoints": fileAzureSovereign,
			},
		})
		var list []struct {
			Name         string   `json:"name"`
			DisplayName  string   `json:"displayName"`
			PairedRegion []string `json:"pairedRegion"`
			Restricted   bool     `json:"restricted"`
		}
		if json.Unmarshal(c.Regions, &list) != nil {
			continue // AzurePublic: "see azure-public-regions.json"
		}
		country, ok := azureSovereignCountry[name]
		if !ok {
			return fmt.Errorf("%s: cloud %q has no country in tables.go", fileAzureSovereign, name)
		}
		geo, err := geoOf(country)
		if err != nil {
			return fmt.Errorf("%s: cloud %q: %w", fileAzureSovereign, name, err)
		}
		for _, r := range list {
			b.regions = append(b.regions, regionRecord{
				Region: regions.Region{
					Cloud: "azure", Boundary: boundary, ID: r.Name, Name: r.DisplayName,
					Country: country, Geo: geo, Paired: sorted(r.PairedRegion), Restricted: r.Restricted,
				},
				Provenance: provenance{
					"boundary": srcBoundaryMap, "id": fileAzureSovereign, "name": fileAzureSovereign,
					"country": srcAzureGeo, "geo": srcCountryGeo, "paired": fileAzureSovereign, "zones": srcUnknown,
					"restricted": fileAzureSovereign,
				},
			})
		}
	}
	return nil
}

type gcpRegion struct {
	Name       string `json:"name"`
	Location   string `json:"location"`
	Country    string `json:"country"`
	Geo        string `json:"geo"`
	Zones      int    `json:"zones"`
	Unverified bool   `json:"unverified"`
}

func (b *builder) gcp() error {
	var f struct {
		Source    string `json:"source"`
		Universes map[string]struct {
			Boundary string      `json:"boundary"`
			Regions  []gcpRegion `json:"regions"`
		} `json:"universes"`
		Regions []gcpRegion `json:"regions"`
	}
	if err := b.read(fileGCP, &f, func() string { return f.Source }); err != nil {
		return err
	}
	for domain, u := range f.Universes {
		boundary, ok := gcpBoundary[domain]
		if !ok || boundary != u.Boundary {
			return fmt.Errorf("%s: universe %q (boundary %q) does not match tables.go", fileGCP, domain, u.Boundary)
		}
		b.boundaries = append(b.boundaries, boundaryRecord{
			Boundary:   regions.Boundary{Cloud: "gcp", ID: boundary, Source: domain, DNSSuffix: domain},
			Provenance: provenance{"id": fileGCP, "source": fileGCP, "dnsSuffix": fileGCP},
		})
		list := u.Regions
		if boundary == "public" {
			list = f.Regions
		}
		for _, r := range list {
			geo, err := geoOf(r.Country)
			if err != nil {
				return fmt.Errorf("%s: region %q: %w", fileGCP, r.Name, err)
			}
			if r.Geo != "" && r.Geo != geo {
				return fmt.Errorf("%s: region %q: geo %q, but tables.go puts %s in %q", fileGCP, r.Name, r.Geo, r.Country, geo)
			}
			p := provenance{
				"boundary": fileGCP, "id": fileGCP, "name": fileGCP + " (location)", "location": fileGCP,
				"country": fileGCP, "geo": fileGCP, "paired": srcUnknown, "zones": fileGCP,
			}
			if r.Geo == "" {
				p["geo"] = srcCountryGeo
			}
			if r.Zones == 0 {
				p["zones"] = srcUnknown
			}
			if r.Unverified {
				p["note"] = "the source marks this region unverified"
			}
			b.regions = append(b.regions, regionRecord{
				Region: regions.Region{
					Cloud: "gcp", Boundary: boundary, ID: r.Name, Name: r.Location, Location: r.Location,
					Country: r.Country, Geo: geo, Paired: []string{}, Zones: r.Zones,
				},
				Provenance: p,
			})
		}
	}
	return nil
}

// local mirrors the AWS boundaries in localMirrors as the local cloud.
func (b *builder) local() error {
	for _, id := range localMirrors {
		i := slices.IndexFunc(b.boundaries, func(r boundaryRecord) bool { return r.Cloud == "aws" && r.ID == id })
		if i < 0 {
			return fmt.Errorf("local cloud: no aws boundary %q to mirror", id)
		}
		b.boundaries = append(b.boundaries, boundaryRecord{
			Boundary:   regions.Boundary{Cloud: "local", ID: id, Source: "local (mirrors aws partition " + b.boundaries[i].Source + ")"},
			Provenance: provenance{"id": srcLocalMirror, "source": srcLocalMirror},
		})
	}
	for _, r := range b.regions {
		if r.Cloud != "aws" || !slices.Contains(localMirrors, r.Boundary) {
			continue
		}
		l := r.Region
		l.Cloud = "local"
		b.regions = append(b.regions, regionRecord{
			Region:     l,
			Provenance: provenance{"cloud": srcLocalMirror, "mirrors": "aws:" + r.ID},
		})
	}
	return nil
}

// encode writes catalog.json: sources indented, then one boundary or region
// per line so a changed fact shows as a one-line diff.
func (b *builder) encode() ([]byte, error) {
	slices.SortFunc(b.boundaries, func(x, y boundaryRecord) int {
		return strings.Compare(x.Cloud+"\x00"+x.ID, y.Cloud+"\x00"+y.ID)
	})
	slices.SortFunc(b.regions, func(x, y regionRecord) int {
		return strings.Compare(x.Cloud+"\x00"+x.Boundary+"\x00"+x.ID, y.Cloud+"\x00"+y.Boundary+"\x00"+y.ID)
	})
	boundaries, err := lines(b.boundaries)
	if err != nil {
		return nil, err
	}
	regionLines, err := lines(b.regions)
	if err != nil {
		return nil, err
	}
	// The version digests the facts and their provenance, so any change to
	// the data or the tables gives a new version.
	h := sha256.New()
	h.Write(boundaries)
	h.Write(regionLines)
	version := formatVersion + "." + hex.EncodeToString(h.Sum(nil))[:12]

	sources, err := json.MarshalIndent(b.sources, "  ", "  ")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "{\n  \"version\": %q,\n", version)
	fmt.Fprintf(&out, "  \"generator\": %q,\n", "regions/internal/gen: go generate ./regions")
	fmt.Fprintf(&out, "  \"sources\": %s,\n", sources)
	fmt.Fprintf(&out, "  \"boundaries\": [\n%s  ],\n", boundaries)
	fmt.Fprintf(&out, "  \"regions\": [\n%s  ]\n}\n", regionLines)
	return out.Bytes(), nil
}

// lines encodes each element on its own indented line, comma separated.
func lines[T any](items []T) ([]byte, error) {
	var out bytes.Buffer
	for i, it := range items {
		line, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		out.WriteString("    ")
		out.Write(line)
		if i < len(items)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

func geoOf(country string) (string, error) {
	geo, ok := countryGeo[country]
	if !ok {
		return "", fmt.Errorf("country %q has no geography in tables.go", country)
	}
	return geo, nil
}

// parenthesised returns the text in the last parentheses of an AWS region
// description ("Europe (Ireland)" → "Ireland"), or "".
func parenthesised(s string) string {
	open, end := strings.LastIndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return ""
	}
	return s[open+1 : end]
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}
