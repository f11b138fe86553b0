package main

import (
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/deploy"
	"github.com/xflowhq/xflow/generator"
)

func newDeployCmd(s streams) *cobra.Command {
	var (
		path            string
		direct          bool
		noBootstrapRule bool
		force           bool
	)
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Synthesize a workflow configuration and deploy it with `cdk deploy`",
		Long: `Build every function's package, synthesize a workflow configuration and deploy
every stack with the CDK CLI (cdk deploy --all). The account must be bootstrapped once with "cdk bootstrap".

Like synth, deploy reuses the cloud assembly in .xflow/cdk.out when the
config, its sources and xflow are unchanged since it was synthesized;
--force synthesizes anyway.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			opts := deploy.Options{Direct: direct, Version: version, Force: force, Out: s.out, Err: s.err}
			if noBootstrapRule {
				opts.Context = generator.DefaultContext()
				opts.Context["xflow:bootstrapVersionRule"] = false
			}
			return deploy.Run(cmd.Context(), c, opts)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&direct, "direct", false, "deploy without a change set (--method=direct), as emulators such as moto need")
	cmd.Flags().BoolVar(&force, "force", false, "synthesize even when the cloud assembly is up to date")
	cmd.Flags().BoolVar(&noBootstrapRule, "no-bootstrap-rule", false, "leave out the bootstrap-version rule (for emulators such as moto)")
	return cmd
}
