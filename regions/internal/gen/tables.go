package main

// Hand-written facts the shared data does not state. Each table names its
// source; generate fails when the data holds a key a table does not cover,
// so new regions are never placed silently.

// Source ids of the tables, as recorded in catalog.json's provenance.
const (
	srcBoundaryMap  = "gen:boundaries"
	srcAWSGeography = "gen:aws-geography"
	srcAzureGeo     = "gen:azure-geography"
	srcCountryGeo   = "gen:country-geo"
	srcLocalMirror  = "gen:local-mirror"
	srcUnknown      = "unknown"
)

var tableNotes = map[string]string{
	srcBoundaryMap:  "Meridian boundary ids for AWS partitions, Azure clouds and GCP universes, as listed in shared/data/README.md; the aws-iso* partitions are air-gapped.",
	srcAWSGeography: "Country of each AWS region, keyed by region id, from the city or country in the partition's region description and AWS's published region list (docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html); eu-isoe-west-1 from its partition's .uk DNS suffix.",
	srcAzureGeo:     "Country of each Azure geography (per-region for the multi-country geographies Asia Pacific and Europe, by physical location); Azure US Government regions are in US and Azure China regions in CN; regions of the Canary (US) and Stage (US) geographies (EUAP and STG) are not generally available and so restricted.",
	srcCountryGeo:   "Continent of each ISO 3166 country (Meridian's normalised geographies: Australia and New Zealand are oceania, Israel and the Gulf states middle-east, Mexico north-america).",
	srcLocalMirror:  "The local cloud (processes on this machine) mirrors the AWS regions of the public, us-gov and eu-sovereign boundaries with the same ids, names and geography.",
	srcUnknown:      "Not stated by any source; zones 0 means unknown.",
}

// awsBoundary maps an AWS partition to its Meridian boundary.
var awsBoundary = map[string]struct {
	id        string
	airGapped bool
}{
	"aws":        {"public", false},
	"aws-us-gov": {"us-gov", false},
	"aws-cn":     {"china", false},
	"aws-eusc":   {"eu-sovereign", false},
	"aws-iso":    {"us-iso", true},
	"aws-iso-b":  {"us-isob", true},
	"aws-iso-f":  {"us-isof", true},
	"aws-iso-e":  {"eu-isoe", true},
}

// azureBoundary maps an Azure cloud name to its Meridian boundary.
var azureBoundary = map[string]string{
	"AzurePublic":       "public",
	"AzureUSGovernment": "us-gov",
	"AzureChina":        "china",
}

// gcpBoundary maps a GCP universe domain to its Meridian boundary.
var gcpBoundary = map[string]string{
	"googleapis.com": "public",
	"s3nsapis.fr":    "fr-sovereign",
}

// localMirrors are the AWS boundaries the local cloud mirrors.
var localMirrors = []string{"public", "us-gov", "eu-sovereign"}

// awsCountry is the country of each AWS region.
var awsCountry = map[string]string{
	"af-south-1":      "ZA", // Cape Town
	"ap-east-1":       "HK", // Hong Kong
	"ap-east-2":       "TW", // Taipei
	"ap-northeast-1":  "JP", // Tokyo
	"ap-northeast-2":  "KR", // Seoul
	"ap-northeast-3":  "JP", // Osaka
	"ap-south-1":      "IN", // Mumbai
	"ap-south-2":      "IN", // Hyderabad
	"ap-southeast-1":  "SG", // Singapore
	"ap-southeast-2":  "AU", // Sydney
	"ap-southeast-3":  "ID", // Jakarta
	"ap-southeast-4":  "AU", // Melbourne
	"ap-southeast-5":  "MY", // Malaysia
	"ap-southeast-6":  "NZ", // New Zealand
	"ap-southeast-7":  "TH", // Thailand
	"ca-central-1":    "CA", // Central
	"ca-west-1":       "CA", // Calgary
	"eu-central-1":    "DE", // Frankfurt
	"eu-central-2":    "CH", // Zurich
	"eu-north-1":      "SE", // Stockholm
	"eu-south-1":      "IT", // Milan
	"eu-south-2":      "ES", // Spain
	"eu-west-1":       "IE", // Ireland
	"eu-west-2":       "GB", // London
	"eu-west-3":       "FR", // Paris
	"il-central-1":    "IL", // Tel Aviv
	"me-central-1":    "AE", // UAE
	"me-south-1":      "BH", // Bahrain
	"mx-central-1":    "MX", // Mexico
	"sa-east-1":       "BR", // Sao Paulo
	"us-east-1":       "US",
	"us-east-2":       "US",
	"us-west-1":       "US",
	"us-west-2":       "US",
	"us-gov-east-1":   "US",
	"us-gov-west-1":   "US",
	"cn-north-1":      "CN", // Beijing
	"cn-northwest-1":  "CN", // Ningxia
	"eusc-de-east-1":  "DE", // Germany
	"us-iso-east-1":   "US",
	"us-iso-west-1":   "US",
	"us-isob-east-1":  "US", // Ohio
	"us-isob-west-1":  "US",
	"us-isof-east-1":  "US",
	"us-isof-south-1": "US",
	"eu-isoe-west-1":  "GB", // partition DNS suffix cloud.adc-e.uk
}

