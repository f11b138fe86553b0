package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/sources"
)

func newValidateCmd(s streams) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a workflow configuration (no AWS, no Node.js needed)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			if _, err := sources.Resolve(cmd.Context(), c, sources.Options{Progress: s.err}); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "%s: ok: %d lambda%s, %d event%s, %d workflow%s\n", path,
				len(c.Lambdas), plural(len(c.Lambdas)), len(c.Subscriptions), plural(len(c.Subscriptions)), len(c.Workflows), plural(len(c.Workflows)))
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
