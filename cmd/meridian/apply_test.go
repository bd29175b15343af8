package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local"
	"github.com/meridian-deploy/meridian/workflows"
)

// applyFleet is the spec apply's end-to-end test commits, one commit per
// set of values: four services on the local cloud, each in the regions its
// include lists; vers's prod stage waits for approval, so that its release
// is still running when the next commits are applied.
const applyFleet = `package fleet

import "meridian.dev/schema"

environments: schema.#Environments & {
	prod: local: regions: ["us-east-1", "eu-west-1", "ap-south-1"]
}

pipelines: {
	quick: schema.#Pipeline & {stages: [{name: "prod", environment: "prod"}], rollback: "automatic"}
	gated: schema.#Pipeline & {stages: [{name: "prod", environment: "prod", approval: true}], rollback: "automatic"}
}

#Demo: schema.#Service & {
	owner: "test"
	artifact: image: "localhost/meridian-demo"
	pipeline: *"quick" | string
	placement: clouds: ["local"]
	instances: 1
	health: gates: [{http: path: "/healthz", interval: "1s"}]
}

services: {
	vers: #Demo & {artifact: version: "%s", pipeline: "gated", placement: include: ["us-east-1"]}
	conf: #Demo & {artifact: version: "v1", placement: include: ["us-east-1"], config: pool: *4 | int & >0, config: pool: %s}
	grow: #Demo & {artifact: version: "%s", placement: include: %s, config: mode: "%s"}
	shrink: #Demo & {artifact: version: "v1", placement: include: %s}
}
`

// applyCommit is one commit of the fleet.
type applyCommit struct {
	vers, pool, growVersion, growRegions, growMode, shrinkRegions string
}

func (c applyCommit) spec() string {
	return fmt.Sprintf(applyFleet, c.vers, c.pool, c.growVersion, c.growRegions, c.growMode, c.shrinkRegions)
}

// gitRepo is a git repository with the fleet spec in spec/.
type gitRepo struct {
	t    *testing.T
	dir  string
	spec string
}

