package awsappconfig

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appconfig"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
)

// TestEndpointsPerBoundary resolves (without network) the real endpoint each
// boundary's regions reach.
func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range []struct{ boundary, region, host string }{
		{"public", "us-east-1", "appconfig.us-east-1.amazonaws.com"},
		{"public", "eu-west-1", "appconfig.eu-west-1.amazonaws.com"},
		{"us-gov", "us-gov-west-1", "appconfig.us-gov-west-1.amazonaws.com"},
		{"us-gov", "us-gov-east-1", "appconfig.us-gov-east-1.amazonaws.com"},
		{"china", "cn-north-1", "appconfig.cn-north-1.amazonaws.com.cn"},
		{"china", "cn-northwest-1", "appconfig.cn-northwest-1.amazonaws.com.cn"},
		{"eu-sovereign", "eusc-de-east-1", "appconfig.eusc-de-east-1.amazonaws.eu"},
	} {
		b, err := awsx.Boundary(tc.boundary)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := endpointResolver{boundary: b}.ResolveEndpoint(context.Background(), appconfig.EndpointParameters{Region: aws.String(tc.region), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false)})
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.boundary, tc.region, err)
		}
		if ep.URI.Host != tc.host {
			t.Errorf("%s/%s resolves to %s, want %s", tc.boundary, tc.region, ep.URI.String(), tc.host)
		}
	}
}
