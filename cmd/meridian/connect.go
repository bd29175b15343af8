package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/meridian-deploy/meridian/workflows"
	"github.com/meridian-deploy/meridian/workflows/devserver"
	"github.com/meridian-deploy/meridian/workflows/temporalconn"
)

// defaultUIURL is where `meridian dev` serves the Web UI by default, the
// link base when neither the flag, the environment nor the server tell.
const defaultUIURL = "http://127.0.0.1:8233"

// remote holds what every command that talks to Temporal shares: the
// connection settings, the output format and the Web UI base for links.
type remote struct {
	conn    *temporalconn.Flags
	output  string
	formats []string // what -o accepts, the default first
	uiURL   string

	namespace   string
	out, errOut io.Writer
}

// addRemote registers the connection, -o and --ui-url flags on cmd; -o
// takes one of formats, the first by default (text or json when none are
// given).
func addRemote(cmd *cobra.Command, formats ...string) *remote {
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	r := &remote{conn: temporalconn.AddFlags(cmd), formats: formats}
	cmd.Flags().StringVarP(&r.output, "output", "o", formats[0], "output format: "+r.formatList())
	cmd.Flags().StringVar(&r.uiURL, "ui-url", "", "Temporal Web UI base URL for links (env MERIDIAN_UI_URL; default the namespace's "+devserver.UIURLKey+" data, which meridian dev sets, else "+defaultUIURL+")")
	return r
}

func (r *remote) complete(cmd *cobra.Command) error {
	r.out, r.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	if !slices.Contains(r.formats, r.output) {
		return usageError{fmt.Errorf("unknown output format %q (want %s)", r.output, r.formatList())}
	}
	if r.uiURL == "" {
		r.uiURL = os.Getenv("MERIDIAN_UI_URL")
	}
	return nil
}

func (r *remote) json() bool { return r.output == "json" }

// formatList names the formats as a sentence does: "text or json".
func (r *remote) formatList() string {
	last := len(r.formats) - 1
	if last == 0 {
		return r.formats[0]
	}
	return strings.Join(r.formats[:last], ", ") + " or " + r.formats[last]
}

// dial connects to Temporal and settles the Web UI base of the links; the
// caller closes the client.
func (r *remote) dial(ctx context.Context) (client.Client, error) {
	opts, err := r.conn.Options(nil)
	if err != nil {
		return nil, err
	}
	r.namespace = opts.Namespace
	c, err := temporalconn.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	if r.uiURL == "" {
		r.uiURL = namespaceUIURL(ctx, c, r.namespace)
	}
	r.uiURL = strings.TrimSuffix(r.uiURL, "/")
	return c, nil
}

// namespaceUIURL is the Web UI base the namespace's data names (see
// devserver.UIURLKey), else defaultUIURL.
func namespaceUIURL(ctx context.Context, c client.Client, namespace string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if u := desc.GetNamespaceInfo().GetData()[devserver.UIURLKey]; err == nil && u != "" {
		return u
	}
	return defaultUIURL
}

// releaseError words the server's NotFound for what it means to the
// operator who asked to do something (what) to release: there is no such
// release, or it has ended. Other errors pass through.
func (r *remote) releaseError(ctx context.Context, c client.Client, what, release string, err error) error {
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		return err
	}
	st, statusErr := workflows.ReleaseStatus(ctx, c, release)
	switch {
	case errors.As(statusErr, &notFound):
		return fmt.Errorf("no release %s in namespace %s", release, r.namespace)
	case statusErr == nil && st.Phase.Terminal():
		return fmt.Errorf("%s %s: the release has ended (%s)", what, release, st.Phase)
	}
	return err
}

// link is the Web UI page of a workflow.
func (r *remote) link(workflowID string) string {
	return workflowLink(r.uiURL, r.namespace, workflowID)
}

// workflowLink is the page of a workflow in the Web UI at base.
func workflowLink(base, namespace, workflowID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", base, url.PathEscape(namespace), url.PathEscape(workflowID))
}

// who names the operator: --as, else $USER.
func who(as string) string {
	if as != "" {
		return as
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// phaseExit maps a release's phase to the exit status: nil when it
// succeeded (or is still running) or a newer change superseded it,
// silentError{1} when it ended otherwise.
func phaseExit(p workflows.Phase) error {
	if p.Terminal() && p != workflows.PhaseSucceeded && p != workflows.PhaseSuperseded {
		return silentError{1}
	}
	return nil
}
