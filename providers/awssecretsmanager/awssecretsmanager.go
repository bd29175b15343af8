// Package awssecretsmanager resolves the secret references of config
// documents ({"secretRef": "NAME"}) in AWS Secrets Manager: it implements
// driver.SecretResolver, which the portable type calls right before a
// config driver applies a document (see package providers).
//
// A secret is read in the target's own region, inside its partition
// (GovCloud, China, the European Sovereign Cloud): the secret named in the
// spec ("billing/db-password", Secrets Manager allows slashes) must exist
// there, created or replicated by your infrastructure code. Resolve reads
// its current value (AWSCURRENT) with GetSecretValue, so a rotated secret
// is what the next config release applies; a secret with only a binary
// value is refused. Credentials are the worker's, from the SDK's default
// chain; it needs secretsmanager:GetSecretValue (and kms:Decrypt for a
// customer-managed key) on the secrets.
package awssecretsmanager

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Options configure the resolver; nil means defaults.
type Options struct {
	// Boundary, when set, is the only boundary served: targets of other
	// boundaries are refused (see awsappconfig.Options.Boundary).
	Boundary string
}

// Resolver reads secrets from Secrets Manager in each target's region.
type Resolver struct {
	clients *awsx.Clients[*secretsmanager.Client]
}

var _ driver.SecretResolver = (*Resolver)(nil)

// New returns a resolver that calls Secrets Manager with cfg (see
// aws.LoadConfig), in each target's own region and partition.
func New(cfg aws.Config, opts *Options) *Resolver {
	var o Options
	if opts != nil {
		o = *opts
	}
	return &Resolver{clients: awsx.NewClients(o.Boundary, func(b regions.Boundary, region string) *secretsmanager.Client {
		return secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) {
			so.Region = region
			so.EndpointResolverV2 = endpointResolver{boundary: b}
		})
	})}
}

// endpointResolver resolves Secrets Manager endpoints with the SDK's
// rules, kept inside the target's boundary.
type endpointResolver struct{ boundary regions.Boundary }

func (r endpointResolver) ResolveEndpoint(ctx context.Context, p secretsmanager.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return awsx.ResolveInBoundary(ctx, secretsmanager.NewDefaultEndpointResolverV2(), p, p.Region, p.Endpoint, "secretsmanager", r.boundary)
}

// ErrorCode maps Secrets Manager and resolver errors to portable codes:
// ResourceNotFoundException is NotFound, throttling Throttled, a secret
// scheduled for deletion Invalid, an undecryptable one PermissionDenied.
func (r *Resolver) ErrorCode(err error) driver.Code { return awsx.ErrorCode(err) }

// Resolve returns the current text value of the secret name in t's region.
func (r *Resolver) Resolve(ctx context.Context, t driver.Target, name string) (string, error) {
	c, err := r.clients.For(t)
	if err != nil {
		return "", err
	}
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		return "", fmt.Errorf("get secret %s in %s: %w", name, t.Region, err)
	}
	if out.SecretString == nil {
		return "", driver.Errorf(driver.Invalid, "secret %s in %s has no text value (only a binary one)", name, t.Region)
	}
	return *out.SecretString, nil
}
