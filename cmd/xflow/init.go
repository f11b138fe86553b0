package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/scaffold"
)

func newInitCmd(s streams) *cobra.Command {
	var (
		runtimes []string
		ci       string
		force    bool
	)
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Start a project: a commented xflow.yaml, handlers, cdk.json and optionally a CI/CD workflow",
		Long: `Write a new xflow project into DIR (default: the current folder): a commented
xflow.yaml with a two-event workflow that validates and synthesizes as it is,
one handler per --runtime, cdk.json, .gitignore and a README. With --ci github
it also writes .github/workflows/xflow.yml, which validates, synthesizes and
lints every pull request and shows its cdk diff, and deploys every push to
main with cdk deploy (the workflow installs the CDK CLI) through an OIDC role. Existing files are never
overwritten without --force.

In a folder that already has an xflow.yaml, --ci github adds only the
workflow, building the config's Go handlers before the synth.`,
		Example: `  xflow init hello
  xflow init --runtime python3.13,provided.al2023 --ci github`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("init takes one folder, got %q", args)}
			}
			for _, rt := range runtimes {
				if !slices.Contains(scaffold.Runtimes, rt) {
					return usageError{fmt.Errorf("--runtime %q: init writes handlers for %s", rt, strings.Join(scaffold.Runtimes, ", "))}
				}
			}
			if ci != "" && !slices.Contains(scaffold.CISystems, ci) {
				return usageError{fmt.Errorf("--ci %q: init writes workflows for %s", ci, strings.Join(scaffold.CISystems, ", "))}
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return fmt.Errorf("locate %s: %w", dir, err)
			}
			// In a project, --ci is about its workflow alone (--force
			// replaces that file only); --runtime asks for a new project,
			// which only --force writes over the old one.
			if existing := filepath.Join(dir, "xflow.yaml"); ci != "" && fileExists(existing) {
				if !cmd.Flags().Changed("runtime") {
					return addCI(s, existing, ci, force)
				}
				if !force {
					return usageError{fmt.Errorf("%s already has a project: --ci %s alone adds its workflow; with --runtime, --force replaces the whole project", dir, ci)}
				}
			}
			files, err := scaffold.New(scaffold.Options{Name: filepath.Base(abs), Runtimes: runtimes, CI: ci})
			if err != nil {
				return err
			}
			if err := scaffold.Write(dir, files, force); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "wrote a new xflow project into %s:\n", dir)
			for _, p := range files.Paths() {
				fmt.Fprintf(s.out, "  %s\n", p)
			}
			cd := ""
			if dir != "." {
				cd = "cd " + dir + " && "
			}
			fmt.Fprintf(s.out, "next: %sxflow validate && xflow synth, then xflow bootstrap (once per account and region) and xflow deploy (see README.md)\n", cd)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&runtimes, "runtime", scaffold.Runtimes[:1], "the `runtimes` to write a function and handler for: "+strings.Join(scaffold.Runtimes, ", ")+" (comma-separated or repeated)")
	cmd.Flags().StringVar(&ci, "ci", "", "also write a CI/CD workflow for `system`: github")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite files that exist")
	return cmd
}

// addCI writes the CI/CD workflow of an existing project, replacing the
// one it has only when force is set.
func addCI(s streams, configPath, ci string, force bool) error {
	c, err := loadConfig(s, configPath)
	if err != nil {
		return err
	}
	files, err := scaffold.CI(c, ci)
	if err != nil {
		return err
	}
	dir := filepath.Dir(configPath)
	if err := scaffold.Write(dir, files, force); err != nil {
		if _, ok := errors.AsType[*scaffold.ExistsError](err); ok {
			return fmt.Errorf("%s already has %s; nothing was written (pass --force to replace that workflow; the rest of the project is left as it is)", dir, scaffold.CIWorkflow)
		}
		return err
	}
	fmt.Fprintf(s.out, "added a CI/CD workflow to the project in %s:\n  %s\n", dir, scaffold.CIWorkflow)
	fmt.Fprintf(s.out, "next: set AWS_DIFF_ROLE_ARN, AWS_DEPLOY_ROLE_ARN and AWS_REGION in it (see its comments)\n")
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
