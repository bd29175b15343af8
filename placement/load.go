package placement

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	cueschema "github.com/meridian-deploy/meridian/cue"
)

// Size limits of a spec. A larger file or spec is reported, not read: CUE's
// evaluation time grows faster than linearly with the number of fields in
// one struct, so a huge input would run for minutes. A fleet of 2,000
// services is under 1 MiB.
const (
	MaxFileSize = 4 << 20  // bytes per file
	MaxSpecSize = 16 << 20 // bytes of all the spec's files together
)

// Spec is a loaded spec directory: its package evaluated and checked against
// the embedded schema (#Spec), ready for Compile.
type Spec struct {
	value cue.Value
	pos   positioner
	files []*ast.File // the user's files, sorted by name
	// labels maps a field path (services.billing.placement) to where the
	// user first wrote it; built on the first error that needs it.
	labels map[string]token.Pos
}

// Value is the spec's root value, unified with the schema.
func (s *Spec) Value() cue.Value { return s.value }

// Load reads the *.cue files of the one package in dir (files whose names
// start with "." or "_" and non-CUE files are ignored), resolves the import
// "meridian.dev/schema" to the embedded schema without any network, and
// checks the package against the schema. Its error is always Errors.
func Load(dir string) (*Spec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, Errors{{Msg: fmt.Sprintf("spec directory %s: %v", dir, err)}}
	}
	p := positioner{dir: abs}
	pkg, errs := checkDir(dir, abs)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}

	overlay, err := schemaOverlay(abs, pkg)
	if err != nil {
		return nil, Errors{{Msg: err.Error()}}
	}
	insts := load.Instances([]string{"."}, &load.Config{Dir: abs, ModuleRoot: abs, Overlay: overlay})
	inst := insts[0]
	for _, f := range inst.IgnoredFiles {
		if base := filepath.Base(f.Filename); !strings.HasPrefix(base, ".") && !strings.HasPrefix(base, "_") {
			msg := fmt.Sprintf("file is left out of the spec: %v", f.ExcludeReason)
			if pkg == "" || strings.Contains(msg, "no package name") {
				msg = "file has no package clause; every spec file must declare the spec's package"
			}
			errs = append(errs, Error{File: p.rel(f.Filename), Line: 1, Col: 1, Msg: msg})
		}
	}
	// When files were left out, load's "no CUE files" says less than that.
	var noFiles *load.NoFilesError
	if inst.Err != nil && (len(errs) == 0 || !errors.As(inst.Err, &noFiles)) {
		errs = append(errs, p.fromCUE(inst.Err)...)
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}

	spec := &Spec{pos: p}
	for _, f := range inst.Files {
		if filepath.Dir(f.Filename) == abs && filepath.Base(f.Filename) != rootFile {
			spec.files = append(spec.files, f)
		}
	}
	slices.SortFunc(spec.files, func(a, b *ast.File) int { return strings.Compare(a.Filename, b.Filename) })
	errs = append(errs, spec.duplicateServices()...)

	spec.value = cuecontext.New().BuildInstance(inst)
	p.written = spec.written
	errs = append(errs, spec.unknownTopLevel()...)
	if err := spec.value.Validate(cue.Concrete(true)); err != nil {
		errs = append(errs, p.fromCUE(err)...)
	}
	if err := errs.sorted(); err != nil {
		return nil, err
	}
	return spec, nil
}

// checkDir reports a missing or unreadable directory, one without CUE
// files, and files too large to read. It returns the package name of the
// first file that has one.
func checkDir(dir, abs string) (pkg string, errs Errors) {
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", Errors{{Msg: fmt.Sprintf("spec directory %s does not exist", dir)}}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the directory already
		}
		return "", Errors{{Msg: fmt.Sprintf("spec directory %s: %v", dir, err)}}
	}
	found := false
	var total int64
	var files []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".cue") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		found = true
		total += info.Size()
		if info.Size() > MaxFileSize {
			errs = append(errs, Error{File: name, Msg: fmt.Sprintf("file is too large (%s; at most %s)", mib(info.Size()), mib(MaxFileSize))})
			continue
		}
		files = append(files, name)
	}
	if !found {
		errs = append(errs, Error{Msg: "no .cue files in the spec directory"})
	}
	if total > MaxSpecSize && len(errs) == 0 {
		errs = append(errs, Error{Msg: fmt.Sprintf("spec is too large (%s of .cue files; at most %s)", mib(total), mib(MaxSpecSize))})
	}
	if len(errs) > 0 {
		return "", errs
	}
	for _, name := range files {
		if e := notText(abs, name); e != nil {
			errs = append(errs, *e)
		} else if pkg == "" {
			pkg = packageName(filepath.Join(abs, name))
		}
	}
	return pkg, errs
}

