// Package httpdrain is the Sharder driver for services that implement the
// HTTP drain protocol (docs/drain-protocol.md): POST /shards/drain and
// POST /shards/undrain on an instance's address, and GET /shards, whose
// "owned" field counts the shards the instance still owns. Moving the
// shards is the service's (or its sharding system's) business; this driver
// only asks and observes.
package httpdrain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Options configures a Sharder; nil means defaults.
type Options struct {
	// Client sends the requests (default: a client with a 10s timeout).
	Client *http.Client
}

// Sharder speaks the HTTP drain protocol to instances.
type Sharder struct {
	client *http.Client
}

var _ driver.Sharder = (*Sharder)(nil)

// New returns a Sharder.
func New(opts *Options) *Sharder {
	s := &Sharder{client: &http.Client{Timeout: 10 * time.Second}}
	if opts != nil && opts.Client != nil {
		s.client = opts.Client
	}
	return s
}

// StatusError is an instance's non-2xx answer.
type StatusError struct {
	URL    string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// Drain asks the instance to give up its shards.
func (s *Sharder) Drain(ctx context.Context, _ driver.Target, inst driver.Instance) error {
	return s.call(ctx, http.MethodPost, inst, "/shards/drain", nil)
}

// Undrain lets the instance own shards again.
func (s *Sharder) Undrain(ctx context.Context, _ driver.Target, inst driver.Instance) error {
	return s.call(ctx, http.MethodPost, inst, "/shards/undrain", nil)
}

// Owned reports how many shards the instance still owns.
func (s *Sharder) Owned(ctx context.Context, _ driver.Target, inst driver.Instance) (int, error) {
	var st struct {
		Owned *int `json:"owned"`
	}
	if err := s.call(ctx, http.MethodGet, inst, "/shards", &st); err != nil {
		return 0, err
	}
	if st.Owned == nil {
		return 0, fmt.Errorf("instance %s: GET /shards answered without an owned count", inst.ID)
	}
	return *st.Owned, nil
}

func (s *Sharder) call(ctx context.Context, method string, inst driver.Instance, path string, out any) error {
	if inst.Address == "" {
		return fmt.Errorf("instance %s has no address: %w", inst.ID, errNoAddress)
	}
	url := "http://" + inst.Address + path
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{URL: method + " " + url, Status: resp.StatusCode, Body: string(body)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return nil
}

var errNoAddress = errors.New("no address")

// ErrorCode classifies the Sharder's errors.
func (s *Sharder) ErrorCode(err error) driver.Code {
	var se *StatusError
	var ne net.Error
	switch {
	case err == nil:
		return driver.Unknown
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable // a deadline of the driver's own: see package driver
	case errors.Is(err, errNoAddress):
		return driver.Invalid
	case errors.As(err, &se):
		switch {
		case se.Status == http.StatusNotFound:
			return driver.NotFound
		case se.Status == http.StatusTooManyRequests:
			return driver.Throttled
		case se.Status == http.StatusConflict:
			return driver.Conflict
		case se.Status >= 500:
			return driver.Unavailable
		}
		return driver.Invalid
	case errors.As(err, &ne):
		return driver.Unavailable
	}
	return driver.Unknown
}
