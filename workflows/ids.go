package workflows

import (
	"fmt"
	"regexp"
)

// What may go into a release's workflow ID and a deploy's image tag.
// Temporal carries workflow IDs in gRPC headers, which take printable
// ASCII only: a release whose ID has anything else starts, then can be
// neither steered nor ended, and holds its service's lock for good. So
// versions and change ids are checked before anything starts.
var (
	// versionPattern is an OCI image tag: a letter, digit or underscore,
	// then letters, digits, '_', '.' and '-', at most 128 in all.
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// changeIDPattern is a change id: a letter or digit, then letters,
	// digits, '_', '.', '-' and '+', at most 255 in all (a commit, a
	// ticket, a version and a digest fit).
	changeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$`)
)

// CheckVersion refuses a version that is not a valid image tag.
func CheckVersion(v string) error {
	if !versionPattern.MatchString(v) {
		return fmt.Errorf("version %s is not a valid image tag: use letters, digits, '_', '.' and '-' (not first), at most 128", quoteShort(v))
	}
	return nil
}

// CheckChangeID refuses a change id outside the safe alphabet.
func CheckChangeID(id string) error {
	if !changeIDPattern.MatchString(id) {
		return fmt.Errorf("change id %s: use letters, digits, '_', '.', '+' and '-' (not first), at most 255", quoteShort(id))
	}
	return nil
}

// quoteShort quotes s for an error message (escaping what does not print),
// cut to 40 characters.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 40 {
		return fmt.Sprintf("%q… (%d characters)", string(r[:40]), len(r))
	}
	return fmt.Sprintf("%q", s)
}
