package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Boundary provider setting keys LoadConfig reads (placement.BoundaryRule.Provider).
// None of them is a secret: credentials stay in the default chain.
const (
	// SettingProfile names a shared config profile (~/.aws/config) for the boundary.
	SettingProfile = "profile"
	// SettingRoleARN is a role the boundary's calls assume through STS.
	SettingRoleARN = "roleArn"
	// SettingExternalID is the external id the role's trust policy asks for.
	SettingExternalID = "externalId"
	// SettingRegion is the boundary's home region, where STS is called; each
	// target still calls its own region.
	SettingRegion = "region"
)

// homeRegions is where a boundary's global calls (STS) go when neither the
// settings nor the environment name a region.
var homeRegions = map[string]string{
	"public":       "us-east-1",
	"us-gov":       "us-gov-west-1",
	"china":        "cn-north-1",
	"eu-sovereign": "eusc-de-east-1",
}

// LoadConfig builds the SDK configuration for one boundary from the default
// credential chain and the boundary's provider settings (profile, roleArn,
// externalId, region). optFns are passed on to config.LoadDefaultConfig.
func LoadConfig(ctx context.Context, boundary string, settings map[string]string, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	if _, err := Boundary(boundary); err != nil {
		return aws.Config{}, err
	}
	var opts []func(*config.LoadOptions) error
	if p := settings[SettingProfile]; p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if r := settings[SettingRegion]; r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, optFns...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: load configuration for boundary %s: %w", boundary, err)
	}
	if cfg.Region == "" {
		cfg.Region = homeRegions[boundary]
	}
	if arn := settings[SettingRoleARN]; arn != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), arn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "meridian"
			if id := settings[SettingExternalID]; id != "" {
				o.ExternalID = aws.String(id)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}
