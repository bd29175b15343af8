package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// SettingSecretsDir is the boundary provider setting naming the directory
// of a local boundary's secrets (default Options.SecretsDir).
const SettingSecretsDir = "secretsDir"

// SecretFiles is the local cloud's secret store: a file per secret in a
// directory. The secret "billing/db-password" is the file
// billing/db-password under it, and its value is the file's content
// without one trailing newline (so that `echo s3cr3t > file` works). A
// name is read inside the directory only: names are those of the spec
// (words joined by dashes or slashes, no "..", no leading slash), and the
// file is opened through an os.Root, so that a symbolic link cannot lead
// out either. Keep the directory readable by the worker's user alone.
type SecretFiles struct {
	dir string
}

var _ driver.SecretResolver = (*SecretFiles)(nil)

// NewSecretFiles returns the store of the secret files in dir.
func NewSecretFiles(dir string) *SecretFiles { return &SecretFiles{dir: dir} }

// Resolve reads the secret name; t does not matter: a local worker has
// one directory per boundary.
func (s *SecretFiles) Resolve(ctx context.Context, _ driver.Target, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if !fileName(name) {
		return "", driver.Errorf(driver.Invalid, "secret name %q is not a path inside the secrets directory", name)
	}
	root, err := os.OpenRoot(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", driver.Errorf(driver.NotFound, "secret %q: the secrets directory %s does not exist", name, s.dir)
	} else if err != nil {
		return "", err
	}
	defer root.Close()
	b, err := root.ReadFile(filepath.FromSlash(name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", driver.Errorf(driver.NotFound, "secret %q: no file %s in %s", name, name, s.dir)
	case err != nil:
		return "", err
	case !utf8.Valid(b):
		return "", driver.Errorf(driver.Invalid, "secret %q: file %s in %s is not text", name, name, s.dir)
	}
	value := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(value, "\r"), nil
}

// fileName reports whether name is a relative path of plain segments.
func fileName(name string) bool {
	if name == "" || strings.ContainsAny(name, `\:`) || strings.HasPrefix(name, "/") {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ErrorCode classifies the store's errors: its own, context errors, a
// file it may not read (PermissionDenied), and any other failure to read
// the file, which a retry would not change (Invalid: a directory, a link
// leading outside the secrets directory).
func (s *SecretFiles) ErrorCode(err error) driver.Code {
	var own *driver.Error
	switch {
	case err == nil:
		return driver.Unknown
	case errors.As(err, &own):
		return own.Code
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable
	case errors.Is(err, fs.ErrPermission):
		return driver.PermissionDenied
	}
	var path *fs.PathError
	if errors.As(err, &path) {
		return driver.Invalid
	}
	return driver.Unknown
}
