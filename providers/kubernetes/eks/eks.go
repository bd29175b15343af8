// Package eks reaches Amazon EKS clusters for the kubernetes driver: a
// target's cell names a cluster, whose endpoint and CA come from the EKS
// API (DescribeCluster, in the target's region and partition: GovCloud,
// China, the European Sovereign Cloud), and whose bearer token is an STS
// GetCallerIdentity request presigned for the cluster, as EKS's
// authenticator expects ("k8s-aws-v1." and the URL, base64url; valid 15
// minutes). The identity is the worker's own, from the SDK's default
// chain; the cluster maps it to a Kubernetes user (access entries or the
// aws-auth ConfigMap).
package eks

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"k8s.io/client-go/rest"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// TokenPrefix starts every EKS bearer token.
const TokenPrefix = "k8s-aws-v1."

// Clusters resolves EKS clusters; it implements kubernetes.Clusters.
type Clusters struct {
	eks *awsx.Clients[*eks.Client]
	sts *awsx.Clients[*sts.PresignClient]
	// name is a target's cluster name, with driver.Expand's placeholders.
	name string
}

// New returns the resolver of one boundary's clusters, calling EKS and
// STS with cfg (see aws.LoadConfig). name is a target's cluster name
// (default "{cell}").
func New(cfg aws.Config, boundary, name string) *Clusters {
	return &Clusters{
		name: cmp.Or(name, "{cell}"),
		eks: awsx.NewClients(boundary, func(b regions.Boundary, region string) *eks.Client {
			return eks.NewFromConfig(cfg, func(o *eks.Options) {
				o.Region = region
				o.EndpointResolverV2 = eksEndpoints{b}
			})
		}),
		sts: awsx.NewClients(boundary, func(b regions.Boundary, region string) *sts.PresignClient {
			return sts.NewPresignClient(sts.NewFromConfig(cfg, func(o *sts.Options) {
				o.Region = region
				o.EndpointResolverV2 = stsEndpoints{b}
			}))
		}),
	}
}

// Config is the client configuration of t's cluster.
func (c *Clusters) Config(ctx context.Context, t driver.Target) (*rest.Config, error) {
	client, err := c.eks.For(t)
	if err != nil {
		return nil, err
	}
	name := driver.Expand(c.name, t)
	out, err := client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("eks: describing cluster %s in %s: %w", name, t.Region, err)
	}
	cl := out.Cluster
	if cl == nil || aws.ToString(cl.Endpoint) == "" || cl.CertificateAuthority == nil {
		status := "unknown"
		if cl != nil {
			status = string(cl.Status)
		}
		return nil, driver.Errorf(driver.Unavailable, "eks: cluster %s in %s has no endpoint yet (status %s)", name, t.Region, status)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(cl.CertificateAuthority.Data))
	if err != nil {
		return nil, driver.Errorf(driver.Invalid, "eks: cluster %s: certificate authority: %v", name, err)
	}
	token, err := c.token(ctx, t, name)
	if err != nil {
		return nil, err
	}
	return &rest.Config{Host: aws.ToString(cl.Endpoint), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, nil
}

// token presigns GetCallerIdentity for the cluster.
func (c *Clusters) token(ctx context.Context, t driver.Target, cluster string) (string, error) {
	presign, err := c.sts.For(t)
	if err != nil {
		return "", err
	}
	req, err := presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(
			smithyhttp.SetHeaderValue("x-k8s-aws-id", cluster),
			smithyhttp.SetHeaderValue("X-Amz-Expires", "60"),
		))
	})
	if err != nil {
		return "", fmt.Errorf("eks: presigning a token for cluster %s: %w", cluster, err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), nil
}

// ErrorCode classifies EKS and STS errors.
func (c *Clusters) ErrorCode(err error) driver.Code { return awsx.ErrorCode(err) }

type eksEndpoints struct{ b regions.Boundary }

func (r eksEndpoints) ResolveEndpoint(ctx context.Context, p eks.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, eks.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "eks", r.b)
}

type stsEndpoints struct{ b regions.Boundary }

func (r stsEndpoints) ResolveEndpoint(ctx context.Context, p sts.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, sts.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "sts", r.b)
}