// azureGeographyCountry is the country of each single-country Azure
// geography; azureLocationCountry covers the multi-country ones.
var azureGeographyCountry = map[string]string{
	"Australia":      "AU",
	"Austria":        "AT",
	"Belgium":        "BE",
	"Brazil":         "BR",
	"Canada":         "CA",
	"Canary (US)":    "US",
	"Chile":          "CL",
	"Denmark":        "DK",
	"France":         "FR",
	"Germany":        "DE",
	"India":          "IN",
	"Indonesia":      "ID",
	"Israel":         "IL",
	"Italy":          "IT",
	"Japan":          "JP",
	"Korea":          "KR",
	"Malaysia":       "MY",
	"Mexico":         "MX",
	"New Zealand":    "NZ",
	"Norway":         "NO",
	"Poland":         "PL",
	"Qatar":          "QA",
	"South Africa":   "ZA",
	"Spain":          "ES",
	"Stage (US)":     "US",
	"Sweden":         "SE",
	"Switzerland":    "CH",
	"UAE":            "AE",
	"United Kingdom": "GB",
	"United States":  "US",
}

// azureLocationCountry is the country of a region, by physical location, in
// the geographies that span countries (Asia Pacific, Europe).
var azureLocationCountry = map[string]string{
	"Hong Kong":   "HK",
	"Singapore":   "SG",
	"Ireland":     "IE",
	"Netherlands": "NL",
}

// azureRestrictedGeographies hold regions that are not generally available.
var azureRestrictedGeographies = map[string]bool{
	"Canary (US)": true, // EUAP: early update access, by enrollment
	"Stage (US)":  true, // STG: Microsoft-internal staging
}

// azureSovereignCountry is the country of every region of a sovereign cloud.
var azureSovereignCountry = map[string]string{
	"AzureUSGovernment": "US",
	"AzureChina":        "CN",
}

// countryGeo is the normalised geography of each country in the catalog.
var countryGeo = map[string]string{
	"AE": "middle-east",
	"AT": "europe",
	"AU": "oceania",
	"BE": "europe",
	"BH": "middle-east",
	"BR": "south-america",
	"CA": "north-america",
	"CH": "europe",
	"CL": "south-america",
	"CN": "asia",
	"DE": "europe",
	"DK": "europe",
	"ES": "europe",
	"FI": "europe",
	"FR": "europe",
	"GB": "europe",
	"HK": "asia",
	"ID": "asia",
	"IE": "europe",
	"IL": "middle-east",
	"IN": "asia",
	"IT": "europe",
	"JP": "asia",
	"KR": "asia",
	"MX": "north-america",
	"MY": "asia",
	"NL": "europe",
	"NO": "europe",
	"NZ": "oceania",
	"PL": "europe",
	"QA": "middle-east",
	"SA": "middle-east",
	"SE": "europe",
	"SG": "asia",
	"TH": "asia",
	"TW": "asia",
	"US": "north-america",
	"ZA": "africa",
}
