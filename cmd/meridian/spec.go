package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/meridian-deploy/meridian/pipelines"
	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/regions"
)

// specTimeout bounds a spec's evaluation (--spec-timeout).
var specTimeout = 2 * time.Minute

// planSpec loads and compiles the spec in dir and builds its plan.
// A spec that compiles always builds; should Build fail all the same, its
// error comes back as one line naming dir.
//
// Spec errors are written to w one per line, as validate writes them
// (file:line:col: message), with each file name prefixed by label when
// label is not empty, and come back as silentError{1}. A problem with the
// directory itself, which has no position, is written as meridian: message.
//
// Evaluation is bounded by --spec-timeout and stops when ctx ends (Ctrl-C):
// CUE's evaluation cannot be interrupted, so it is left to run out in the
// background while the command returns at once with the reason.
func planSpec(ctx context.Context, dir, label string, w io.Writer) (*placement.Model, *pipelines.Plan, error) {
	type compiled struct {
		model *placement.Model
		err   error
	}
	done := make(chan compiled, 1)
	go func() {
		spec, err := placement.Load(dir)
		if err != nil {
			done <- compiled{err: err}
			return
		}
		model, err := placement.Compile(spec, regions.Default())
		done <- compiled{model, err}
	}()
	timer := time.NewTimer(specTimeout)
	defer timer.Stop()
	var c compiled
	select {
	case c = <-done:
	case <-timer.C:
		return nil, nil, fmt.Errorf("%s: the spec's evaluation did not finish within %s (--spec-timeout): is it too large or too costly?", dir, specTimeout)
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("%s: the spec's evaluation was stopped: %w", dir, context.Cause(ctx))
	}
	if c.err != nil {
		return nil, nil, specError(c.err, label, w)
	}
	model := c.model
	plan, err := pipelines.Build(model)
	if err != nil {
		// The checks of Compile make this unreachable; say so if it is not.
		return nil, nil, fmt.Errorf("%s: the spec compiles but its plan cannot be built: %w", dir, err)
	}
	return model, plan, nil
}

// specError prints the positioned errors in err and turns them into
// silentError{1}; other errors pass through.
func specError(err error, label string, w io.Writer) error {
	var list placement.Errors
	var one placement.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = placement.Errors{one}
	default:
		return err
	}
	for _, e := range list {
		switch {
		case e.File == "" && label == "":
			// A problem with the directory itself (missing, empty) has no
			// position: it reads as any other failure does.
			e.Msg = "meridian: " + e.Msg
		case e.File == "":
			e.Msg = "meridian: " + label + ": " + e.Msg
		case label != "":
			e.File = path.Join(label, e.File)
		}
		fmt.Fprintln(w, e.Error())
	}
	return silentError{1}
}
