package aws

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/meridian-deploy/meridian/providers/driver"
)

// errorCodes maps AWS error codes (awsJson __type, restJson X-Amzn-ErrorType,
// awsQuery codes) to portable codes.
var errorCodes = map[string]driver.Code{
	// not found
	"ClusterNotFoundException":  driver.NotFound,
	"ServiceNotFoundException":  driver.NotFound,
	"ResourceNotFoundException": driver.NotFound,
	"ResourceNotFound":          driver.NotFound,
	// conflicts: another change is in progress
	"ConflictException":               driver.Conflict,
	"UpdateInProgressException":       driver.Conflict,
	"ConcurrentModificationException": driver.Conflict,
	// throttling
	"ThrottlingException":                    driver.Throttled,
	"Throttling":                             driver.Throttled,
	"TooManyRequestsException":               driver.Throttled,
	"RequestLimitExceeded":                   driver.Throttled,
	"ProvisionedThroughputExceededException": driver.Throttled,
	"LimitExceededException":                 driver.Throttled, // the SDK retries it as throttling
	// transient server errors
	"ServerException":             driver.Unavailable,
	"InternalServerException":     driver.Unavailable,
	"InternalFailure":             driver.Unavailable,
	"InternalServiceFault":        driver.Unavailable,
	"ServiceUnavailable":          driver.Unavailable,
	"ServiceUnavailableException": driver.Unavailable,
	// credentials and permissions
	"AccessDeniedException":               driver.PermissionDenied,
	"AccessDenied":                        driver.PermissionDenied,
	"UnauthorizedOperation":               driver.PermissionDenied,
	"UnrecognizedClientException":         driver.PermissionDenied,
	"InvalidClientTokenId":                driver.PermissionDenied,
	"InvalidSignatureException":           driver.PermissionDenied,
	"SignatureDoesNotMatch":               driver.PermissionDenied,
	"ExpiredToken":                        driver.PermissionDenied,
	"ExpiredTokenException":               driver.PermissionDenied,
	"MissingAuthenticationTokenException": driver.PermissionDenied,
	// requests that can never succeed
	"ClientException":                                driver.Invalid,
	"InvalidParameterException":                      driver.Invalid,
	"InvalidParameterValue":                          driver.Invalid,
	"InvalidParameterCombination":                    driver.Invalid,
	"MissingParameter":                               driver.Invalid,
	"ValidationException":                            driver.Invalid,
	"BadRequestException":                            driver.Invalid,
	"PayloadTooLargeException":                       driver.Invalid,
	"ServiceQuotaExceededException":                  driver.Invalid,
	"ServiceNotActiveException":                      driver.Invalid,
	"PlatformUnknownException":                       driver.Invalid,
	"PlatformTaskDefinitionIncompatibilityException": driver.Invalid,
	"InvalidFormat":                                  driver.Invalid,
	"InvalidNextToken":                               driver.Invalid,
	"InvalidRequestException":                        driver.Invalid,          // a secret scheduled for deletion
	"DecryptionFailure":                              driver.PermissionDenied, // no access to the secret's KMS key
}

// ErrorCode classifies an error from an AWS SDK call or from a driver.
func ErrorCode(err error) driver.Code {
	if err == nil {
		return driver.Unknown
	}
	var own *driver.Error
	if errors.As(err, &own) {
		return own.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.Unavailable // a deadline of the SDK's own: see package driver
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if code, ok := errorCodes[api.ErrorCode()]; ok {
			return code
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		switch status := resp.HTTPStatusCode(); {
		case status == http.StatusNotFound:
			return driver.NotFound
		case status == http.StatusConflict:
			return driver.Conflict
		case status == http.StatusTooManyRequests:
			return driver.Throttled
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return driver.PermissionDenied
		case status >= 500:
			return driver.Unavailable
		}
	}
	return driver.Unknown
}
