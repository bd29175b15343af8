// Package gcpsecretmanager resolves the secret references of config
// documents ({"secretRef": "NAME"}) in Google Cloud Secret Manager: it
// implements driver.SecretResolver, which the portable type calls right
// before a config driver applies a document (see package providers).
//
// A target's secrets are in its project (gcp.Scope.Project: the target's
// cell, else the boundary's "project.<environment>" or "project"
// setting), read through the boundary's universe (googleapis.com,
// s3nsapis.fr). Secret Manager ids have no slashes, so each slash of a
// secret's name is a dash there: "billing/db-password" is the secret
// billing-db-password. Resolve reads its latest version, so a rotated
// secret is what the next config release applies, checks the payload's
// CRC32C checksum, and refuses a payload that is not text. Credentials are
// Application Default Credentials; the identity needs
// roles/secretmanager.secretAccessor on the secrets.
package gcpsecretmanager

import (
	"context"
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
	"unicode/utf8"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Resolver reads secrets from Secret Manager in one GCP boundary.
type Resolver struct {
	scope  gcp.Scope
	client *secretmanager.Client
}

var _ driver.SecretResolver = (*Resolver)(nil)

// New returns a resolver for the projects of boundary b, whose client uses
// b's universe domain and Application Default Credentials unless
// opts.ClientOptions say otherwise. Close it when done.
func New(ctx context.Context, b regions.Boundary, opts *gcp.Options) (*Resolver, error) {
	if opts == nil {
		opts = &gcp.Options{}
	}
	co, err := gcp.ClientOptions(b, opts.ClientOptions...)
	if err != nil {
		return nil, err
	}
	client, err := secretmanager.NewClient(ctx, co...)
	if err != nil {
		return nil, err
	}
	client.CallOptions.AccessSecretVersion = []gax.CallOption{opts.CallOption()}
	return &Resolver{scope: gcp.Scope{Boundary: b, Settings: opts.Settings}, client: client}, nil
}

// Close closes the client's connection.
func (r *Resolver) Close() error { return r.client.Close() }

// ErrorCode maps Secret Manager and resolver errors to driver codes as
// gcp.ErrorCode does, except FAILED_PRECONDITION, which here is a disabled
// or destroyed version: Invalid, not a conflict worth retrying.
func (r *Resolver) ErrorCode(err error) driver.Code {
	if s, ok := status.FromError(err); ok && s.Code() == codes.FailedPrecondition {
		return driver.Invalid
	}
	return gcp.ErrorCode(err)
}

// secretID is a valid Secret Manager secret id.
var secretID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// SecretID is the Secret Manager id of the spec's secret name: each slash
// a dash.
func SecretID(name string) (string, error) {
	id := strings.ReplaceAll(name, "/", "-")
	if !secretID.MatchString(id) {
		return "", driver.Errorf(driver.Invalid, "secret name %q cannot be a Secret Manager secret id", name)
	}
	return id, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Resolve returns the latest version's payload of the secret name in t's
// project.
func (r *Resolver) Resolve(ctx context.Context, t driver.Target, name string) (string, error) {
	project, err := r.scope.Project(t)
	if err != nil {
		return "", err
	}
	id, err := SecretID(name)
	if err != nil {
		return "", err
	}
	version := fmt.Sprintf("projects/%s/secrets/%s/versions/latest", project, id)
	resp, err := r.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: version})
	if err != nil {
		return "", fmt.Errorf("access %s: %w", version, err)
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, castagnoli)) != *sum {
		return "", driver.Errorf(driver.Unavailable, "access %s: the payload does not match its checksum", version)
	}
	if !utf8.Valid(data) {
		return "", driver.Errorf(driver.Invalid, "secret %s: its payload is not text", version)
	}
	return string(data), nil
}
