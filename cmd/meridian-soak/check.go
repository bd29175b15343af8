package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/searchattr"
)

// report is what the checks found.
type report struct {
	releases, succeeded, rolledBack, targets int
	lost, stuck, mixed, duplicated           int
	crossBoundary, leaked                    int
	faults                                   faults
	base, faulted                            []time.Duration
	problems                                 []string
}

func (r *report) problem(format string, args ...any) {
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *report) ok() bool {
	return r.lost+r.stuck+r.mixed+r.duplicated+r.crossBoundary+r.leaked == 0
}

// summary is the soak's one line of figures.
func (r *report) summary() string {
	p := func(ds []time.Duration, q float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		ds = slices.Sorted(slices.Values(ds))
		return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(100 * time.Millisecond)
	}
	f := r.faults
	line := fmt.Sprintf("soak: releases %d (succeeded %d, rolled back %d), targets %d, faults %d (kills %d, server restarts %d, postgres restarts %d, build upgrades %d, throttled %d, 5xx %d, timeouts %d), "+
		"lost %d, mixed %d, duplicated %d, stuck %d, cross-boundary %d, leaked %d; release time p50 %s p99 %s under faults vs p50 %s p99 %s without",
		r.releases, r.succeeded, r.rolledBack, r.targets,
		f.kills+f.serverRestarts+f.pgRestarts+f.upgrades+f.throttles+f.errors5xx+f.timeouts, f.kills, f.serverRestarts, f.pgRestarts, f.upgrades, f.throttles, f.errors5xx, f.timeouts,
		r.lost, r.mixed, r.duplicated, r.stuck, r.crossBoundary, r.leaked, p(r.faulted, 0.5), p(r.faulted, 0.99), p(r.base, 0.5), p(r.base, 0.99))
	for _, pr := range r.problems {
		line += "\n  " + pr
	}
	return line
}

// cluster is the ECS cluster of a target: its region and cell.
func ecsCluster(region, cell string) string { return region + "-" + cell }

// checkTargets compares, right after a wave, every target of svc in the
// fakes with the outcome of its release: succeeded, the new version;
// otherwise the one before. And the new version was deployed at most once
// to each (later waves' rollbacks deploy earlier versions again, rightly).
func (s *soak) checkTargets(w *wave, svc string) {
	want := w.previous[svc]
	if w.outcome[svc].status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		want = w.version[svc]
	}
	for _, b := range boundaries {
		for _, r := range regionsOf[b] {
			for _, cell := range cells {
				got := s.fakes[b].TaskDefinitionImages(s.fakes[b].ServiceTaskDefinition(ecsCluster(r, cell), svc))
				if !slices.Equal(got, []string{imageRepo + svc + ":" + want}) {
					s.mixed = append(s.mixed, fmt.Sprintf("%s: %s in %s/%s runs %v, want %s (release %s)", w.change, svc, r, cell, got, want, w.outcome[svc].status))
				}
				if n := s.fakes[b].Deployed(ecsCluster(r, cell), svc)[imageRepo+svc+":"+w.version[svc]]; n > 1 {
					s.duplicated = append(s.duplicated, fmt.Sprintf("%s: %s deployed %d times to %s in %s/%s", w.change, w.version[svc], n, svc, r, cell))
				}
			}
		}
	}
}

// check runs the checks that need every wave: outcomes, duplicates,
// identities, leaks.
func (s *soak) check(ctx context.Context) *report {
	r := &report{faults: s.faults, mixed: len(s.mixed), duplicated: len(s.duplicated)}
	for _, m := range s.mixed {
		r.problem("mixed: %s", m)
	}
	for _, d := range s.duplicated {
		r.problem("duplicated: %s", d)
	}
	for _, w := range s.waves {
		for svc, v := range w.version {
			r.releases++
			o, ok := w.outcome[svc]
			switch {
			case !ok:
				if _, err := s.c.DescribeWorkflowExecution(ctx, workflows.ReleaseID(svc, w.change), ""); err != nil {
					r.lost++
					r.problem("lost: %s: %v", workflows.ReleaseID(svc, w.change), err)
				} else {
					r.stuck++
					r.problem("stuck: %s still runs", workflows.ReleaseID(svc, w.change))
				}
				continue
			case o.status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				r.succeeded++
				if strings.Contains(v, "-") {
					r.problem("a bad version succeeded: %s", workflows.ReleaseID(svc, w.change))
				}
			case o.status == enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
				r.rolledBack++
			default:
				r.problem("%s ended %s", workflows.ReleaseID(svc, w.change), o.status)
			}
			if w.faulted {
				r.faulted = append(r.faulted, o.duration)
			} else {
				r.base = append(r.base, o.duration)
			}
		}
	}
	for _, b := range boundaries {
		r.targets += len(s.services()) * len(regionsOf[b]) * len(cells)
	}
	s.checkRunning(ctx, r)
	s.checkHistories(ctx, r)
	s.checkLogs(r)
	s.checkKeys(r)
	return r
}

