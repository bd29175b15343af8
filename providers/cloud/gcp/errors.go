package gcp

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// ErrorCode classifies an error from a Google Cloud client or a GCP driver:
// the driver's own *driver.Error, context errors, then the gRPC status code carried
// by the SDK's error (apierror and long-running operation errors included).
func ErrorCode(err error) driver.Code {
	var e *driver.Error
	switch {
	case err == nil:
		return driver.Unknown
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable // a deadline of the SDK's own: see package driver
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
