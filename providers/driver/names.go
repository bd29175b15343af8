package driver

import (
	"slices"
	"strings"
)

// Expand fills a resource name template with a target's fields:
// {service}, {environment}, {boundary}, {region} and {cell}.
func Expand(template string, t Target) string {
	return strings.NewReplacer(
		"{service}", t.Service,
		"{environment}", t.Environment,
		"{boundary}", t.Boundary,
		"{region}", t.Region,
		"{cell}", t.Cell,
	).Replace(template)
}

// ImageRepository strips the tag and digest from an image reference:
// registry.example.com/billing:v2@sha256:… is registry.example.com/billing.
func ImageRepository(image string) string {
	repository, _ := SplitImage(image)
	return repository
}

// SplitImage splits an image reference into its repository (as
// ImageRepository) and its tag, without the digest:
// registry.example.com/billing:v2@sha256:… is registry.example.com/billing
// and v2. tag is "" for an untagged image.
func SplitImage(image string) (repository, tag string) {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// Container picks the container whose image a deploy of repository
// replaces, among containers with these images and names: the one that
// runs repository, else the one called named, else the only one when no
// name is set. ok is false when none fits.
func Container(images, names []string, repository, named string) (i int, ok bool) {
	for i, image := range images {
		if ImageRepository(image) == repository {
			return i, true
		}
	}
	if named != "" {
		for i, name := range names {
			if name == named {
				return i, true
			}
		}
		return 0, false
	}
	return 0, len(images) == 1
}

// ParseID is the inverse of Target.ID, for drivers that record a
// target's ID on what they deploy (a tag): ok is false when id does not
// have a target ID's five or six non-empty fields.
func ParseID(id string) (t Target, ok bool) {
	f := strings.Split(id, "/")
	if len(f) != 5 && len(f) != 6 {
		return Target{}, false
	}
	for _, s := range f {
		if s == "" {
			return Target{}, false
		}
	}
	t = Target{Service: f[0], Environment: f[1], Cloud: f[2], Boundary: f[3], Region: f[4]}
	if len(f) == 6 {
		t.Cell = f[5]
	}
	return t, true
}

// SortByID sorts targets by ID, the order Lister.Managed returns them in.
func SortByID(ts []Target) {
	slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.ID(), b.ID()) })
}
