// Package cueschema embeds Meridian's CUE schema (package schema, imported by
// specs as "meridian.dev/schema") so that specs load with no network and no
// registry.
package cueschema

import "embed"

// ImportPath is the path user specs import the schema by.
const ImportPath = "meridian.dev/schema"

// FS holds the schema's *.cue files at its root.
//
//go:embed *.cue
var FS embed.FS
