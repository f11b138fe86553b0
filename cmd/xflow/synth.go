package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/pipeline"
)

func newGenerateCmd(s streams) *cobra.Command {
	var (
		path, out     string
		updateSources bool
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write the CDK Go app of a workflow configuration, without synthesizing it",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			res, err := pipeline.Run(cmd.Context(), c, pipeline.Options{
				Until: pipeline.Generate, Progress: s.err, UpdateSources: updateSources, AppDir: out,
			})
			if err != nil {
				return err
			}
			if err := res.Lock.Save(); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "wrote the CDK app to %s (%d files, %d packages); deploy the workflow with: xflow deploy -c %s\n", res.AppDir, len(res.Files), len(res.Artifacts), path)
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVarP(&out, "out", "o", "", "the app `folder` (default: .xflow/app beside the config)")
	updateSourcesFlag(cmd, &updateSources)
	return cmd
}

func newSynthCmd(s streams) *cobra.Command {
	var (
		path, out, appDir string
		contextArgs       []string
		noBootstrapRule   bool
		updateSources     bool
		force, validate   bool
		rebuild           bool
	)
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Generate the CDK app and synthesize its CloudFormation into cdk.out",
		Long: `Generate the CDK Go app of a workflow configuration, build it and run it to
write the cloud assembly (CloudFormation templates and assets) into cdk.out.
"xflow deploy" synthesizes the same way and deploys. When the CDK CLI runs xflow as its app
(CDK_OUTDIR is set), the assembly goes where the CLI asks.

When the config, every local source of every lambda (by content), xflow
itself and the CDK context are unchanged since the last synth into the same
folder, the assembly is reused without running the app; --force synthesizes
anyway. The CDK's built-in CloudFormation validation, which costs seconds per
synth, runs with --validate (or CDK_VALIDATION=true).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			opts := generator.SynthOptions{OutDir: out, Force: force, Validate: validate}
			if cliOut := os.Getenv("CDK_OUTDIR"); out == "" && cliOut != "" {
				opts.OutDir, opts.Direct = cliOut, true
			} else if out == "" {
				opts.OutDir = "cdk.out"
			}
			if len(contextArgs) > 0 || noBootstrapRule {
				opts.Context = generator.DefaultContext()
				for _, kv := range contextArgs {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usageError{fmt.Errorf("--context %q: write key=value", kv)}
					}
					opts.Context[k] = contextValue(v)
				}
				if noBootstrapRule {
					opts.Context[spec.ContextBootstrapVersionRule] = false
				}
			}
			res, err := pipeline.Run(cmd.Context(), c, pipeline.Options{
				Until: pipeline.Synth, Progress: s.err, UpdateSources: updateSources,
				Build: build.Options{Force: rebuild}, AppDir: appDir, Synth: opts, Version: version,
			})
			if err != nil {
				return err
			}
			if err := res.Lock.Save(); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "xflow: wrote the CDK app to %s\n", res.AppDir)
			asm := res.Assembly
			for _, st := range asm.Stacks {
				fmt.Fprintf(s.out, "stack %s: %d resources, %s\n", st.Name, st.Resources, st.Template)
			}
			if asm.Cached {
				fmt.Fprintf(s.err, "xflow: %s: %d stack%s, checked in %s\n",
					asm.UpToDate(), len(asm.Stacks), plural(len(asm.Stacks)), time.Since(start).Round(time.Millisecond))
				return nil
			}
			fmt.Fprintf(s.err, "xflow: synthesized %d stack%s into %s in %s\n", len(asm.Stacks), plural(len(asm.Stacks)), asm.Dir, time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVarP(&out, "out", "o", "", "the cloud assembly `folder` (default: cdk.out, or $CDK_OUTDIR under the CDK CLI)")
	cmd.Flags().StringVar(&appDir, "app", "", "the generated app `folder` (default: .xflow/app beside the config)")
	cmd.Flags().StringArrayVar(&contextArgs, "context", nil, "CDK context `key=value` (repeatable)")
	cmd.Flags().BoolVar(&noBootstrapRule, "no-bootstrap-rule", false, "leave out the bootstrap-version rule (for emulators such as moto)")
	updateSourcesFlag(cmd, &updateSources)
	cmd.Flags().BoolVar(&force, "force", false, "synthesize even when the cloud assembly is up to date")
	cmd.Flags().BoolVar(&validate, "validate", false, "run the CDK's built-in CloudFormation validation (slower)")
	cmd.Flags().BoolVar(&rebuild, "rebuild", false, "build every function's package again, even when the build cache has it")
	return cmd
}

// contextValue reads a --context value as the CDK CLI does: JSON-looking
// booleans and numbers keep their type.
func contextValue(v string) any {
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return v
}
