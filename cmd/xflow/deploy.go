package main

import (
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/deploy"
	"github.com/xflowhq/xflow/internal/generator"
)

func newDeployCmd(s streams) *cobra.Command {
	var f cdkFlags
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Synthesize a workflow configuration and deploy it with the CDK CLI (cdk deploy)",
		Long: `Build every function's package, synthesize a workflow configuration and deploy
every stack with the CDK CLI that xflow installs (cdk deploy --all). The account
and region must be bootstrapped once with "xflow bootstrap".

Like synth, deploy reuses the cloud assembly in .xflow/cdk.out when the
config, its sources and xflow are unchanged since it was synthesized;
--force synthesizes anyway.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, f.path)
			if err != nil {
				return err
			}
			return deploy.Run(cmd.Context(), c, f.options(s))
		},
	}
	f.register(cmd, "deploy without a change set (--method=direct), as emulators such as moto need")
	return cmd
}

// cdkFlags are the flags of the commands that synthesize and hand the
// assembly to the CDK CLI: deploy, diff and destroy. They take the same
// ones so that each finds the assembly the one before synthesized (same
// context) up to date.
type cdkFlags struct {
	path            string
	direct          bool
	noBootstrapRule bool
	force           bool
}

// register adds the flags to cmd; --direct, with its help text direct,
// only when that text is not empty.
func (f *cdkFlags) register(cmd *cobra.Command, direct string) {
	configFlag(cmd, &f.path)
	if direct != "" {
		cmd.Flags().BoolVar(&f.direct, "direct", false, direct)
	}
	cmd.Flags().BoolVar(&f.force, "force", false, "synthesize even when the cloud assembly is up to date")
	cmd.Flags().BoolVar(&f.noBootstrapRule, "no-bootstrap-rule", false, "leave out the bootstrap-version rule (for emulators such as moto)")
}

func (f *cdkFlags) options(s streams) deploy.Options {
	opts := deploy.Options{Direct: f.direct, Version: version, Force: f.force, Out: s.out, Err: s.err}
	if f.noBootstrapRule {
		opts.Context = generator.DefaultContext()
		opts.Context[spec.ContextBootstrapVersionRule] = false
	}
	return opts
}
