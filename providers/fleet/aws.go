package fleet

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/meridian-deploy/meridian/placement"
	"github.com/meridian-deploy/meridian/providers/awsappconfig"
	"github.com/meridian-deploy/meridian/providers/awscloudwatch"
	"github.com/meridian-deploy/meridian/providers/awsecs"
	"github.com/meridian-deploy/meridian/providers/awssecretsmanager"
	awsx "github.com/meridian-deploy/meridian/providers/cloud/aws"
	"github.com/meridian-deploy/meridian/providers/driver"
)

// awsConfig returns the SDK configuration of an AWS driver of the
// boundary: loaded once from the default chain and the boundary's settings
// (profile, roleArn, externalId, region, endpoint, which STS uses too),
// with the driver's own "endpoint.<driver>" if set.
func (bd *boundary) awsConfig(driver string) (aws.Config, error) {
	if bd.aws == nil {
		var optFns []func(*config.LoadOptions) error
		if e := bd.rule.Provider[SettingEndpoint]; e != "" {
			optFns = append(optFns, config.WithBaseEndpoint(e))
		}
		if bd.opts.AWS != nil {
			optFns = append(optFns, bd.opts.AWS(bd.b)...)
		}
		cfg, err := awsx.LoadConfig(bd.ctx, bd.b.ID, bd.rule.Provider, optFns...)
		if err != nil {
			return aws.Config{}, err
		}
		bd.aws = &cfg
	}
	cfg := *bd.aws
	if e := bd.endpoint(driver); e != "" {
		cfg.BaseEndpoint = aws.String(e)
	}
	return cfg, nil
}

func buildECS(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awsecs")
	if err != nil {
		return nil, err
	}
	return awsecs.New(cfg, ecsOptions(bd.rule)), nil
}

func buildAppConfig(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awsappconfig")
	if err != nil {
		return nil, err
	}
	return awsappconfig.New(cfg, appConfigOptions(bd.rule)), nil
}

func buildSecretsManager(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awssecretsmanager")
	if err != nil {
		return nil, err
	}
	return awssecretsmanager.New(cfg, &awssecretsmanager.Options{Boundary: bd.rule.Boundary}), nil
}

func buildCloudWatch(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awscloudwatch")
	if err != nil {
		return nil, err
	}
	opts, err := cloudWatchOptions(bd.rule)
	if err != nil {
		return nil, err
	}
	return awscloudwatch.New(cfg, opts), nil
}

// ecsOptions are the options of the ECS driver serving the boundary of
// rule, read from its provider settings.
func ecsOptions(rule placement.BoundaryRule) *awsecs.Options {
	settings := rule.Provider
	return &awsecs.Options{
		Boundary:  rule.Boundary,
		Cluster:   settings[awsecs.SettingCluster],
		Service:   settings[awsecs.SettingService],
		Container: settings[awsecs.SettingContainer],
	}
}

// appConfigOptions are the options of the AppConfig driver serving the
// boundary of rule, read from its provider settings.
func appConfigOptions(rule placement.BoundaryRule) *awsappconfig.Options {
	settings := rule.Provider
	return &awsappconfig.Options{
		Boundary:    rule.Boundary,
		Application: settings[awsappconfig.SettingApplication],
		Environment: settings[awsappconfig.SettingEnvironment],
		Profile:     settings[awsappconfig.SettingProfile],
		Strategy:    settings[awsappconfig.SettingStrategy],
	}
}

// cloudWatchOptions are the options of the CloudWatch driver serving the
// boundary of rule; its dimensions setting must be name=template pairs.
func cloudWatchOptions(rule placement.BoundaryRule) (*awscloudwatch.Options, error) {
	o := &awscloudwatch.Options{Boundary: rule.Boundary}
	s := rule.Provider[awscloudwatch.SettingDimensions]
	if s == "" {
		return o, nil
	}
	o.Dimensions = map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" || value == "" {
			return nil, driver.Errorf(driver.Invalid, "cloudwatch: setting %s: %q is not name=value", awscloudwatch.SettingDimensions, pair)
		}
		o.Dimensions[name] = value
	}
	return o, nil
}
