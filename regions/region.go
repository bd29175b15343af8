// Package regions is Meridian's catalog of cloud regions and sovereign
// boundaries. The catalog is an embedded, versioned data file (catalog.json)
// generated from the facts in the shared region data; every region carries its
// cloud, boundary, geography, pairs, zone count and restriction flags, and
// selectors such as geo:europe or country:DE resolve against it.
package regions

// Region is one cloud region inside one sovereign boundary.
type Region struct {
	Cloud      string   `json:"cloud"`
	Boundary   string   `json:"boundary"`
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Location   string   `json:"location,omitempty"`
	Country    string   `json:"country"`
	Geo        string   `json:"geo"`
	Paired     []string `json:"paired"`
	Zones      int      `json:"zones"`
	Restricted bool     `json:"restricted,omitempty"`
	AirGapped  bool     `json:"airGapped,omitempty"`
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
