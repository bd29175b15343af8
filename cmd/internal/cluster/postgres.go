package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
)

// Postgres is the database the server keeps its state in.
type Postgres struct {
	// Address is host:port.
	Address string
	// External is a server someone else runs: the cluster neither creates
	// nor starts nor stops it.
	External bool
	// User and Password log in. A managed server gets a password of its
	// own, generated at its first start and kept in the state directory.
	User, Password string

	dir string // managed: the server's directory (data, log, socket, password)
}

// databases are Temporal's two databases and the schema version this
// server build needs in each.
var databases = []struct{ name, schema, version string }{
	{"temporal", "postgresql/v12/temporal", pgschema.Version},
	{"temporal_visibility", "postgresql/v12/visibility", pgschema.VisibilityVersion},
}

// pgBin finds a PostgreSQL program: on PATH, else in Debian's versioned
// directory.
func pgBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return "", fmt.Errorf("PostgreSQL's %s is not installed (apt-get install postgresql; make cluster installs it)", name)
	}
	return matches[len(matches)-1], nil
}

// asPostgres runs a PostgreSQL program. PostgreSQL refuses to run as
// root, so under root it runs as the postgres user the Debian package
// creates.
func asPostgres(ctx context.Context, name string, args ...string) *exec.Cmd {
	bin, err := pgBin(name)
	if err != nil {
		bin = name // the run fails with the lookup's error below
	}
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// chownPostgres gives path to the postgres user when running as root.
func chownPostgres(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres user of Debian's postgresql package: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }

// init creates a managed server's data directory on first use, with a
// new password for the temporal user.
func (p *Postgres) init(ctx context.Context) error {
	pwFile := filepath.Join(p.dir, "password")
	if _, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION")); err == nil {
		pw, err := os.ReadFile(pwFile)
		if err != nil {
			return fmt.Errorf("postgresql in %s has no password file: %w", p.dir, err)
		}
		p.Password = strings.TrimSpace(string(pw))
		return nil
	}
	if _, err := pgBin("initdb"); err != nil {
		return err
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	if err := chownPostgres(p.dir); err != nil {
		return err
	}
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	p.Password = hex.EncodeToString(buf)
	if err := os.WriteFile(pwFile, []byte(p.Password+"\n"), 0o600); err != nil {
		return err
	}
	if err := chownPostgres(pwFile); err != nil {
		return err
	}
	out, err := asPostgres(ctx, "initdb", "-D", p.dataDir(), "-U", p.User, "--pwfile", pwFile, "-A", "scram-sha-256", "-E", "UTF8").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %s", p.dataDir(), lastLine(out, err))
	}
	return nil
}

// start starts a managed server and waits until it accepts connections.
func (p *Postgres) start(ctx context.Context) error {
	host, port, _ := net.SplitHostPort(p.Address)
	if err := free(p.Address, "PostgreSQL"); err != nil {
		return err
	}
	out, err := asPostgres(ctx, "pg_ctl", "-D", p.dataDir(), "-l", filepath.Join(p.dir, "postgresql.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-h %s -p %s -k %s", host, port, p.dir), "start").CombinedOutput()
	if err != nil {
		log := filepath.Join(p.dir, "postgresql.log")
		return fmt.Errorf("postgresql did not start: %s (log: %s)", fatal(log, lastLine(out, err)), log)
	}
	return nil
}

// fatal is the last FATAL line of a PostgreSQL log, or else why.
func fatal(log, why string) string {
	b, _ := os.ReadFile(log)
	for _, line := range slices.Backward(strings.Split(string(b), "\n")) {
		if _, msg, ok := strings.Cut(line, "FATAL:"); ok {
			return strings.TrimSpace(msg)
		}
	}
	return why
}

// stop stops a managed server, fast: open sessions are cut.
func (p *Postgres) stop(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir(), "postmaster.pid")); err != nil {
		return nil
	}
	out, err := asPostgres(ctx, "pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("postgresql did not stop: %s", lastLine(out, err))
	}
	return nil
}

