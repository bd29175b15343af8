// Package gcp holds what every Google Cloud driver shares: the universe
// domain each sovereign boundary resolves to, the client options built from
// it, the convention that maps a target to a project, retries of throttled
// calls, and the mapping of gRPC status codes to driver codes.
//
// A GCP driver serves exactly one boundary: its clients are bound to that
// boundary's universe (googleapis.com, s3nsapis.fr) and it refuses targets
// of any other boundary, so nothing meant for a sovereign universe is ever
// sent to the public one.
package gcp

import (
	"context"
	"io"
	"time"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// UniverseDomain returns the universe domain of a GCP boundary: the
// catalog's source for it (googleapis.com, s3nsapis.fr).
func UniverseDomain(b regions.Boundary) (string, error) {
	if b.Cloud != "gcp" {
		return "", driver.Errorf(driver.Invalid, "boundary %s/%s is not a GCP boundary", b.Cloud, b.ID)
	}
	for _, d := range []string{b.Source, b.DNSSuffix} {
		if d != "" {
			return d, nil
		}
	}
	return "", driver.Errorf(driver.Invalid, "GCP boundary %s has no universe domain in the regions catalog", b.ID)
}

// ClientOptions returns the client options that bind a Google Cloud client
// to boundary b: its universe domain, so that every service resolves to
// <service>.<universe>:443. Credentials are left to Application Default
// Credentials; extra options (an endpoint, a dial option) are appended.
func ClientOptions(b regions.Boundary, extra ...option.ClientOption) ([]option.ClientOption, error) {
	domain, err := UniverseDomain(b)
	if err != nil {
		return nil, err
	}
	return append([]option.ClientOption{option.WithUniverseDomain(domain)}, extra...), nil
}

// NewClients makes a driver's two clients for boundary b with newFirst and
// newSecond (monitoring.NewAlertPolicyClient, …), passing them the
// boundary's client options and then opts.ClientOptions (see
// ClientOptions); nil opts means defaults. When newSecond fails, the first
// client is closed.
func NewClients[A, B io.Closer](ctx context.Context, b regions.Boundary, opts *Options,
	newFirst func(context.Context, ...option.ClientOption) (A, error),
	newSecond func(context.Context, ...option.ClientOption) (B, error)) (first A, second B, err error) {
	var extra []option.ClientOption
	if opts != nil {
		extra = opts.ClientOptions
	}
	co, err := ClientOptions(b, extra...)
	if err != nil {
		return first, second, err
	}
	if first, err = newFirst(ctx, co...); err != nil {
		return first, second, err
	}
	if second, err = newSecond(ctx, co...); err != nil {
		first.Close()
		return first, second, err
	}
	return first, second, nil
}

// Options configures a GCP driver. A nil *Options means defaults, and the
// zero value of every field is its default.
type Options struct {
	// Settings are the boundary's provider settings from the spec
	// (placement.BoundaryRule.Provider): "project" and "project.<environment>".
	// They never hold credentials.
	Settings map[string]string
	// ClientOptions are appended after the boundary's universe options: an
	// endpoint and option.WithoutAuthentication for a fake, a quota project…
	ClientOptions []option.ClientOption
	// PollInterval is the wait between two polls of a long-running
	// operation (default 2s).
	PollInterval time.Duration
	// Retry governs retries of throttled (RESOURCE_EXHAUSTED) and
	// unavailable calls; the zero value means DefaultRetry.
	Retry Retry
}

// Retry bounds the retries of a throttled or unavailable call.
type Retry struct {
	Attempts int           // total tries, first included
	Initial  time.Duration // first pause
	Max      time.Duration // longest pause
}

// DefaultRetry is used when Options.Retry is zero.
var DefaultRetry = Retry{Attempts: 5, Initial: 250 * time.Millisecond, Max: 8 * time.Second}

// PollEvery returns the poll interval, defaulted.
func (o *Options) PollEvery() time.Duration {
	if o == nil || o.PollInterval <= 0 {
		return 2 * time.Second
	}
	return o.PollInterval
}

// CallOption returns the gax call option that retries throttled and
// unavailable calls with exponential backoff, at most Attempts times in all.
// After that the error is returned and maps to Throttled or Unavailable.
func (o *Options) CallOption() gax.CallOption {
	r := DefaultRetry
	if o != nil && o.Retry != (Retry{}) {
		r = o.Retry
	}
	return gax.WithRetry(func() gax.Retryer {
		return &retryer{
			left: r.Attempts - 1,
			codes: gax.OnCodes([]codes.Code{codes.ResourceExhausted, codes.Unavailable},
				gax.Backoff{Initial: r.Initial, Max: r.Max, Multiplier: 2}),
		}
	})
}

// retryer stops gax's code-based retryer after a number of retries.
type retryer struct {
	left  int
	codes gax.Retryer
}

func (r *retryer) Retry(err error) (time.Duration, bool) {
	if r.left <= 0 {
		return 0, false
	}
	r.left--
	return r.codes.Retry(err)
}

// Scope is the boundary a driver serves and the settings that map its
// targets to projects.
type Scope struct {
	Boundary regions.Boundary
	Settings map[string]string
}

// Project returns the project a target lives in. The convention, in order:
// the target's cell when set (a GCP cell is a project), the boundary's
// "project.<environment>" setting, then its "project" setting. A target of
// another cloud or boundary is refused.
func (s Scope) Project(t driver.Target) (string, error) {
	if t.Cloud != "gcp" || t.Boundary != s.Boundary.ID {
		return "", driver.Errorf(driver.Invalid, "target %s is outside this driver's boundary gcp/%s", t.ID(), s.Boundary.ID)
	}
	for _, p := range []string{t.Cell, s.Settings["project."+t.Environment], s.Settings["project"]} {
		if p != "" {
			return p, nil
		}
	}
	return "", driver.Errorf(driver.Invalid, "no GCP project for target %s: set a cell, or the boundary's provider setting %q or %q",
		t.ID(), "project."+t.Environment, "project")
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