// notText reports a .cue file that is not UTF-8 text (a binary dropped
// into the spec directory) as one error at its first bad byte, instead of
// the hundreds of illegal-character errors the CUE scanner would give.
func notText(abs, name string) *Error {
	b, err := os.ReadFile(filepath.Join(abs, name))
	if err != nil {
		return &Error{File: name, Msg: err.Error()}
	}
	bad := bytes.IndexByte(b, 0)
	if bad < 0 && utf8.Valid(b) {
		return nil
	}
	if i := invalidUTF8(b); bad < 0 || (i >= 0 && i < bad) {
		bad = i
	}
	line := 1 + bytes.Count(b[:bad], []byte("\n"))
	col := 1 + utf8.RuneCount(b[bytes.LastIndexByte(b[:bad], '\n')+1:bad])
	return &Error{File: name, Line: line, Col: col, Msg: "not a text file: a .cue file must be UTF-8 text without NUL bytes"}
}

// invalidUTF8 returns the offset of the first byte of b that is not valid UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// packageName returns the package a CUE file declares, "" when it declares
// none or cannot be parsed (load reports that).
func packageName(file string) string {
	f, err := parser.ParseFile(file, nil, parser.PackageClauseOnly)
	if err != nil {
		return ""
	}
	return f.PackageName()
}

// rootFile is the synthetic file that applies the schema to the root of the
// spec's package.
const rootFile = "zz_meridian_schema_root.cue"

// schemaOverlay makes the embedded schema a local package of the spec
// directory (cue.mod/pkg/meridian.dev/schema), with a synthetic module file
// when the directory has none of its own, and adds to package pkg a file
// that embeds schema.#Spec, so that one evaluation checks the whole spec.
// Nothing is written to disk.
func schemaOverlay(dir, pkg string) (map[string]load.Source, error) {
	overlay := map[string]load.Source{}
	if pkg != "" {
		root := "package " + pkg + "\n\nimport meridianschema \"" + cueschema.ImportPath + "\"\n\n"
		for _, field := range topLevel {
			// Not an embedding of #Spec: CUE does not close the services an
			// embedded definition's pattern constraints apply to.
			root += field + ": meridianschema.#Spec." + field + "\n"
		}
		overlay[filepath.Join(dir, rootFile)] = load.FromString(root)
	}
	modFile := filepath.Join(dir, "cue.mod", "module.cue")
	if _, err := os.Stat(modFile); err != nil {
		overlay[modFile] = load.FromString("module: \"meridian.local/spec@v0\"\nlanguage: version: \"v0.17.0\"\n")
	}
	files, err := fs.Glob(cueschema.FS, "*.cue")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		b, err := fs.ReadFile(cueschema.FS, name)
		if err != nil {
			return nil, err
		}
		overlay[filepath.Join(dir, filepath.FromSlash(schemaDir), name)] = load.FromBytes(b)
	}
	return overlay, nil
}

// topLevel are the fields of a spec's root.
var topLevel = []string{"environments", "boundaries", "pipelines", "services", "freezes"}

// unknownTopLevel reports regular root fields the schema does not know.
func (s *Spec) unknownTopLevel() Errors {
	var errs Errors
	iter, err := s.value.Fields()
	if err != nil {
		return nil // reported by Validate
	}
	for iter.Next() {
		name := iter.Selector().Unquoted()
		if !slices.Contains(topLevel, name) {
			errs = append(errs, s.pos.at(s.posOf(cue.MakePath(iter.Selector())), "unknown top-level field %q (want one of %s)", name, strings.Join(topLevel, ", ")))
		}
	}
	return errs
}

