package awsecs

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// TestEndpointsPerBoundary resolves (without network) the real endpoint each
// boundary's regions reach.
func TestEndpointsPerBoundary(t *testing.T) {
	for _, tc := range []struct{ boundary, region, host string }{
		{"public", "us-east-1", "ecs.us-east-1.amazonaws.com"},
		{"public", "eu-west-1", "ecs.eu-west-1.amazonaws.com"},
		{"us-gov", "us-gov-west-1", "ecs.us-gov-west-1.amazonaws.com"},
		{"us-gov", "us-gov-east-1", "ecs.us-gov-east-1.amazonaws.com"},
		{"china", "cn-north-1", "ecs.cn-north-1.amazonaws.com.cn"},
		{"china", "cn-northwest-1", "ecs.cn-northwest-1.amazonaws.com.cn"},
		{"eu-sovereign", "eusc-de-east-1", "ecs.eusc-de-east-1.amazonaws.eu"},
	} {
		b, err := awsx.Boundary(tc.boundary)
		if err != nil {
			t.Fatal(err)
		}
		if err := awsx.CheckRegion(b, tc.region); err != nil {
			t.Fatal(err)
		}
		ep, err := endpointResolver{boundary: b}.ResolveEndpoint(context.Background(), ecs.EndpointParameters{Region: aws.String(tc.region), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false)})
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.boundary, tc.region, err)
		}
		if ep.URI.Host != tc.host || ep.URI.Scheme != "https" {
			t.Errorf("%s/%s resolves to %s, want https://%s", tc.boundary, tc.region, ep.URI.String(), tc.host)
		}
	}
}

func TestContainerChoice(t *testing.T) {
	cds := []types.ContainerDefinition{
		{Name: aws.String("envoy"), Image: aws.String("public.ecr.aws/envoy:v1.30")},
		{Name: aws.String("app"), Image: aws.String("registry.example.com:5000/billing@sha256:abc")},
	}
	d := &Driver{}
	if i, err := d.container(cds, "registry.example.com:5000/billing"); err != nil || i != 1 {
		t.Errorf("by repository: %d, %v", i, err)
	}
	if _, err := d.container(cds, "registry.example.com/other"); awsx.ErrorCode(err) != driver.Invalid {
		t.Errorf("ambiguous: %v, want invalid", err)
	}
	d.opts.Container = "app"
	if i, err := d.container(cds, "registry.example.com/other"); err != nil || i != 1 {
		t.Errorf("by name: %d, %v", i, err)
	}
	if i, err := (&Driver{}).container(cds[:1], "registry.example.com/other"); err != nil || i != 0 {
		t.Errorf("only container: %d, %v", i, err)
	}
}
