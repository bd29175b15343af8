package gcprun

import (
	"context"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// operation is a Cloud Run long-running operation on a service (create,
// update or delete); each of them resolves to the service.
type operation interface {
	Done() bool
	Poll(ctx context.Context, opts ...gax.CallOption) (*runpb.Service, error)
}

// await polls op until it is done and returns its error.
func (d *Driver) await(ctx context.Context, op operation) error {
	for {
		if _, err := op.Poll(ctx); err != nil || op.Done() {
			return err
		}
		if err := gcp.Sleep(ctx, d.opts.PollEvery()); err != nil {
			return err
		}
	}
}

// awaitRevision polls until revision (a resource name) exists, or op
// fails or ends without creating it. It does not wait for the revision to
// become ready: Status does.
func (d *Driver) awaitRevision(ctx context.Context, op operation, revision string) error {
	for {
		_, err := d.revisions.GetRevision(ctx, &runpb.GetRevisionRequest{Name: revision})
		if gcp.ErrorCode(err) != driver.NotFound {
			return err
		}
		if _, err := op.Poll(ctx); err != nil {
			return err
		}
		if op.Done() {
			return driver.Errorf(driver.Unknown, "the update finished without creating revision %s", short(revision))
		}
		if err := gcp.Sleep(ctx, d.opts.PollEvery()); err != nil {
			return err
		}
	}
}
