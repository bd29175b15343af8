// Package aws holds what Meridian's AWS drivers (awsecs, awsappconfig,
// awscloudwatch) share: the sovereign boundary → partition mapping and
// endpoint resolution, SDK configuration from the default credential chain
// with per-boundary profiles and role ARNs, and the mapping of AWS error
// codes to portable driver codes.
//
// Credentials are never read from specs or workflow inputs: LoadConfig uses
// the SDK's default chain (environment, shared config and credentials files,
// SSO, web identity, container and instance roles), optionally narrowed by a
// boundary's "profile" setting and wrapped in an STS AssumeRole for its
// "roleArn" setting.
package aws