// duplicateServices reports a service declared in more than one file. CUE
// would unify the declarations into one service; two files declaring the
// same name are almost always a copy-paste mistake. Declarations of one
// service within one file may be split freely.
func (s *Spec) duplicateServices() Errors {
	first := map[string]token.Pos{}
	var errs Errors
	for _, f := range s.files {
		seen := map[string]bool{}
		for _, decl := range f.Decls {
			field, ok := decl.(*ast.Field)
			if !ok || labelName(field.Label) != "services" {
				continue
			}
			for _, svc := range structFields(field.Value) {
				name := labelName(svc.Label)
				if name == "" || seen[name] {
					continue
				}
				seen[name] = true
				pos := svc.Label.Pos()
				if prev, dup := first[name]; dup {
					errs = append(errs, s.pos.at(pos, "service %q is also defined in %s:%d:%d; define each service in one file", name, s.pos.rel(prev.Filename()), prev.Line(), prev.Column()))
					continue
				}
				first[name] = pos
			}
		}
	}
	return errs
}

// labelName is the name of a static field label; "" for a dynamic one.
func labelName(l ast.Label) string {
	name, _, err := ast.LabelName(l)
	if err != nil {
		return ""
	}
	return name
}

// structFields returns the fields of the struct literals in x, looking
// through parentheses and unifications (schema.#Service & {...}).
func structFields(x ast.Expr) []*ast.Field {
	switch x := x.(type) {
	case *ast.StructLit:
		var fields []*ast.Field
		for _, d := range x.Elts {
			if f, ok := d.(*ast.Field); ok {
				fields = append(fields, f)
			}
		}
		return fields
	case *ast.ParenExpr:
		return structFields(x.X)
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			return append(structFields(x.X), structFields(x.Y)...)
		}
	}
	return nil
}

// written returns where the user wrote the value at a CUE error path
// ("services", "billing", "placement", "clouds", "0").
func (s *Spec) written(path []string) token.Pos {
	if len(path) > 0 && strings.HasPrefix(path[0], "#") {
		path = path[1:]
	}
	sels := make([]cue.Selector, len(path))
	for i, elem := range path {
		if n, err := strconv.Atoi(elem); err == nil && n >= 0 {
			sels[i] = cue.Index(n)
			continue
		}
		if unquoted, err := strconv.Unquote(elem); err == nil {
			elem = unquoted
		}
		sels[i] = cue.Str(elem)
	}
	return s.posOf(cue.MakePath(sels...))
}

// posOf returns where the user wrote the value at path: its own position if
// that lies in the user's files, otherwise where the longest prefix of path
// was written.
func (s *Spec) posOf(p cue.Path) token.Pos {
	if pos := s.value.LookupPath(p).Pos(); s.pos.inSpec(pos) {
		return pos
	}
	if s.labels == nil {
		s.labels = map[string]token.Pos{}
		for _, f := range s.files {
			indexLabels(s.labels, "", f.Decls)
		}
	}
	sels := p.Selectors()
	for n := len(sels); n > 0; n-- {
		if pos, ok := s.labels[cue.MakePath(sels[:n]...).String()]; ok {
			return pos
		}
	}
	return token.NoPos
}

// indexLabels records where each static field path (and list element) is
// first written.
func indexLabels(index map[string]token.Pos, prefix string, decls []ast.Decl) {
	for _, d := range decls {
		f, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		name := labelName(f.Label)
		if name == "" {
			continue
		}
		p := cue.MakePath(cue.Str(name)).String()
		if prefix != "" {
			p = prefix + "." + p
		}
		if _, seen := index[p]; !seen {
			index[p] = f.Label.Pos()
		}
		indexValue(index, p, f.Value)
	}
}

func indexValue(index map[string]token.Pos, p string, x ast.Expr) {
	switch x := x.(type) {
	case *ast.StructLit:
		indexLabels(index, p, x.Elts)
	case *ast.ParenExpr:
		indexValue(index, p, x.X)
	case *ast.BinaryExpr:
		if x.Op == token.AND {
			indexValue(index, p, x.X)
			indexValue(index, p, x.Y)
		}
	case *ast.ListLit:
		for i, e := range x.Elts {
			ip := fmt.Sprintf("%s[%d]", p, i)
			if _, seen := index[ip]; !seen {
				index[ip] = e.Pos()
			}
			indexValue(index, ip, e)
		}
	}
}
