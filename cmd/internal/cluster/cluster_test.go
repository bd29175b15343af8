package cluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nextPort hands out ports below the ephemeral range, so that no
// connection of another process takes one between the check and Up.
var nextPort = 20000 + os.Getpid()%5000*2

// freePort is a loopback port nothing listens on, and the next 13 too (a
// frontend's port is followed by the other services' and membership's).
func freePort(t *testing.T) int {
	t.Helper()
	for ; nextPort < 32000; nextPort += 14 {
		ok := true
		for p := nextPort; p < nextPort+14 && ok; p++ {
			ok = free("127.0.0.1:"+strconv.Itoa(p), "") == nil
		}
		if ok {
			nextPort += 14
			return nextPort - 14
		}
	}
	t.Fatal("no free ports")
	return 0
}

// upErr runs Up, which must fail with one line containing want.
func upErr(t *testing.T, opts Options, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Up(ctx, opts)
	if err == nil {
		c.Down(context.Background())
		t.Fatalf("Up succeeded, want an error containing %q", want)
	}
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Fatalf("Up: %q, want one line containing %q", msg, want)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "cluster.json")); err == nil {
		t.Errorf("a failed Up left its state file")
	}
}

func TestUpRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	upErr(t, Options{Dir: t.TempDir(), Port: freePort(t), UIPort: port}, "port 127.0.0.1:"+strconv.Itoa(port)+" for the Web UI is in use")
}

func TestUpSaysPostgresIsNotRunning(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	upErr(t, Options{Dir: t.TempDir(), Port: freePort(t), UIPort: freePort(t), Postgres: Postgres{Address: addr, External: true, Password: "x"}},
		"postgresql at "+addr+": connection refused: is PostgreSQL running there?")
}

// TestUpWithAWrongPasswordOrANewerSchema starts a PostgreSQL of the
// package's own, then points Up at it as an external server: with a wrong
// password, and with a database whose schema a newer Temporal wrote.
func TestUpWithAWrongPasswordOrANewerSchema(t *testing.T) {
	if _, err := pgBin("initdb"); err != nil {
		t.Skip(err) // make test installs it (make postgres); a machine without it skips
	}
	ctx := context.Background()
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} { // the postgres user must reach it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pg := &Postgres{Address: "127.0.0.1:" + strconv.Itoa(freePort(t)), User: "temporal", dir: filepath.Join(tmp, "pg")}
	if err := pg.init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pg.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.stop(context.Background()) })

	wrong := Postgres{Address: pg.Address, External: true, User: "temporal", Password: "not-" + pg.Password}
	upErr(t, Options{Dir: t.TempDir(), Port: freePort(t), UIPort: freePort(t), Postgres: wrong},
		"postgresql at "+pg.Address+`: password authentication failed for user "temporal"`)

	conn, err := pg.connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE temporal"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	conn, err = pg.connect(ctx, "temporal")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE TABLE schema_version (version_partition INT, db_name TEXT, creation_time TIMESTAMP, curr_version TEXT, min_compatible_version TEXT)",
		"INSERT INTO schema_version VALUES (0, 'temporal', now(), '9.9', '9.0')",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	right := Postgres{Address: pg.Address, External: true, User: "temporal", Password: pg.Password}
	upErr(t, Options{Dir: t.TempDir(), Port: freePort(t), UIPort: freePort(t), Postgres: right},
		"database temporal has schema 9.9, newer than the 1.19 this Temporal server needs")
}

func TestNewer(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"1.19", "1.19", false}, {"1.20", "1.19", true}, {"1.9", "1.19", false}, {"2.0", "1.19", true}, {"1.18", "1.19", false}} {
		if got := newer(c.a, c.b); got != c.want {
			t.Errorf("newer(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestDownDirWithoutACluster(t *testing.T) {
	dir := t.TempDir()
	if err := DownDir(context.Background(), dir); err == nil || err.Error() != "no cluster runs from "+dir {
		t.Fatalf("DownDir: %v", err)
	}
}
