package main

// The scripted tour of `meridian dev --tour`, which `make run` starts once
// the server, the Web UI and the workers are up: a good release through
// every stage (the tour gives the approval and says so), a bad release that
// the health gate catches and that rolls back, and a shard-aware restart of
// the sharded service under keyed load, a survey of what runs (meridian
// fleet's) that must find those services in sync; then a summary with the
// release ids and where to look in the Web UI. docs/tour.md describes it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/providers/local/demoshard"
	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// What the tour changes, in the demo spec (testdata/demo).
const (
	tourService      = "web"   // rolled out good, then bad
	tourSharded      = "cache" // restarted shard-aware under load
	tourGood         = "v2"
	tourBad          = "v3-bad"
	tourCacheVersion = "v1" // deployed first when cache is not running yet
	tourWho          = "tour"
	tourApproval     = "the tour stands in for the operator, who would run `meridian approve`"
)

// instanceLister lists a target's instances and their addresses: the local provider.
type instanceLister interface {
	Instances(ctx context.Context, t placement.Target) ([]driver.Instance, error)
}

// tour is one run of the tour.
type tour struct {
	c       client.Client
	fleet   instanceLister
	spec    string
	model   *placement.Model
	out     io.Writer
	ui, ns  string
	run     string // UTC stamp in every change id, so each run makes new releases
	started time.Time
	http    *http.Client
	// approved lists the stages the tour approved, as "stage of cloud/boundary".
	approved []string
}

// tourResult is what the summary reports.
type tourResult struct {
	good, bad, restart workflows.Status
	// deployed is when the bad version's failing Rollout activity was
	// scheduled, detected when it reported the failed health check, and
	// rollback when the first Rollback activity was scheduled.
	deployed, detected, rollback time.Time
	load                         demoshard.Count // keyed requests while instances restarted
	survey                       string          // the survey's workflow ID
}

// runTour is the scripted demo of `meridian dev --tour` (`make run`). It
// returns when the tour has ended; the server keeps running until Ctrl-C.
func runTour(ctx context.Context, env devEnv) error {
	if env.Spec == "" {
		return errors.New("the tour needs the demo spec: meridian dev --spec testdata/demo --tour")
	}
	model, _, err := planSpec(ctx, env.Spec, "", env.Out)
	if err != nil {
		return err
	}
	for _, name := range []string{tourService, tourSharded} {
		i := slices.IndexFunc(model.Services, func(s placement.Service) bool { return s.Name == name })
		if i < 0 || (name == tourSharded && model.Services[i].Sharding == nil) {
			return fmt.Errorf("spec %s has no service %q (or it is not sharded): the tour runs on the demo spec, testdata/demo", env.Spec, name)
		}
	}
	t := &tour{
		c: env.Client, fleet: env.Fleet, spec: env.Spec, model: model, out: env.Out,
		ui: env.Server.UIURL(), ns: env.Server.Namespace(),
		run: time.Now().UTC().Format("20060102T150405Z"), started: time.Now(),
		http: &http.Client{Timeout: 2 * time.Second},
	}
	var res tourResult
	t.say("Tour %s: a good release, a bad one rolled back, a shard-aware restart, a survey", t.run)
	if err := t.goodRelease(ctx, &res); err != nil {
		return err
	}
	if err := t.badRelease(ctx, &res); err != nil {
		return err
	}
	if err := t.restart(ctx, &res); err != nil {
		return err
	}
	if err := t.survey(ctx, &res); err != nil {
		return err
	}
	t.summary(res)
	return nil
}

// say prints one line, stamped with the time since the tour started.
func (t *tour) say(format string, args ...any) {
	fmt.Fprintf(t.out, "%6.1fs  %s\n", time.Since(t.started).Seconds(), fmt.Sprintf(format, args...))
}

func (t *tour) service(name string) placement.Service {
	i := slices.IndexFunc(t.model.Services, func(s placement.Service) bool { return s.Name == name })
	return t.model.Services[i]
}

