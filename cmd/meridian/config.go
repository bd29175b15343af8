package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/workflows"
)

func newConfigCmd() *cobra.Command {
	return newReleaseCmd(&releaseOptions{kind: workflows.KindConfig, trigger: "cli"}, &cobra.Command{
		Use:   "config DIR --service S [--change-id ID] [--wait]",
		Short: "Release the spec's current config of a service, stage by stage",
		Long: "Compile the spec in DIR, then start the release of service S's config as the\n" +
			"spec resolves it (CUE defaults applied), alone: the version stays as it is.\n" +
			"Every target's config driver delivers it (local files, AWS AppConfig, Azure\n" +
			"App Configuration, the Cloud Run revision's environment) through the\n" +
			"service's pipelines, gates and rollback policy. A config that fails the\n" +
			"service's CUE constraints is a spec error (file:line:col: message, exit 1)\n" +
			"and nothing starts.\n\n" +
			"The config document is JSON with its keys sorted; its version is cfg- and 12\n" +
			"hex digits of the document's SHA-256, so the same content always has the same\n" +
			"version. The change id defaults to a digest of the service's plan and that\n" +
			"version: the same config twice attaches to the first release. With --wait,\n" +
			"follow the release and exit 0 when it succeeds, 1 when it rolls back, fails\n" +
			"or is aborted.",
	}, "id of the change (default: the config version and a digest of the service's plan)")
}

// configChange is the change that releases svc's config, the spec's
// current one.
func configChange(svc placement.Service, dir string) (workflows.Change, error) {
	if len(svc.Config) == 0 {
		return workflows.Change{}, usageError{fmt.Errorf("service %q has no config in %s", svc.Name, dir)}
	}
	return workflows.ConfigChange(svc.Config)
}
