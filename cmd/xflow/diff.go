package main

import (
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/deploy"
)

func newDiffCmd(s streams) *cobra.Command {
	var f cdkFlags
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what a deploy would change in the deployed stacks (cdk diff)",
		Long: `Build every function's package, synthesize a workflow configuration and
compare each stack with what is deployed, with the CDK CLI that xflow installs
(cdk diff). It changes nothing in AWS. Take the flags of the deploy to
compare with (--no-bootstrap-rule), so that the templates compare alike.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, f.path)
			if err != nil {
				return err
			}
			return deploy.Diff(cmd.Context(), c, f.options(s))
		},
	}
	f.register(cmd, "compare templates without a change set (--method=template), as emulators such as moto need")
	return cmd
}