// goodRelease rolls tourGood of tourService through every stage.
func (t *tour) goodRelease(ctx context.Context, res *tourResult) error {
	t.say("== 1/4  %s %s through every stage, the tour approving what waits for approval", tourService, tourGood)
	t.approved = nil
	if vs, err := t.versions(ctx, tourService); err == nil && len(vs) > 0 && allOn(vs, tourGood) {
		t.say("%s already runs %s everywhere (an earlier run): the deploys change nothing, the stages still gate, bake and wait for approval", tourService, tourGood)
	}
	st, err := t.release(ctx, tourService, workflows.KindVersion, tourGood)
	if err != nil {
		return err
	}
	res.good = st
	if st.Phase != workflows.PhaseSucceeded {
		return fmt.Errorf("the good release %s ended %s: %s", st.Release, st.Phase, st.Reason)
	}
	t.say("%s %s succeeded in %s", tourService, tourGood, st.Ended.Sub(st.Started).Round(100*time.Millisecond))
	return nil
}

// badRelease rolls tourBad out, which fails its health check; the release
// must roll back and leave every target on the version it ran before.
func (t *tour) badRelease(ctx context.Context, res *tourResult) error {
	t.say("== 2/4  %s %s, whose /healthz fails: the gate must catch it and roll it back", tourService, tourBad)
	before, err := t.versions(ctx, tourService)
	if err != nil {
		return err
	}
	st, err := t.release(ctx, tourService, workflows.KindVersion, tourBad)
	if err != nil {
		return err
	}
	res.bad = st
	if st.Phase != workflows.PhaseRolledBack {
		return fmt.Errorf("the bad release %s ended %s, not rolled back: %s", st.Release, st.Phase, st.Reason)
	}
	t.say("rolled back: %s", st.Reason)
	if res.deployed, res.detected, res.rollback, err = t.rollbackTimes(ctx, st); err != nil {
		return err
	}
	t.say("the rollback was scheduled %s after the Rollout activity reported the failed health check (%s after the bad deploy began)",
		res.rollback.Sub(res.detected).Round(time.Millisecond), res.rollback.Sub(res.deployed).Round(100*time.Millisecond))
	return t.checkVersions(ctx, before)
}

// checkVersions waits until every instance of every target of the service
// reports the version it reported in before, and prints them.
func (t *tour) checkVersions(ctx context.Context, before map[string][]string) error {
	var now map[string][]string
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		if now, err = t.versions(ctx, tourService); err == nil && sameVersions(before, now) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after the rollback, %s's instances report %v; before the release they reported %v", tourService, now, before)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, tgt := range t.service(tourService).Targets {
		vs := now[tgt.ID()]
		v, _ := onlyVersion(vs)
		t.say("  %-42s %d/%d instances on %s", tgt.ID(), len(vs), len(vs), v)
	}
	return nil
}

