package placement

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Error is one problem in a spec, at a position in one of its files.
type Error struct {
	// File is relative to the spec directory; empty for a problem with the
	// directory itself (missing, empty).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	Msg  string `json:"msg"`
}

// Error formats the error as file:line:col: message.
func (e Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line == 0:
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in a spec, sorted by position.
type Errors []Error

// Error prints one error per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted returns the errors sorted by file, line, column and message,
// without duplicates; nil when there are none.
func (es Errors) sorted() error {
	if len(es) == 0 {
		return nil
	}
	slices.SortFunc(es, func(a, b Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.Compact(es)
}

// positioner turns CUE positions into Errors relative to the spec directory.
type positioner struct {
	dir string // absolute spec directory
}

// schemaDir is where the embedded schema appears inside the spec directory
// while loading.
const schemaDir = "cue.mod/pkg/meridian.dev/schema"

// at builds an Error at pos.
func (p positioner) at(pos token.Pos, format string, args ...any) Error {
	e := Error{Msg: fmt.Sprintf(format, args...)}
	if !pos.IsValid() {
		return e
	}
	e.File = p.rel(pos.Filename())
	e.Line, e.Col = pos.Line(), pos.Column()
	return e
}

// rel makes a file name relative to the spec directory; the embedded schema
// shows as meridian.dev/schema/<file>.
func (p positioner) rel(name string) string {
	rel, err := filepath.Rel(p.dir, name)
	if err != nil || strings.HasPrefix(rel, "..") {
		return name
	}
	rel = filepath.ToSlash(rel)
	if s, ok := strings.CutPrefix(rel, schemaDir+"/"); ok {
		return "meridian.dev/schema/" + s
	}
	if rel == rootFile {
		return "meridian.dev/schema/" + rootFile
	}
	return rel
}

// inSpec reports whether pos is in one of the user's files (not the schema).
func (p positioner) inSpec(pos token.Pos) bool {
	if !pos.IsValid() {
		return false
	}
	rel := p.rel(pos.Filename())
	return !strings.HasPrefix(rel, "meridian.dev/") && !filepath.IsAbs(rel)
}

// fromCUE converts every error CUE reports in err. Each is placed at the
// first of its positions that lies in the user's files, so that a schema
// violation points at the offending value rather than at the schema.
func (p positioner) fromCUE(err error) Errors {
	var out Errors
	for _, e := range cueerrors.Errors(err) {
		positions := append([]token.Pos{e.Position()}, e.InputPositions()...)
		pos := token.NoPos
		for _, q := range positions {
			if p.inSpec(q) {
				pos = q
				break
			}
			if !pos.IsValid() {
				pos = q
			}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if path := specPath(e.Path()); path != "" {
			msg = path + ": " + msg
		}
		out = append(out, p.at(pos, "%s", msg))
	}
	return out
}

// specPath formats a CUE error path, without the schema definition the
// root is checked against.
func specPath(path []string) string {
	if len(path) > 0 && strings.HasPrefix(path[0], "#") {
		path = path[1:]
	}
	return strings.Join(path, ".")
}
