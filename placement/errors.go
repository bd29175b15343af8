package placement

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	cueschema "github.com/meridian-deploy/meridian/cue"
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
	// written, when set, finds where the user wrote the value at a CUE
	// error path, for errors CUE places in the schema only.
	written func(path []string) token.Pos
}

// schemaDir is where the embedded schema appears inside the spec directory
// while loading.
const schemaDir = "cue.mod/pkg/" + cueschema.ImportPath

// at builds an Error at pos.
func (p positioner) at(pos token.Pos, format string, args ...any) Error {
	e := Error{Msg: oneLine(fmt.Sprintf(format, args...))}
	if !pos.IsValid() {
		return e
	}
	e.File = p.rel(pos.Filename())
	e.Line, e.Col = pos.Line(), pos.Column()
	return e
}

// oneLine folds a message onto one line, so that every error is one line.
func oneLine(msg string) string {
	if !strings.Contains(msg, "\n") {
		return msg
	}
	return strings.Join(strings.Fields(msg), " ")
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
		return cueschema.ImportPath + "/" + s
	}
	if rel == rootFile {
		return cueschema.ImportPath + "/" + rootFile
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
// The errors CUE reports for each alternative of a failed disjunction are
// merged into one (see disjunction).
func (p positioner) fromCUE(err error) Errors {
	type key struct {
		pos  token.Pos
		path string
	}
	var order []key
	groups := map[key][]cueerrors.Error{}
	for _, e := range cueerrors.Errors(err) {
		if format, _ := e.Msg(); strings.HasSuffix(format, "errors in empty disjunction:") {
			continue // a header; the errors of each alternative follow
		}
		pos := p.position(e)
		if !p.inSpec(pos) && p.written != nil {
			if q := p.written(e.Path()); q.IsValid() {
				pos = q
			}
		}
		k := key{pos, specPath(e.Path())}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	var out Errors
	for _, k := range order {
		for _, msg := range p.disjunction(groups[k]) {
			msg = friendly.Replace(msg)
			if k.path != "" {
				msg = k.path + ": " + msg
			}
			out = append(out, p.at(k.pos, "%s", msg))
		}
	}
	return out
}

// friendly rewrites the schema's regular expressions in CUE's messages into
// what they mean.
var friendly = strings.NewReplacer(
	`(out of bound =~"^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$")`, `(want a duration such as "90s", "15m" or "1h30m")`,
	`(out of bound =~"^[a-z][a-z0-9-]{0,62}$")`, `(want a name of lower-case letters, digits and dashes, starting with a letter)`,
)

// position picks the first of an error's positions in the user's files,
// else its first valid one.
func (p positioner) position(e cueerrors.Error) token.Pos {
	pos := token.NoPos
	for _, q := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
		if p.inSpec(q) {
			return q
		}
		if !pos.IsValid() {
			pos = q
		}
	}
	return pos
}

// disjunction turns the errors CUE reports at one value into messages.
// When a value fails a disjunction such as *"automatic" | "stage" | "manual"
// or *1 | int & >=1, CUE reports one "conflicting values" error per
// alternative. Those are dropped when a more specific error is there
// (invalid value 0 (out of bound >=1)), and otherwise merged into one line
// naming every alternative.
func (p positioner) disjunction(errs []cueerrors.Error) []string {
	const conflict = "conflicting values %s and %s"
	var specific, conflicts []string
	count := map[string]int{}
	for _, e := range errs {
		format, args := e.Msg()
		msg := p.message(e)
		if !strings.HasPrefix(format, conflict) || len(args) < 2 {
			specific = append(specific, msg)
			continue
		}
		conflicts = append(conflicts, msg)
		a, b := fmt.Sprint(args[0]), fmt.Sprint(args[1])
		count[a]++
		if b != a {
			count[b]++
		}
	}
	if len(specific) > 0 {
		return specific
	}
	if len(conflicts) < 2 {
		return conflicts
	}
	// The value the user wrote is the side every conflict shares.
	var value string
	var alternatives []string
	for _, e := range errs {
		_, args := e.Msg()
		a, b := fmt.Sprint(args[0]), fmt.Sprint(args[1])
		if count[a] == len(errs) && value == "" {
			value = a
		} else if count[b] == len(errs) && value == "" {
			value = b
		}
		alt := a
		if alt == value {
			alt = b
		}
		alternatives = append(alternatives, alt)
	}
	if value == "" {
		return conflicts
	}
	return []string{fmt.Sprintf("%s is not allowed (want one of %s)", value, strings.Join(alternatives, ", "))}
}

// message is an error's text without its path, including what it wraps
// (an import failure says why it failed).
func (p positioner) message(e cueerrors.Error) string {
	msg := strings.ReplaceAll(e.Error(), p.dir+string(filepath.Separator), "")
	if path := strings.Join(e.Path(), "."); path != "" {
		msg = strings.TrimPrefix(msg, path+": ")
	}
	return strings.TrimRight(msg, ": ")
}

// specPath formats a CUE error path, without the schema definition the
// root is checked against.
func specPath(path []string) string {
	if len(path) > 0 && strings.HasPrefix(path[0], "#") {
		path = path[1:]
	}
	if len(path) > 0 && strings.ContainsAny(path[0], "/@") {
		return "" // a module or package, not a value of the spec
	}
	var b strings.Builder
	for _, elem := range path {
		switch {
		case elem != "" && strings.Trim(elem, "0123456789") == "":
			b.WriteString("[" + elem + "]")
			continue
		case b.Len() > 0:
			b.WriteByte('.')
		}
		if ast.IsValidIdent(elem) {
			b.WriteString(elem)
		} else {
			b.WriteString(strconv.Quote(elem))
		}
	}
	return b.String()
}