// restart restarts tourSharded shard-aware (deploying it first when it
// does not run yet) while a keyed load client reads its cache.
func (t *tour) restart(ctx context.Context, res *tourResult) error {
	svc := t.service(tourSharded)
	t.say("== 3/4  shard-aware restart of %s (%d instances per target, at most %d out at once) under keyed load",
		svc.Name, svc.Instances, max(svc.Sharding.MaxUnavailable, 1))
	if !t.running(ctx, svc) {
		t.say("%s is not running yet: deploying %s %s first", svc.Name, svc.Name, tourCacheVersion)
		st, err := t.release(ctx, svc.Name, workflows.KindVersion, tourCacheVersion)
		if err != nil {
			return err
		}
		if st.Phase != workflows.PhaseSucceeded {
			return fmt.Errorf("the release %s ended %s: %s", st.Release, st.Phase, st.Reason)
		}
	}
	lctx, stop := context.WithCancel(ctx)
	var refreshing sync.WaitGroup
	defer refreshing.Wait()
	defer stop()
	var loads []*keyedLoad
	for _, tgt := range svc.Targets {
		l, err := t.newKeyedLoad(lctx, &refreshing, tgt)
		if err != nil {
			return err
		}
		loads = append(loads, l)
	}
	t.say("keyed load: %d keys per target, warmed; each request goes to the owner of the key's shard", loadKeys)
	for _, l := range loads {
		l.Start(lctx)
	}
	st, err := t.release(ctx, svc.Name, workflows.KindRestart, "")
	stop()
	for _, l := range loads {
		l.Wait()
	}
	if err != nil {
		return err
	}
	res.restart = st
	if st.Phase != workflows.PhaseSucceeded {
		return fmt.Errorf("the restart %s ended %s: %s", st.Release, st.Phase, st.Reason)
	}
	windows, err := t.rolloutWindows(ctx, st)
	if err != nil {
		return err
	}
	var all demoshard.Count
	for _, l := range loads {
		w, ok := windows[l.target]
		if !ok {
			return fmt.Errorf("release %s: no restart of %s in its history", st.Release, l.target)
		}
		c := l.Count(w.from, w.to)
		all.Add(c)
		t.say("  %-42s restarted in %s: hit rate %5.1f%% over %d requests (%d misses, %d failed, %d rerouted)",
			l.target, w.to.Sub(w.from).Round(100*time.Millisecond), 100*c.HitRate(), c.Requests, c.Misses, c.Failed, c.Rerouted)
	}
	res.load = all
	t.say("restart succeeded in %s; cache hit rate while instances restarted %.1f%% over %d requests",
		st.Ended.Sub(st.Started).Round(100*time.Millisecond), 100*all.HitRate(), all.Requests)
	return nil
}

// survey runs meridian fleet's survey of the services the tour released
// and prints its table; every target must be in sync.
func (t *tour) survey(ctx context.Context, res *tourResult) error {
	t.say("== 4/4  survey of %s and %s, as meridian fleet runs it: what runs on each target, against the spec", tourService, tourSharded)
	services := []placement.Service{t.service(tourService), t.service(tourSharded)}
	in, err := surveyInput(ctx, t.c, t.spec, t.model, services, func(placement.Target) bool { return true })
	if err != nil {
		return err
	}
	report, id, err := survey(ctx, t.c, in, 2*time.Minute)
	if err != nil {
		return err
	}
	res.survey = id
	fleet := &fleetOptions{remote: &remote{out: t.out, output: "table", uiURL: t.ui, namespace: t.ns}}
	if err := fleet.print(report, id); err != nil {
		return err
	}
	if !report.InSync() {
		return fmt.Errorf("the survey %s found %s out of sync: %s", id, strings.Join([]string{tourService, tourSharded}, " and "), report.CountLine())
	}
	t.say("%s and %s are in sync with the spec", tourService, tourSharded)
	return nil
}

// window is when a target's Rollout activity ran.
type window struct{ from, to time.Time }