// connect logs in to database, saying in one line why it cannot.
func (p *Postgres) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	host, port, _ := net.SplitHostPort(p.Address)
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Database, cfg.User, cfg.Password = host, database, p.User, p.Password
	n, _ := strconv.ParseUint(port, 10, 16)
	cfg.Port = uint16(n)
	cfg.ConnectTimeout = 10 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgresql at %s: %s", p.Address, pgCause(err))
	}
	return conn, nil
}

// pgCause is the part of a connection error a person acts on.
func pgCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		msg := ce.Unwrap().Error()
		if strings.Contains(msg, "connection refused") {
			return "connection refused: is PostgreSQL running there?"
		}
		return msg
	}
	return err.Error()
}

// schema creates Temporal's databases if missing and brings their
// schemas to this server's version with Temporal's own SQL tool. A
// database whose schema is newer than this server's is refused: it
// belongs to a newer Temporal.
func (c *Cluster) schema(ctx context.Context) error {
	p := &c.opts.Postgres
	conn, err := p.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, db := range databases {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db.name).Scan(&exists); err != nil {
			return fmt.Errorf("postgresql at %s: %s", p.Address, pgCause(err))
		}
		if !exists {
			if err := c.sqlTool(ctx, db.name, "create-database"); err != nil {
				return err
			}
		}
		have, err := schemaVersion(ctx, p, db.name)
		if err != nil {
			return err
		}
		switch {
		case have == "":
			if err := c.sqlTool(ctx, db.name, "setup-schema", "-v", "0.0"); err != nil {
				return err
			}
		case newer(have, db.version):
			return fmt.Errorf("database %s has schema %s, newer than the %s this Temporal server needs: it belongs to a newer Temporal; use another --dir or database", db.name, have, db.version)
		}
		if err := c.sqlTool(ctx, db.name, "update-schema", "--schema-name", db.schema); err != nil {
			return err
		}
	}
	return nil
}

// schemaVersion reads the schema version Temporal's SQL tool recorded in
// database, "" when it has none yet.
func schemaVersion(ctx context.Context, p *Postgres, database string) (string, error) {
	conn, err := p.connect(ctx, database)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, "SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1", database).Scan(&v)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "42P01", errors.Is(err, pgx.ErrNoRows): // no table yet, or no row
		return "", nil
	case err != nil:
		return "", fmt.Errorf("postgresql at %s: database %s: %s", p.Address, database, pgCause(err))
	}
	return v, nil
}

// newer reports whether schema version a (major.minor) is after b.
func newer(a, b string) bool {
	parse := func(v string) (int, int) {
		maj, min, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(maj)
		y, _ := strconv.Atoi(min)
		return x, y
	}
	am, an := parse(a)
	bm, bn := parse(b)
	return am > bm || am == bm && an > bn
}

// sqlTool runs temporal-sql-tool on database; its log goes to the
// cluster's log directory and the last line of it into the error.
func (c *Cluster) sqlTool(ctx context.Context, database string, args ...string) error {
	p := c.opts.Postgres
	host, port, _ := net.SplitHostPort(p.Address)
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.Bin, "temporal-sql-tool"),
		append([]string{"--plugin", "postgres12", "--endpoint", host, "--port", port, "--user", p.User, "--db", database}, args...)...)
	cmd.Env = append(baseEnv(), "SQL_PASSWORD="+p.Password)
	out, err := cmd.CombinedOutput()
	_ = appendFile(filepath.Join(c.logDir(), "temporal-sql-tool.log"), out)
	if err != nil || strings.Contains(string(out), "ERROR") {
		return fmt.Errorf("temporal-sql-tool %s %s: %s", args[0], database, sqlToolError(out, err))
	}
	return nil
}

// sqlToolError finds the error in the SQL tool's log lines.
func sqlToolError(out []byte, err error) string {
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, `"error": "`); i >= 0 {
			msg := line[i+len(`"error": "`):]
			msg, _, _ = strings.Cut(msg, `"`)
			return msg
		}
	}
	return lastLine(out, err)
}