// checkRunning counts Meridian workflows of the soak still running.
func (s *soak) checkRunning(ctx context.Context, r *report) {
	resp, err := s.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: "ExecutionStatus = 'Running' AND WorkflowType IN ('" + workflows.ReleaseWorkflowName + "', '" + workflows.PipelineWorkflowName + "')",
	})
	if err != nil {
		r.problem("count running releases: %v", err)
		return
	}
	if n := int(resp.GetCount()); n > 0 {
		r.stuck += n
		r.problem("stuck: %d releases or pipelines still run", n)
	}
}

// checkHistories reads the history of every release and pipeline: each
// activity of a pipeline ran on a worker of the pipeline's boundary, each
// of a release on a control worker, and no credential appears in any.
func (s *soak) checkHistories(ctx context.Context, r *report) {
	pids := s.pidsByBoundary()
	for _, w := range s.waves {
		var ids []struct{ id, boundary string }
		for svc := range w.version {
			ids = append(ids, struct{ id, boundary string }{workflows.ReleaseID(svc, w.change), "control"})
		}
		query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", workflows.PipelineWorkflowName, searchattr.ChangeID.GetName(), w.change)
		var token []byte
		for {
			resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
			if err != nil {
				r.problem("list pipelines of %s: %v", w.change, err)
				break
			}
			for _, e := range resp.GetExecutions() {
				var b string
				if p := e.GetSearchAttributes().GetIndexedFields()[searchattr.Boundary.GetName()]; p != nil {
					b = strings.Trim(string(p.GetData()), `"`)
				}
				ids = append(ids, struct{ id, boundary string }{e.GetExecution().GetWorkflowId(), b})
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		for _, x := range ids {
			it := s.c.GetWorkflowHistory(ctx, x.id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					r.problem("history of %s: %v", x.id, err)
					break
				}
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && pids != nil {
					pid, _, _ := strings.Cut(a.GetIdentity(), "@")
					if n, _ := strconv.Atoi(pid); !slices.Contains(pids[x.boundary], n) {
						r.crossBoundary++
						r.problem("cross-boundary: an activity of %s (%s) ran on %s", x.id, x.boundary, a.GetIdentity())
					}
				}
				raw, _ := protojson.Marshal(ev)
				if secret := s.secretIn(string(raw)); secret != "" {
					r.leaked++
					r.problem("leaked: %s's history holds a credential (%s…)", x.id, secret[:6])
				}
			}
		}
	}
}

// pidsByBoundary maps each boundary ("control" for the control queue) to
// the pids its workers ran as; nil with --dev, where one process runs all.
func (s *soak) pidsByBoundary() map[string][]int {
	if s.cluster == nil {
		return nil
	}
	out := map[string][]int{}
	for _, p := range s.cluster.Procs() {
		switch {
		case p.Boundary != "":
			_, b, _ := strings.Cut(p.Boundary, "/")
			out[b] = append(out[b], p.Pids()...)
		case strings.HasPrefix(p.Name, "control-"):
			out["control"] = append(out["control"], p.Pids()...)
		}
	}
	return out
}

// secretIn returns the credential found in text, "" if none.
func (s *soak) secretIn(text string) string {
	for _, c := range s.creds {
		for _, v := range c {
			if strings.Contains(text, v) {
				return v
			}
		}
	}
	return ""
}

// checkLogs looks for credentials in every log of the run.
func (s *soak) checkLogs(r *report) {
	_ = filepath.WalkDir(s.opts.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil {
			if secret := s.secretIn(string(b)); secret != "" {
				r.leaked++
				r.problem("leaked: %s holds a credential (%s…)", path, secret[:6])
			}
		}
		return nil
	})
}

// checkKeys: every request a boundary's fake saw was signed with that
// boundary's key (cluster only: meridian dev holds one set of keys).
func (s *soak) checkKeys(r *report) {
	if s.cluster == nil {
		return
	}
	for b, f := range s.fakes {
		for _, k := range slices.Compact(slices.Sorted(slices.Values(f.AccessKeys()))) {
			if k != s.creds[b][0] {
				r.crossBoundary++
				r.problem("cross-boundary: aws/%s was called with the key %s…", b, k[:8])
			}
		}
	}
}
