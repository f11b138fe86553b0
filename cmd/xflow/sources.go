package main

import (
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/build"
)

// updateSourcesFlag registers --update-sources, which moves the git
// sources' pins in the lock file to their refs' current commits.
func updateSourcesFlag(cmd *cobra.Command, update *bool) {
	cmd.Flags().BoolVar(update, "update-sources", false, "fetch the ref of every git source again and pin its current commit in the lock file (default: use the pinned commits)")
}

// strictRuntimesFlag registers --strict-runtimes, which refuses to run a
// handler with an interpreter older than its runtime, and keeps the old
// --allow-older-runtimes working: running with a warning is the default.
func strictRuntimesFlag(cmd *cobra.Command, strict *bool, prefix string) {
	cmd.Flags().BoolVar(strict, "strict-runtimes", false, prefix+"refuse to run a handler with an older python3 or node than its runtime asks for (default: run it with a warning; also $"+build.EnvStrictRuntimes+"=1)")
	var allowOlder bool
	cmd.Flags().BoolVar(&allowOlder, "allow-older-runtimes", false, "the default now: an older interpreter runs with a warning")
	cmd.Flags().MarkHidden("allow-older-runtimes")
}
