package placement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	pkg, files, errs := readDir(dir, abs)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}

	// CUE reads what readDir read (the overlay), never those files again.
	overlay, err := schemaOverlay(abs, pkg, files)
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

// readDir reads the spec's files: the .cue files of dir (not those whose
// names start with "." or "_"), each a regular file inside dir (a symlink
// may point only inside it), read with a bound. It
// reports a missing or unreadable directory, one without CUE files,
// special files, symlinks that leave dir, and files too large to read;
// with a module file of its own (cue.mod/module.cue), every .cue file of
// the tree is read the same way (readModule). It returns the package name
// of the first file that has one, and the files by slash-separated path
// relative to dir.
func readDir(dir, abs string) (pkg string, files map[string][]byte, errs Errors) {
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, Errors{{Msg: fmt.Sprintf("spec directory %s does not exist", dir)}}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the directory already
		}
		return "", nil, Errors{{Msg: fmt.Sprintf("spec directory %s: %v", dir, err)}}
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", nil, Errors{{Msg: fmt.Sprintf("spec directory %s: %v", dir, err)}}
	}
	files = map[string][]byte{}
	var total int64
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".cue") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		b, e := readInside(root, abs, name)
		if e != nil {
			errs = append(errs, *e)
			continue
		}
		total += int64(len(b))
		files[name], names = b, append(names, name)
	}
	if len(names) == 0 && len(errs) == 0 {
		errs = append(errs, Error{Msg: "no .cue files in the spec directory"})
	}
	if _, err := os.Lstat(filepath.Join(abs, filepath.FromSlash(modFile))); err == nil {
		// A module of its own: its packages may be imported, so every
		// .cue file of the tree is checked and read the same way.
		errs = append(errs, readModule(root, abs, files, &total)...)
	}
	if total > MaxSpecSize && len(errs) == 0 {
		errs = append(errs, Error{Msg: fmt.Sprintf("spec is too large (%s of .cue files; at most %s)", mib(total), mib(MaxSpecSize))})
	}
	if len(errs) > 0 {
		return "", nil, errs
	}
	for _, name := range names {
		if e := notText(name, files[name]); e != nil {
			errs = append(errs, *e)
		} else if pkg == "" {
			pkg = packageName(name, files[name])
		}
	}
	return pkg, files, errs
}

// modFile is a spec's own module file: the spec directory is then a CUE
// module whose packages it may import.
const modFile = "cue.mod/module.cue"

// readModule reads into files every .cue file below abs (the module file
// and the packages it may import; hidden files and directories are
// skipped, as CUE skips them), as readInside reads them, and adds their
// sizes to total. A symlink to a directory is refused: CUE would follow
// it out of the spec.
func readModule(root, abs string, files map[string][]byte, total *int64) Errors {
	var errs Errors
	_ = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(abs, path)
		name := filepath.ToSlash(rel)
		switch {
		case err != nil:
			errs = append(errs, Error{File: name, Msg: "cannot be read: " + err.Error()})
			return nil
		case path == abs:
			return nil
		case strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_"):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0 && isDir(path):
			errs = append(errs, Error{File: name, Msg: "symlink to a directory; a spec reads only files inside it"})
			return nil
		case d.IsDir(), !strings.Contains(name, "/"), !strings.HasSuffix(name, ".cue"):
			return nil // a directory, one of the spec's own files (read already), not CUE
		}
		b, e := readInside(root, abs, name)
		if e != nil {
			errs = append(errs, *e)
			return nil
		}
		files[name] = b
		*total += int64(len(b))
		return nil
	})
	return errs
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// readInside reads the file name (slash-separated, relative to abs, whose
// symlinks resolve to root): a regular file inside the directory, at most
// MaxFileSize bytes. A special file is never opened (a FIFO would block, a
// device never end).
func readInside(root, abs, name string) ([]byte, *Error) {
	path := filepath.Join(abs, filepath.FromSlash(name))
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, &Error{File: name, Msg: "cannot be read: a symlink to nothing, or " + errors.Unwrap(err).Error()}
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, &Error{File: name, Msg: "symlink to a file outside the spec directory; a spec reads only files inside it"}
	}
	info, err := os.Stat(real)
	switch {
	case err != nil:
		return nil, &Error{File: name, Msg: "cannot be read: " + errors.Unwrap(err).Error()}
	case !info.Mode().IsRegular():
		return nil, &Error{File: name, Msg: fmt.Sprintf("not a regular file (%s); a spec reads only regular files", info.Mode().Type())}
	case info.Size() > MaxFileSize:
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is too large (%s; at most %s)", mib(info.Size()), mib(MaxFileSize))}
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, &Error{File: name, Msg: "cannot be read: " + errors.Unwrap(err).Error()}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	switch {
	case err != nil:
		return nil, &Error{File: name, Msg: "cannot be read: " + err.Error()}
	case len(b) > MaxFileSize:
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is too large (more than %s)", mib(MaxFileSize))}
	}
	return b, nil
}

// notText reports a .cue file that is not UTF-8 text (a binary dropped
// into the spec directory) as one error at its first bad byte, instead of
// the hundreds of illegal-character errors the CUE scanner would give.
func notText(name string, b []byte) *Error {
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
func packageName(file string, src []byte) string {
	f, err := parser.ParseFile(file, src, parser.PackageClauseOnly)
	if err != nil {
		return ""
	}
	return f.PackageName()
}

// rootFile is the synthetic file that applies the schema to the root of the
// spec's package.
const rootFile = "zz_meridian_schema_root.cue"

// schemaOverlay is what CUE loads the spec from: files (the spec's own,
// as readDir read them, by slash-separated path relative to dir), the
// embedded schema as a local package of the spec directory
// (cue.mod/pkg/meridian.dev/schema), a synthetic module file when the
// spec has none of its own, and a file of package pkg that embeds
// schema.#Spec, so that one evaluation checks the whole spec. Nothing is
// written to disk.
func schemaOverlay(dir, pkg string, files map[string][]byte) (map[string]load.Source, error) {
	overlay := map[string]load.Source{}
	for name, b := range files {
		overlay[filepath.Join(dir, filepath.FromSlash(name))] = load.FromBytes(b)
	}
	if pkg != "" {
		root := "package " + pkg + "\n\nimport meridianschema \"" + cueschema.ImportPath + "\"\n\n"
		for _, field := range topLevel {
			// Not an embedding of #Spec: CUE does not close the services an
			// embedded definition's pattern constraints apply to.
			root += field + ": meridianschema.#Spec." + field + "\n"
		}
		overlay[filepath.Join(dir, rootFile)] = load.FromString(root)
	}
	if _, ok := files[modFile]; !ok {
		overlay[filepath.Join(dir, filepath.FromSlash(modFile))] = load.FromString("module: \"meridian.local/spec@v0\"\nlanguage: version: \"v0.17.0\"\n")
	}
	names, err := fs.Glob(cueschema.FS, "*.cue")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
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
