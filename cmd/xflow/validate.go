package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/sources"
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
			warned := len(c.Warnings)
			if _, err := sources.Resolve(cmd.Context(), c, sources.Options{Progress: s.err}); err != nil {
				return err
			}
			for _, w := range c.Warnings[warned:] { // about fetched git sources
				fmt.Fprintf(s.err, "warning: %v\n", w)
			}
			fmt.Fprintf(s.out, "%s: ok: %d lambda%s, %d event%s, %d workflow%s\n", path,
				len(c.Lambdas), plural(len(c.Lambdas)), len(c.Subscriptions), plural(len(c.Subscriptions)), len(c.Workflows), plural(len(c.Workflows)))
			// A handler named after the lambda is nowhere in the file:
			// show what it became.
			for _, l := range c.Lambdas {
				if l.HandlerFrom == config.HandlerFromName {
					fmt.Fprintf(s.out, "  %s: handler %s (a bare handler of a folder, .zip or S3 source names a function of the module named after the lambda, as in the original xFlow)\n", l.Name, l.Handler)
				}
			}
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
