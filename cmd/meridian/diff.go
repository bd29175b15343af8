package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
)

// diffOptions are the arguments and flags of `meridian diff`.
type diffOptions struct {
	base   string // git ref; when set, the only argument is DIR
	output string
	oldDir string
	newDir string

	out, errOut io.Writer
}

func newDiffCmd() *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff --base GITREF DIR",
		Short: "Show what a spec change does to targets and pipelines",
		Long: "Compare two specs, OLD and NEW, or DIR with its own content at a git ref\n" +
			"(--base main): services and targets added and removed, pipelines and stages\n" +
			"that changed, version and config changes, and \"On merge\": the release per\n" +
			"service that merging the change starts. The markdown output is meant as a\n" +
			"pull request comment; it opens with a loud line when a sovereign boundary is\n" +
			"touched, and says which stages of those releases a freeze of the new spec\n" +
			"holds now. The exit code is 0 whether or not there are differences; 1 when a\n" +
			"spec does not compile (its errors are printed first).",
		Args: func(cmd *cobra.Command, args []string) error {
			if o.base != "" {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.base, "base", "", "compare DIR with its content at this git ref (branch, tag or commit)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "markdown", "output format: markdown or json")
	return cmd
}

func (o *diffOptions) complete(cmd *cobra.Command, args []string) error {
	o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.output != "markdown" && o.output != "json" {
		return usageError{fmt.Errorf("unknown output format %q (want markdown or json)", o.output)}
	}
	if o.base != "" {
		o.newDir = args[0]
	} else {
		o.oldDir, o.newDir = args[0], args[1]
	}
	return nil
}

func (o *diffOptions) run(ctx context.Context) error {
	// The two specs compile at the same time, each in its own cue.Context.
	// Their errors are buffered and only the first failure is printed, NEW's
	// before OLD's, as when they compiled one after the other: the output
	// does not depend on which finishes first.
	head, base := compileBoth(ctx, o.oldDir, o.base, o.newDir)
	for _, c := range []*compiled{head, base} {
		if c.err != nil {
			o.errOut.Write(c.errOut.Bytes())
			return c.err
		}
	}

	change := pipelines.Diff(base.model, head.model, base.plan, head.plan)
	change.Frozen = frozenOnMerge(change.OnMerge, head, time.Now())
	w := bufio.NewWriter(o.out)
	var err error
	if o.output == "json" {
		err = writeIndentedJSON(w, change)
	} else {
		_, err = io.WriteString(w, change.Markdown())
	}
	if err != nil {
		return err
	}
	return w.Flush()
}

// frozenOnMerge lists the stages of the On merge releases (their forward
// pipelines in the new spec) that a freeze of the new spec holds at now.
func frozenOnMerge(releases []pipelines.Release, head *compiled, now time.Time) []pipelines.HeldStage {
	var pls []pipelines.Pipeline
	for _, r := range releases {
		pls = append(pls, servicePipelines(head.plan, r.Service)...)
	}
	return pipelines.FrozenStages(pls, head.model.Freezes, now)
}

// compiled is a spec's model and plan, or its error with what planSpec
// wrote about it.
type compiled struct {
	model  *placement.Model
	plan   *pipelines.Plan
	err    error
	errOut bytes.Buffer
}

func compile(ctx context.Context, dir, label string) *compiled {
	c := &compiled{}
	c.model, c.plan, c.err = planSpec(ctx, dir, label, &c.errOut)
	return c
}

// compileBoth compiles the spec in newDir (the head) and the base at the
// same time, each in its own cue.Context: oldDir, or newDir at the git ref
// base when it is set.
func compileBoth(ctx context.Context, oldDir, base, newDir string) (head, old *compiled) {
	var wg sync.WaitGroup
	wg.Go(func() { head = compile(ctx, newDir, newDir) })
	wg.Go(func() { old = compileBase(ctx, oldDir, base, newDir) })
	wg.Wait()
	return head, old
}

// compileBase compiles oldDir, or newDir at the git ref base; a spec that
// did not exist at the ref is empty.
func compileBase(ctx context.Context, oldDir, base, newDir string) *compiled {
	dir, label := oldDir, oldDir
	if base != "" {
		var err error
		if dir, label, err = checkoutSpec(ctx, base, newDir); err != nil {
			return &compiled{err: err}
		}
		if dir != "" {
			defer os.RemoveAll(dir)
		}
	}
	if dir == "" {
		return &compiled{model: &placement.Model{}, plan: &pipelines.Plan{}}
	}
	return compile(ctx, dir, label)
}

// checkoutSpec extracts the content of the spec directory dir at a git ref
// into a new temporary directory and returns it, with a label for error
// messages (ref:path). It returns "" when dir did not exist at ref: the
// spec is new, and everything in it shows as added.
func checkoutSpec(ctx context.Context, ref, dir string) (tmp, label string, err error) {
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", fmt.Errorf("--base needs DIR inside a git work tree: %w", err)
	}
	prefix, err := git(ctx, dir, "rev-parse", "--show-prefix")
	if err != nil {
		return "", "", err
	}
	if _, err := git(ctx, top, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return "", "", fmt.Errorf("--base %s: not a commit in %s", ref, top)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	label = ref + ":" + cmp.Or(prefix, ".")
	if _, err := git(ctx, top, "cat-file", "-e", ref+":"+prefix); err != nil {
		return "", "", nil
	}
	archive, err := gitOutput(ctx, top, "archive", "--format=tar", ref+":"+prefix)
	if err != nil {
		return "", "", err
	}
	tmp, err = os.MkdirTemp("", "meridian-base-")
	if err != nil {
		return "", "", err
	}
	if err := untar(bytes.NewReader(archive), tmp); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("extract %s: %w", label, err)
	}
	return tmp, label, nil
}

// untar writes the directories and regular files of a tar stream under dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("unsafe path %q", h.Name)
		}
		path := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeFile(path, tr)
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := gitOutput(ctx, dir, args...)
	return strings.TrimSpace(string(out)), err
}

// gitOutput runs git in dir and returns its output; a failure carries the
// first line git wrote on stderr.
func gitOutput(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return nil, fmt.Errorf("git %s: %s", args[0], cmp.Or(msg, err.Error()))
	}
	return out, nil
}
