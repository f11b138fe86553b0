package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/deploy"
)

func newBootstrapCmd(s streams) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Prepare an account and region for deploys, once (cdk bootstrap)",
		Long: `Deploy the CDK's bootstrap stack (CDKToolkit: the bucket the functions'
packages are uploaded to, and the roles that deploy) with the CDK CLI that
xflow installs (cdk bootstrap aws://ACCOUNT/REGION). Every account and region
needs it once before its first deploy; running it again updates the stack.

The account and region are the config's aws.account and aws.region ($REGION),
else those of the AWS credentials (the account from STS, the region from
$AWS_REGION or the profile).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			account, region, err := deploy.Environment(cmd.Context(), c)
			if err != nil {
				return err
			}
			if err := deploy.Bootstrap(cmd.Context(), account, region, deploy.Options{Out: s.out, Err: s.err}); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "xflow: aws://%s/%s is bootstrapped; deploy with: xflow deploy -c %s\n", account, region, path)
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}
