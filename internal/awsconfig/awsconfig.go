// Package awsconfig builds the AWS SDK configuration that publish, track and
// the server use: the SDK's standard credential chain and endpoint
// resolution, the region of the xflow config, and retries sized for
// CloudWatch Logs' low read quotas.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/xflowhq/xflow/internal/config"
)

// Retries. CloudWatch Logs allows about 5 GetLogEvents or FilterLogEvents
// calls per second per account and answers ThrottlingException beyond. The
// SDK's standard retryer backs off from 1 s on throttling, doubling with
// jitter; 8 attempts capped at 20 s each ride out about a minute of
// throttling before an error reaches the user.
const (
	MaxAttempts = 8
	MaxBackoff  = 20 * time.Second
)

// ErrNoRegion means neither the config, the environment nor the shared
// config files name a region.
var ErrNoRegion = errors.New("no AWS region")

// Load returns the SDK configuration for c. Credentials come from the SDK's
// standard chain (environment variables including AWS_SESSION_TOKEN,
// AWS_PROFILE and the shared files, SSO, container and instance roles),
// resolved lazily on the first call. The region is the config's aws.region
// (config.Load has already applied $REGION to it), else the SDK's own
// (AWS_REGION, the profile's region). The SDK honours AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, which is how tests reach an emulator.
//
// c may be nil, for callers without a config file.
func Load(ctx context.Context, c *config.Config) (aws.Config, error) {
	opts := []func(*sdkconfig.LoadOptions) error{
		sdkconfig.WithAppID("xflow"),
		sdkconfig.WithRetryer(NewRetryer),
	}
	if c != nil && c.AWS.Region != "" {
		opts = append(opts, sdkconfig.WithRegion(c.AWS.Region))
	}
	cfg, err := sdkconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		where := "aws.region in the config"
		if c != nil && c.File != "" {
			where = "aws.region in " + c.File
		}
		return aws.Config{}, fmt.Errorf("%w: set %s, or the environment variable %s or AWS_REGION, or a region in your AWS profile",
			ErrNoRegion, where, config.EnvRegion)
	}
	return cfg, nil
}

// NewRetryer is the SDK's standard retryer with MaxAttempts attempts and
// MaxBackoff between them.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
	})
}
