package aws

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Boundary returns the catalog's AWS boundary with id: its Source is the
// partition (aws, aws-us-gov, aws-cn, aws-eusc, …) and its DNSSuffix the
// partition's endpoint suffix.
func Boundary(id string) (regions.Boundary, error) {
	b, ok := regions.Default().Boundary("aws", id)
	if !ok {
		return regions.Boundary{}, driver.Errorf(driver.Invalid, "aws: unknown boundary %q", id)
	}
	return b, nil
}

// CheckRegion verifies that region is an AWS region of boundary b, so that a
// target can never send a call for one boundary into another partition.
func CheckRegion(b regions.Boundary, region string) error {
	r, ok := regions.Default().Region("aws", region)
	if !ok {
		return driver.Errorf(driver.Invalid, "aws: unknown region %q", region)
	}
	if r.Boundary != b.ID {
		return driver.Errorf(driver.Invalid, "aws: region %s is in boundary %s, not %s", region, r.Boundary, b.ID)
	}
	return nil
}

// InBoundary checks an endpoint the SDK resolved for a service in region
// against boundary b. The SDK knows the partition of every region it was
// built with; for a region it places in another partition (one newer than
// the SDK) the endpoint is rebuilt as https://<prefix>.<region>.<dnsSuffix>
// from the catalog.
func InBoundary(ep smithyendpoints.Endpoint, prefix, region string, b regions.Boundary) smithyendpoints.Endpoint {
	if b.DNSSuffix == "" || strings.HasSuffix(ep.URI.Hostname(), "."+b.DNSSuffix) {
		return ep
	}
	ep.URI = url.URL{Scheme: "https", Host: fmt.Sprintf("%s.%s.%s", prefix, region, b.DNSSuffix)}
	return ep
}

// SDKResolver is a service's SDK endpoint resolver
// (ecs.NewDefaultEndpointResolverV2(), …) for its endpoint parameters P.
type SDKResolver[P any] interface {
	ResolveEndpoint(ctx context.Context, params P) (smithyendpoints.Endpoint, error)
}

// ResolveInBoundary resolves params with a service's SDK rules and keeps the
// endpoint inside boundary b (see InBoundary). region and endpoint are the
// parameters' Region and Endpoint: a custom endpoint is kept as resolved.
func ResolveInBoundary[P any](ctx context.Context, sdk SDKResolver[P], params P, region, endpoint *string, prefix string, b regions.Boundary) (smithyendpoints.Endpoint, error) {
	ep, err := sdk.ResolveEndpoint(ctx, params)
	if err != nil || endpoint != nil {
		return ep, err
	}
	return InBoundary(ep, prefix, aws.ToString(region), b), nil
}