// rolloutWindows returns, per target ID, when the release's Rollout
// activity for it ran (scheduled to completed), from its pipelines' histories.
func (t *tour) rolloutWindows(ctx context.Context, st workflows.Status) (map[string]window, error) {
	out := map[string]window{}
	for _, p := range st.Pipelines {
		targets := map[int64]string{} // scheduled Rollout activities by event id
		err := t.events(ctx, p.WorkflowID, func(e *historypb.HistoryEvent) {
			at := e.GetEventTime().AsTime()
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "Rollout" {
				var in workflows.RolloutInput
				if converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in) == nil {
					targets[e.GetEventId()] = in.Target.ID()
					out[in.Target.ID()] = window{from: at}
				}
			}
			if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
				if id, ok := targets[a.GetScheduledEventId()]; ok {
					out[id] = window{from: out[id].from, to: at}
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// running reports whether every target of svc runs all its instances, ready.
func (t *tour) running(ctx context.Context, svc placement.Service) bool {
	for _, tgt := range svc.Targets {
		list, err := t.fleet.Instances(ctx, tgt)
		if err != nil || len(list) < svc.Instances || slices.ContainsFunc(list, func(i driver.Instance) bool { return !i.Ready }) {
			return false
		}
	}
	return true
}

// release starts a change of service with this run's change id and follows
// it to its end.
func (t *tour) release(ctx context.Context, service string, kind workflows.ChangeKind, version string) (workflows.Status, error) {
	id := "tour-" + t.run + "-" + version
	if kind == workflows.KindRestart {
		id = "tour-" + t.run + "-restart"
	}
	o := &releaseOptions{
		remote: &remote{errOut: t.out}, kind: kind, trigger: tourWho, as: tourWho,
		dir: t.spec, service: service, version: version, changeID: id,
	}
	req, err := o.request(ctx)
	if err != nil {
		return workflows.Status{}, err
	}
	ref, _, err := workflows.StartRelease(ctx, t.c, req)
	if errors.Is(err, workflows.ErrBusy) {
		if err := t.endOpen(ctx, service); err != nil {
			return workflows.Status{}, err
		}
		ref, _, err = workflows.StartRelease(ctx, t.c, req)
	}
	if err != nil {
		return workflows.Status{}, err
	}
	t.say("release %s started", ref.ID)
	return t.follow(ctx, ref.ID)
}

// endOpen aborts the service's releases that an earlier run left open (it
// was stopped midway) and waits until they have ended.
func (t *tour) endOpen(ctx context.Context, service string) error {
	past, err := workflows.History(ctx, t.c, service)
	if err != nil {
		return err
	}
	for _, r := range past {
		if r.Phase.Terminal() {
			continue
		}
		t.say("release %s of an earlier run is still open (%s): aborting it as the tour, reason: a new tour starts", r.Release, r.Phase)
		if _, err := workflows.Abort(ctx, t.c, r.Release, workflows.Request{Who: tourWho, Reason: "a new tour starts"}); err != nil {
			t.say("%v; waiting for it to end", err)
		}
		st, err := workflows.Watch(ctx, t.c, r.Release, time.Second, nil)
		if err != nil {
			return err
		}
		t.say("release %s %s", r.Release, st.Phase)
	}
	return nil
}

// follow prints each pipeline's stage and phase as they change, approves
// every stage that waits for approval, and returns the final status.
func (t *tour) follow(ctx context.Context, id string) (workflows.Status, error) {
	shown := map[string]string{}
	approved := map[string]bool{}
	for {
		st, err := workflows.ReleaseStatus(ctx, t.c, id)
		if err != nil {
			return st, err
		}
		for _, p := range st.Pipelines {
			key := p.Cloud + "/" + p.Boundary
			line := fmt.Sprintf("%-13s %-8s %s", key, p.Stage, p.Phase)
			if p.Phase == workflows.PhasePending && p.Reason != "" {
				line += ": " + p.Reason
			}
			if shown[key] != line {
				shown[key] = line
				t.say("  %s", line)
			}
			if p.Phase != workflows.PhaseAwaitingApproval || approved[key+" "+p.Stage] {
				continue
			}
			approved[key+" "+p.Stage] = true
			t.say("  approving stage %s of %s as the tour, reason: %s", p.Stage, key, tourApproval)
			t.approved = append(t.approved, p.Stage+" of "+key)
			if _, err := workflows.Approve(ctx, t.c, id, workflows.Request{Stage: p.Stage, Who: tourWho, Reason: tourApproval}); err != nil {
				return st, err
			}
		}
		if st.Phase.Terminal() {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rollbackTimes reads, from the history of the pipeline that rolled back,
// when the failing Rollout activity was scheduled and when it reported the
// failure, and when the first Rollback activity was scheduled.
func (t *tour) rollbackTimes(ctx context.Context, st workflows.Status) (deployed, detected, rollback time.Time, err error) {
	i := slices.IndexFunc(st.Pipelines, func(p workflows.PipelineStatus) bool { return p.Phase == workflows.PhaseRolledBack })
	if i < 0 {
		return deployed, detected, rollback, fmt.Errorf("release %s: no pipeline rolled back", st.Release)
	}
	id := st.Pipelines[i].WorkflowID
	rollouts := map[int64]time.Time{} // scheduled Rollout activities by event id
	err = t.events(ctx, id, func(e *historypb.HistoryEvent) {
		at := e.GetEventTime().AsTime()
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			switch a.GetActivityType().GetName() {
			case "Rollout":
				rollouts[e.GetEventId()] = at
			case "Rollback":
				if rollback.IsZero() {
					rollback = at
				}
			}
		}
		if !detected.IsZero() {
			return
		}
		if a := e.GetActivityTaskFailedEventAttributes(); a != nil && !rollouts[a.GetScheduledEventId()].IsZero() {
			deployed, detected = rollouts[a.GetScheduledEventId()], at
		}
		var res workflows.RolloutResult
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil && !rollouts[a.GetScheduledEventId()].IsZero() &&
			converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &res) == nil && res.Failure != "" {
			deployed, detected = rollouts[a.GetScheduledEventId()], at
		}
	})
	if err == nil && (detected.IsZero() || rollback.IsZero()) {
		err = fmt.Errorf("release %s: no failed rollout or no rollback in the history of %s", st.Release, id)
	}
	return deployed, detected, rollback, err
}

// events calls fn with every event of the workflow's last run, in order.
// Runs before the last are left out: the demo's pipelines never grow long
// enough to continue as new.
func (t *tour) events(ctx context.Context, workflowID string, fn func(*historypb.HistoryEvent)) error {
	it := t.c.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("history of %s: %w", workflowID, err)
		}
		fn(e)
	}
	return nil
}

// versions returns, per target ID of the service, the version every
// instance reports at GET / ("down" when it does not answer), sorted.
func (t *tour) versions(ctx context.Context, service string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, tgt := range t.service(service).Targets {
		list, err := t.fleet.Instances(ctx, tgt)
		if err != nil {
			return nil, err
		}
		for _, in := range list {
			var info struct {
				Version string `json:"version"`
			}
			if err := t.getJSON(ctx, "http://"+in.Address+"/", &info); err != nil {
				info.Version = "down"
			}
			out[tgt.ID()] = append(out[tgt.ID()], info.Version)
		}
		slices.Sort(out[tgt.ID()])
	}
	return out, nil
}

func (t *tour) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// onlyVersion returns the version every instance reports, if they agree.
func onlyVersion(vs []string) (string, bool) {
	if len(vs) == 0 || slices.ContainsFunc(vs, func(v string) bool { return v != vs[0] }) {
		return "", false
	}
	return vs[0], true
}

// allOn reports whether every instance of every target reports version.
func allOn(vs map[string][]string, version string) bool {
	for _, v := range vs {
		if only, ok := onlyVersion(v); !ok || only != version {
			return false
		}
	}
	return true
}

// sameVersions reports whether every target runs the one version it ran
// before, on as many instances.
func sameVersions(before, now map[string][]string) bool {
	for id, vs := range before {
		if _, ok := onlyVersion(vs); !ok || !slices.Equal(vs, now[id]) {
			return false
		}
	}
	return len(before) == len(now)
}

// The keyed load of the restart: loadWorkers clients per target, each
// sending a request every loadInterval for one of loadKeys keys.
const (
	loadKeys     = 400
	loadWorkers  = 4
	loadInterval = 5 * time.Millisecond
)

// keyedLoad is the keyed load on one target of the sharded service.
type keyedLoad struct {
	target string
	*demoshard.Load
}

// newKeyedLoad routes keys as the target's instances report their shards
// (refreshed every 50ms until ctx ends; wg waits for that) and warms the
// cache with every key once.
func (t *tour) newKeyedLoad(ctx context.Context, wg *sync.WaitGroup, tgt placement.Target) (*keyedLoad, error) {
	list, err := t.fleet.Instances(ctx, tgt)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, in := range list {
		addrs = append(addrs, in.Address)
	}
	routes := demoshard.NewReports(addrs, t.http)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = routes.Await(wait, 50*time.Millisecond)
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("%s: its instances do not own every shard after 30s", tgt.ID())
	}
	wg.Go(func() { routes.Run(ctx, 50*time.Millisecond) })
	l := &keyedLoad{target: tgt.ID(), Load: demoshard.NewLoad(routes, &demoshard.LoadOptions{
		Keys: loadKeys, Workers: loadWorkers, Interval: loadInterval, Client: t.http,
	})}
	l.Warm(ctx)
	return l, nil
}

// summary prints what happened and where to look.
func (t *tour) summary(res tourResult) {
	took := func(st workflows.Status) time.Duration { return st.Ended.Sub(st.Started).Round(100 * time.Millisecond) }
	t.say("== Tour %s done", t.run)
	w := t.out
	fmt.Fprintf(w, "  good     %-48s succeeded in %s; approved by the tour: stage %s\n",
		res.good.Release, took(res.good), strings.Join(t.approved, ", stage "))
	fmt.Fprintf(w, "  bad      %-48s rolled back in %s; rollback scheduled %s after the failed health\n"+
		"           check was reported, %s after the bad deploy began; every %s target is back on %s\n",
		res.bad.Release, took(res.bad), res.rollback.Sub(res.detected).Round(time.Millisecond),
		res.rollback.Sub(res.deployed).Round(100*time.Millisecond), tourService, tourGood)
	fmt.Fprintf(w, "  restart  %-48s succeeded in %s; cache hit rate %.1f%% over the %d keyed requests\n"+
		"           sent while instances restarted\n",
		res.restart.Release, took(res.restart), 100*res.load.HitRate(), res.load.Requests)
	ids := []string{res.good.ChangeID, res.bad.ChangeID, res.restart.ChangeID}
	fmt.Fprintf(w, "\nWhere to look, in the Temporal Web UI at %s:\n", t.ui)
	fmt.Fprintf(w, "  every release:              %s\n", t.listLink(fmt.Sprintf("WorkflowType=%q", workflows.ReleaseWorkflowName)))
	fmt.Fprintf(w, "  this tour's workflows:      %s\n", t.listLink(fmt.Sprintf("%s IN (%q, %q, %q)", searchattr.ChangeID.GetName(), ids[0], ids[1], ids[2])))
	for _, st := range []workflows.Status{res.good, res.bad, res.restart} {
		fmt.Fprintf(w, "  %-27s %s\n", st.Release+":", workflowLink(t.ui, t.ns, st.Release))
	}
	fmt.Fprintf(w, "  %-27s %s (its current details: the survey's table)\n", "the survey:", workflowLink(t.ui, t.ns, res.survey))
	fmt.Fprintf(w, "  On a release's page: User Metadata has its summary, details and live stage table;\n"+
		"  Relationships its pipelines (one per cloud/boundary); Event History every deploy,\n"+
		"  gate check, approval and rollback. Filter the list with the search attributes:\n"+
		"    %s=%q   %s=%q   %s=%q   %s=%q\n",
		searchattr.Service.GetName(), tourService, searchattr.Phase.GetName(), workflows.PhaseRolledBack,
		searchattr.Trigger.GetName(), tourWho, searchattr.Boundary.GetName(), "us-gov")
	fmt.Fprintf(w, "  From the CLI: meridian status %s; meridian history --service %s; meridian fleet %s\n", res.bad.Release, tourService, t.spec)
	fmt.Fprintln(w, "The server keeps running: press Ctrl-C to stop.")
}

func (t *tour) listLink(query string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows?query=%s", t.ui, url.PathEscape(t.ns), url.QueryEscape(query))
}
