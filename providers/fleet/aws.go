package fleet

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	awsx "github.com/meridian-deploy/meridian/providers/aws"
	"github.com/meridian-deploy/meridian/providers/awsappconfig"
	"github.com/meridian-deploy/meridian/providers/awscloudwatch"
	"github.com/meridian-deploy/meridian/providers/awsecs"
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
	return awsecs.New(cfg, awsecs.OptionsFor(bd.rule)), nil
}

func buildAppConfig(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awsappconfig")
	if err != nil {
		return nil, err
	}
	return awsappconfig.New(cfg, awsappconfig.OptionsFor(bd.rule)), nil
}

func buildCloudWatch(bd *boundary) (any, error) {
	cfg, err := bd.awsConfig("awscloudwatch")
	if err != nil {
		return nil, err
	}
	opts, err := awscloudwatch.OptionsFor(bd.rule)
	if err != nil {
		return nil, err
	}
	return awscloudwatch.New(cfg, opts), nil
}
