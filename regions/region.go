// Package regions is Meridian's catalog of cloud regions and sovereign
// boundaries. The catalog is an embedded, versioned data file (catalog.json)
// generated from the facts in the shared region data; every region carries its
// cloud, boundary, geography, pairs, zone count and restriction flags, and
// selectors such as geo:europe or country:DE resolve against it.
//
// Besides aws, azure and gcp the catalog has a fourth cloud, local: processes
// on this machine, the embedded default. It mirrors the AWS regions of the
// public, us-gov and eu-sovereign boundaries with the same ids, names,
// geography and boundaries, so a spec written for local (us-east-1,
// eu-west-1, us-gov-west-1, eusc-de-east-1) exercises the same placement,
// boundary rules and per-boundary pipelines as one written for AWS.
//
// Regenerate catalog.json with `go generate ./regions` after changing the
// shared data or the generator's tables; the tests fail while it is stale.
// docs/regions.md describes the data and the selector syntax.
package regions

// Region is one cloud region inside one sovereign boundary.
type Region struct {
	Cloud    string `json:"cloud"`
	Boundary string `json:"boundary"`
	ID       string `json:"id"`
	// Name is the cloud's display name; GCP publishes none, so its regions
	// carry their location.
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	// Country is the ISO 3166 alpha-2 code.
	Country string `json:"country"`
	// Geo is one of the normalised geographies listed by Geos.
	Geo string `json:"geo"`
	// Paired lists the regions the cloud names as this region's pairs,
	// sorted; never nil. Pairs are not always symmetric.
	Paired []string `json:"paired"`
	// Zones is the availability zone count; 0 means unknown (no source
	// distinguishes a region without zones from an unstated count).
	Zones int `json:"zones"`
	// Restricted regions need the cloud's approval to use (Azure DoD, EUAP).
	Restricted bool `json:"restricted,omitempty"`
	// AirGapped regions are not reachable from the internet (AWS ISO).
	AirGapped bool `json:"airGapped,omitempty"`
}

// Boundary is a sovereign boundary: a set of regions of one cloud with its own
// identity plane and endpoints (an AWS partition, an Azure cloud, a GCP universe).
type Boundary struct {
	Cloud string `json:"cloud"`
	ID    string `json:"id"`
	// Source names the cloud's own identifier: AWS partition, Azure cloud
	// name, or GCP universe domain.
	Source string `json:"source"`
	// DNSSuffix is the boundary's service endpoint suffix (amazonaws.com.cn,
	// usgovcloudapi.net, s3nsapis.fr, …).
	DNSSuffix string `json:"dnsSuffix,omitempty"`
	// Endpoints holds boundary-wide endpoints where the cloud publishes them
	// (Azure: authorityHost, resourceManager, audience).
	Endpoints map[string]string `json:"endpoints,omitempty"`
	AirGapped bool              `json:"airGapped,omitempty"`
}
