package gcp

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// Error is an error a GCP driver raises itself (not the SDK), with its code.
type Error struct {
	Code driver.Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with code c.
func Errorf(c driver.Code, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// ErrorCode classifies an error from a Google Cloud client or a GCP driver:
// the driver's own *Error, context errors, then the gRPC status code carried
// by the SDK's error (apierror and long-running operation errors included).
func ErrorCode(err error) driver.Code {
	var e *Error
	switch {
	case err == nil:
		return driver.Unknown
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable
	}
	s, ok := status.FromError(err)
	if !ok {
		return driver.Unknown
	}
	return codeOf(s.Code())
}

func codeOf(c codes.Code) driver.Code {
	switch c {
	case codes.NotFound:
		return driver.NotFound
	case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
		return driver.Conflict
	case codes.ResourceExhausted:
		return driver.Throttled
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal:
		return driver.Unavailable
	case codes.PermissionDenied, codes.Unauthenticated:
		return driver.PermissionDenied
	case codes.InvalidArgument, codes.OutOfRange, codes.Unimplemented:
		return driver.Invalid
	case codes.Canceled:
		return driver.Canceled
	}
	return driver.Unknown
}
