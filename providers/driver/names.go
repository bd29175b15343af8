package driver

import (
	"strings"

	"github.com/meridian-deploy/meridian/placement"
)

// Expand fills a resource name template with a target's fields:
// {service}, {environment}, {boundary}, {region} and {cell}.
func Expand(template string, t placement.Target) string {
	return strings.NewReplacer(
		"{service}", t.Service,
		"{environment}", t.Environment,
		"{boundary}", t.Boundary,
		"{region}", t.Region,
		"{cell}", t.Cell,
	).Replace(template)
}
