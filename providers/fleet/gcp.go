package fleet

import (
	"google.golang.org/api/option"

	"github.com/meridian-deploy/meridian/providers/cloud/gcp"
	"github.com/meridian-deploy/meridian/providers/gcpmonitoring"
	"github.com/meridian-deploy/meridian/providers/gcprun"
	"github.com/meridian-deploy/meridian/providers/gcpsecretmanager"
)

// gcpOptions returns the options of a GCP driver of the boundary: its
// settings (project, project.<environment>), Options.GCP's client options,
// then the endpoint setting (host:port), on top of the boundary's universe.
func (bd *boundary) gcpOptions(driver string) *gcp.Options {
	var co []option.ClientOption
	if bd.opts.GCP != nil {
		co = append(co, bd.opts.GCP(bd.b)...)
	}
	if e := bd.endpoint(driver); e != "" {
		co = append(co, option.WithEndpoint(e))
	}
	return &gcp.Options{Settings: bd.rule.Provider, ClientOptions: co, PollInterval: bd.opts.PollInterval}
}

func buildCloudRun(bd *boundary) (any, error) {
	return gcprun.New(bd.ctx, bd.b, bd.gcpOptions("gcprun"))
}

func buildCloudMonitoring(bd *boundary) (any, error) {
	return gcpmonitoring.New(bd.ctx, bd.b, bd.gcpOptions("gcpmonitoring"))
}

func buildSecretManager(bd *boundary) (any, error) {
	return gcpsecretmanager.New(bd.ctx, bd.b, bd.gcpOptions("gcpsecretmanager"))
}
