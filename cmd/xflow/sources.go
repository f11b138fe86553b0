package main

import "github.com/spf13/cobra"

// updateSourcesFlag registers --update-sources, which moves the git
// sources' pins in the lock file to their refs' current commits.
func updateSourcesFlag(cmd *cobra.Command, update *bool) {
	cmd.Flags().BoolVar(update, "update-sources", false, "fetch the ref of every git source again and pin its current commit in the lock file (default: use the pinned commits)")
}
