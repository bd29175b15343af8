package azure

import (
	"context"
	"errors"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// errorCodes maps the error codes ARM and the data planes put in their
// error bodies (azcore.ResponseError.ErrorCode) to driver codes. Codes not
// listed fall back to the HTTP status.
var errorCodes = map[string]driver.Code{
	"ResourceNotFound":              driver.NotFound,
	"ResourceGroupNotFound":         driver.NotFound,
	"SubscriptionNotFound":          driver.NotFound,
	"NotFound":                      driver.NotFound,
	"SecretNotFound":                driver.NotFound, // Key Vault
	"Conflict":                      driver.Conflict,
	"AnotherOperationInProgress":    driver.Conflict,
	"OperationNotAllowed":           driver.Conflict,
	"PreconditionFailed":            driver.Conflict,
	"TooManyRequests":               driver.Throttled,
	"ThrottlingError":               driver.Throttled,
	"SubscriptionRequestsThrottled": driver.Throttled,
	"TenantRequestsThrottled":       driver.Throttled,
	"Throttled":                     driver.Throttled, // Key Vault
	"AuthorizationFailed":           driver.PermissionDenied,
	"AuthenticationFailed":          driver.PermissionDenied,
	"InvalidAuthenticationToken":    driver.PermissionDenied,
	"ExpiredAuthenticationToken":    driver.PermissionDenied,
	"LinkedAuthorizationFailed":     driver.PermissionDenied,
	"InvalidRequestContent":         driver.Invalid,
	"InvalidParameter":              driver.Invalid,
	"BadRequest":                    driver.Invalid,
	"ContainerAppInvalidImage":      driver.Invalid,
	"InternalServerError":           driver.Unavailable,
	"ServiceUnavailable":            driver.Unavailable,
	"GatewayTimeout":                driver.Unavailable,
}

// ErrorCode classifies an error from an Azure SDK client or an Azure
// driver: the driver's own *driver.Error, context errors, credential failures,
// then the error code and HTTP status of an *azcore.ResponseError (a
// long-running operation that ended Failed is Failed).
func ErrorCode(err error) driver.Code {
	var (
		own  *driver.Error
		resp *azcore.ResponseError
		auth *azidentity.AuthenticationFailedError
	)
	switch {
	case err == nil:
		return driver.Unknown
	case errors.As(err, &own):
		return own.Code
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable // a deadline of the SDK's own: see package driver
	case errors.As(err, &auth):
		return driver.PermissionDenied
	case errors.As(err, &resp):
		if c, ok := errorCodes[resp.ErrorCode]; ok {
			return c
		}
		if resp.StatusCode < 400 {
			// a long-running operation that ended Failed or Canceled,
			// reported with its last poll's (successful) status
			return driver.Failed
		}
		return statusCode(resp.StatusCode)
	}
	return driver.Unknown
}

func statusCode(status int) driver.Code {
	switch {
	case status == http.StatusNotFound:
		return driver.NotFound
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return driver.Conflict
	case status == http.StatusTooManyRequests:
		return driver.Throttled
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return driver.PermissionDenied
	case status >= 500:
		return driver.Unavailable
	case status >= 400:
		return driver.Invalid
	}
	return driver.Unknown
}