func newGitRepo(t *testing.T) *gitRepo {
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.spec = filepath.Join(r.dir, "spec")
	r.git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(r.dir, "README"), []byte("fleet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("add", ".")
	r.git("commit", "-q", "-m", "empty")
	r.git("tag", "c0")
	return r
}

func (r *gitRepo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// commit writes the spec and commits it on main as tag.
func (r *gitRepo) commit(tag string, c applyCommit) {
	r.t.Helper()
	r.git("checkout", "-q", "main")
	if err := os.MkdirAll(r.spec, 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.spec, "fleet.cue"), []byte(c.spec()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", ".")
	r.git("commit", "-q", "-m", tag)
	r.git("tag", tag)
}

// run runs meridian in the repository against d and returns its output and
// exit code.
func (r *gitRepo) run(bin string, d *devProcess, args ...string) (string, int) {
	r.t.Helper()
	return runMeridian(r.t, r.dir, bin, d, args...)
}

// apply runs meridian apply spec --base base --change-id id (with args)
// in a checkout of commit id, as CI does on merge, and fails unless it
// exits want.
func (r *gitRepo) apply(bin string, d *devProcess, base, id string, want int, args ...string) string {
	r.t.Helper()
	r.git("checkout", "-q", id)
	out, code := r.run(bin, d, append([]string{"apply", "spec", "--base", base, "--change-id", id}, args...)...)
	if code != want {
		r.t.Fatalf("apply --base %s --change-id %s %v: exit %d, want %d:\n%s", base, id, args, code, want, out)
	}
	return out
}

// instance is what a running instance reports at GET /.
type instance struct {
	Version string          `json:"version"`
	Config  json.RawMessage `json:"config"`
}

// running asks every running instance of the service, per region, what it
// runs, through a local provider on the dev state directory (it only reads).
func running(t *testing.T, db, service string) map[string][]instance {
	t.Helper()
	p, err := local.New(&local.Options{StateDir: localStateDir(db), BinDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Detach()
	out := map[string][]instance{}
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
		tgt := placement.Target{Service: service, Environment: "prod", Cloud: "local", Boundary: "public", Region: region}
		list, err := p.Instances(context.Background(), driver.Target(tgt))
		if err != nil && p.ErrorCode(err) != driver.NotFound {
			t.Fatal(err)
		}
		for _, in := range list {
			var info instance
			resp, err := http.Get("http://" + in.Address + "/")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&info)
				resp.Body.Close()
			}
			if err != nil {
				info.Version = "down: " + err.Error()
			}
			out[region] = append(out[region], info)
		}
	}
	return out
}

// wantRunning fails unless the service runs, in exactly the regions
// given, one instance of version with a config holding fragment.
func wantRunning(t *testing.T, db, service, version, fragment string, regions ...string) {
	t.Helper()
	got := running(t, db, service)
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
		insts, want := got[region], strings.Contains(strings.Join(regions, ","), region)
		switch {
		case !want && len(insts) > 0:
			t.Errorf("%s runs in %s: %+v, want nothing there", service, region, insts)
		case want && (len(insts) != 1 || insts[0].Version != version || !strings.Contains(string(insts[0].Config), fragment)):
			t.Errorf("%s in %s: %+v, want one instance of %s with config %s", service, region, insts, version, fragment)
		}
	}
}

func TestApplyRollsOutMergedChanges(t *testing.T) {
	bin := binDir(t)
	t.Parallel() // its own dev server, ports and fleet
	repo := newGitRepo(t)
	db := filepath.Join(t.TempDir(), "state", "dev.db")
	stopFleetAtEnd(t, db)
	c1 := applyCommit{vers: "v1", pool: "4", growVersion: "v1", growRegions: `["us-east-1"]`, growMode: "a", shrinkRegions: `["us-east-1", "eu-west-1"]`}
	repo.commit("c1", c1)
	d := startDev(t, bin, db, "--spec", repo.spec)
	approve := func(release string) {
		t.Helper()
		awaitStatus(t, d.client, release, time.Minute, release+" to await approval", func(st workflows.Status) bool { return st.Phase == workflows.PhaseAwaitingApproval })
		if out, code := repo.run(bin, d, "approve", release, "--as", "alice", "--reason", "test"); code != 0 {
			t.Fatalf("approve %s: exit %d:\n%s", release, code, out)
		}
	}

	// Commit 1 deploys four new services.
	out := repo.apply(bin, d, "c0", "c1", 0)
	if !strings.Contains(out, "started apply/c1 (base c0): 4 releases") {
		t.Errorf("apply c1:\n%s", out)
	}
	approve("release/vers/c1")
	repo.apply(bin, d, "c0", "c1", 0, "--wait")
	wantRunning(t, db, "shrink", "v1", "{}", "us-east-1", "eu-west-1")

	// Commit 2: a version, a config, a region added, a region removed.
	c2 := c1
	c2.vers, c2.pool, c2.growRegions, c2.shrinkRegions = "v2", "8", `["us-east-1", "eu-west-1"]`, `["us-east-1"]`
	repo.commit("c2", c2)
	dry := repo.apply(bin, d, "c1", "c2", 0, "--dry-run")
	for _, want := range []string{"would start 4 releases", "version v1 → v2 on every target (1)", "1 target added: version v1", "1 target to decommission"} {
		if !strings.Contains(dry, want) {
			t.Errorf("apply --dry-run lacks %q:\n%s", want, dry)
		}
	}
	out = repo.apply(bin, d, "c1", "c2", 0)
	again := repo.apply(bin, d, "c1", "c2", 0)
	if !strings.Contains(out, "started apply/c2") || !strings.Contains(again, "attached to apply/c2") {
		t.Errorf("apply c2, then again:\n%s\n%s", out, again)
	}

	// Commits 3 and 4 bump vers while c2 still rolls it out: c3 waits, and
	// c4 supersedes it.
	c3 := c2
	c3.vers = "v3"
	repo.commit("c3", c3)
	repo.apply(bin, d, "c2", "c3", 0)
	st := awaitStatus(t, d.client, "release/vers/c3", time.Minute, "c3 to be queued", func(st workflows.Status) bool { return st.Phase == workflows.PhaseQueued })
	if st.Behind != "release/vers/c2" {
		t.Errorf("release/vers/c3 is queued behind %q, want release/vers/c2", st.Behind)
	}
	c4 := c3
	c4.vers = "v4"
	repo.commit("c4", c4)
	repo.apply(bin, d, "c3", "c4", 0)
	st = awaitStatus(t, d.client, "release/vers/c3", time.Minute, "c3 to be superseded", func(st workflows.Status) bool { return st.Phase.Terminal() })
	if st.Phase != workflows.PhaseSuperseded || st.SupersededBy != "release/vers/c4" {
		t.Errorf("release/vers/c3 ended %s (superseded by %q), want superseded by release/vers/c4", st.Phase, st.SupersededBy)
	}
	approve("release/vers/c2")
	repo.apply(bin, d, "c1", "c2", 0, "--wait")
	approve("release/vers/c4")
	repo.apply(bin, d, "c3", "c4", 0, "--wait")
	if out := repo.apply(bin, d, "c2", "c3", 0, "--wait"); !strings.Contains(out, "apply/c3 succeeded") {
		t.Errorf("apply c3 --wait:\n%s", out)
	}
	wantRunning(t, db, "vers", "v4", "{}", "us-east-1")
	wantRunning(t, db, "conf", "v1", `"pool":8`, "us-east-1")
	wantRunning(t, db, "grow", "v1", `"mode":"a"`, "us-east-1", "eu-west-1")
	wantRunning(t, db, "shrink", "v1", "{}", "us-east-1")
	if out, _ := repo.run(bin, d, "status", "release/vers/c3"); !strings.Contains(out, "superseded by  release/vers/c4") {
		t.Errorf("status of the superseded release:\n%s", out)
	}
	if out, code := repo.run(bin, d, "status", "apply/c3"); code != 0 || !strings.Contains(out, "superseded by release/vers/c4") {
		t.Errorf("status of apply/c3: exit %d:\n%s", code, out)
	}

	// Commit 5: grow's whole change (a bad version, a config, a region)
	// fails its gate and is rolled back as one; conf's change goes on.
	c5 := c4
	c5.growVersion, c5.growMode, c5.growRegions, c5.pool = "v2-bad", "b", `["us-east-1", "eu-west-1", "ap-south-1"]`, "16"
	repo.commit("c5", c5)
	out = repo.apply(bin, d, "c4", "c5", 1, "--wait")
	if !strings.Contains(out, "apply/c5 failed: 1 of 2 releases did not succeed: grow rolled-back") {
		t.Errorf("apply c5 --wait:\n%s", out)
	}
	wantRunning(t, db, "grow", "v1", `"mode":"a"`, "us-east-1", "eu-west-1")
	wantRunning(t, db, "conf", "v1", `"pool":16`, "us-east-1")
}
