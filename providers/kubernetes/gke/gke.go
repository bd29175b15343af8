// Package gke reaches Google Kubernetes Engine clusters for the kubernetes
// driver: a target's cell names a cluster of the boundary's project in the
// target's region (location), whose endpoint and CA come from the GKE API
// (GetCluster, in the boundary's universe: googleapis.com, S3NS's
// s3nsapis.fr), and whose bearer token is an OAuth access token of the
// worker's own Application Default Credentials, as gke-gcloud-auth-plugin
// gets it. IAM or the cluster's RBAC authorizes that identity.
package gke

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"

	container "cloud.google.com/go/container/apiv1"
	"cloud.google.com/go/container/apiv1/containerpb"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/api/transport"
	"k8s.io/client-go/rest"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
	"github.com/meridian-deploy/meridian/regions"
)

// Scope is the OAuth scope of the tokens clusters are reached with.
const Scope = "https://www.googleapis.com/auth/cloud-platform"

// Clusters resolves GKE clusters; it implements kubernetes.Clusters.
type Clusters struct {
	client *container.ClusterManagerClient
	tokens oauth2.TokenSource
	scope  gcp.Scope
	name   string
}

// New returns the resolver of boundary b's clusters, with opts' settings
// (the "project") and client options. name is a target's cluster name,
// with driver.Expand's placeholders (default "{cell}"). Close it when
// done.
func New(ctx context.Context, b regions.Boundary, opts *gcp.Options, name string) (*Clusters, error) {
	if opts == nil {
		opts = &gcp.Options{}
	}
	co, err := gcp.ClientOptions(b, opts.ClientOptions...)
	if err != nil {
		return nil, err
	}
	creds, err := transport.Creds(ctx, append(co, option.WithScopes(Scope))...)
	if err != nil {
		return nil, fmt.Errorf("gke: credentials: %w", err)
	}
	client, err := container.NewClusterManagerClient(ctx, co...)
	if err != nil {
		return nil, err
	}
	return &Clusters{client: client, tokens: oauth2.ReuseTokenSource(nil, creds.TokenSource),
		scope: gcp.Scope{Boundary: b, Settings: opts.Settings}, name: cmp.Or(name, "{cell}")}, nil
}

// Config is the client configuration of t's cluster.
func (c *Clusters) Config(ctx context.Context, t driver.Target) (*rest.Config, error) {
	inProject := t
	inProject.Cell = "" // the cell is the cluster, not the project
	project, err := c.scope.Project(inProject)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("projects/%s/locations/%s/clusters/%s", project, t.Region, driver.Expand(c.name, t))
	cl, err := c.client.GetCluster(ctx, &containerpb.GetClusterRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("gke: cluster %s: %w", name, err)
	}
	if cl.GetEndpoint() == "" {
		return nil, driver.Errorf(driver.Unavailable, "gke: cluster %s has no endpoint yet (status %s)", name, cl.GetStatus())
	}
	ca, err := base64.StdEncoding.DecodeString(cl.GetMasterAuth().GetClusterCaCertificate())
	if err != nil {
		return nil, driver.Errorf(driver.Invalid, "gke: cluster %s: certificate authority: %v", name, err)
	}
	token, err := c.tokens.Token()
	if err != nil {
		return nil, fmt.Errorf("gke: a token for cluster %s: %w", name, err)
	}
	return &rest.Config{Host: "https://" + cl.GetEndpoint(), BearerToken: token.AccessToken, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, nil
}

// ErrorCode classifies the GKE API's errors.
func (c *Clusters) ErrorCode(err error) driver.Code { return gcp.ErrorCode(err) }

// Close closes the GKE API client.
func (c *Clusters) Close() error { return c.client.Close() }
