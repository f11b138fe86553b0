package main

import (
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/deploy"
	"github.com/xflowhq/xflow/generator"
	"github.com/xflowhq/xflow/sources"
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
		Long: `Synthesize a workflow configuration and deploy every stack with the CDK CLI
(cdk deploy --all). The account must be bootstrapped once with "cdk bootstrap".

Like synth, deploy reuses the cloud assembly in .xflow/cdk.out when the
config, its sources and xflow are unchanged since it was synthesized;
--force synthesizes anyway.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			lock, err := sources.Resolve(cmd.Context(), c, sources.Options{Progress: s.err})
			if err != nil {
				return err
			}
			opts := deploy.Options{Direct: direct, Version: version, Force: force, Out: s.out, Err: s.err}
			if noBootstrapRule {
				opts.Context = generator.DefaultContext()
				opts.Context["xflow:bootstrapVersionRule"] = false
			}
			if err := deploy.Run(cmd.Context(), c, opts); err != nil {
				return err
			}
			return lock.Save()
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&direct, "direct", false, "deploy without a change set (--method=direct), as emulators such as moto need")
	cmd.Flags().BoolVar(&force, "force", false, "synthesize even when the cloud assembly is up to date")
	cmd.Flags().BoolVar(&noBootstrapRule, "no-bootstrap-rule", false, "leave out the bootstrap-version rule (for emulators such as moto)")
	return cmd
}
