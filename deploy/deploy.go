// Package deploy synthesizes a workflow configuration and deploys it with
// the standard CDK CLI, as `xflow deploy`, the original's `--configure` and
// `xflow server --deploy` do. The CDK CLI does the deploying: xflow only
// hands it a cloud assembly.
package deploy

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/xflowhq/xflow/config"
	"github.com/xflowhq/xflow/generator"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/nodejs"
	"github.com/xflowhq/xflow/internal/pipeline"
)

// Options say how to deploy.
type Options struct {
	// AppDir and OutDir are the generated app and the cloud assembly;
	// empty means the app and cdk.out folders of .xflow beside the config.
	AppDir, OutDir string
	// Context is extra CDK context for the synth (see
	// generator.DefaultContext); nil means the defaults.
	Context map[string]any
	// Direct deploys with `--method=direct` (no change set), which AWS
	// emulators such as moto need.
	Direct bool
	// Version is xflow's version. When set, the synth is cached as
	// `xflow synth` caches it: a deploy of an unchanged config, sources
	// and xflow reuses the assembly in OutDir without running the app, and
	// the CDK CLI then finds nothing to change. Force synthesizes anyway.
	Version string
	Force   bool
	// Build tunes the build of the functions' packages.
	Build build.Options
	// Out and Err receive the CDK CLI's output and xflow's progress.
	Out, Err io.Writer
}

// Run builds and synthesizes c, runs `cdk deploy --all` on the result and,
// once it succeeded, saves the pins of c's git sources.
func Run(ctx context.Context, c *config.Config, opts Options) error {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Err == nil {
		opts.Err = io.Discard
	}
	if opts.OutDir == "" {
		opts.OutDir = pipeline.LayoutOf(c).CloudAssembly()
	}
	res, err := pipeline.Run(ctx, c, pipeline.Options{
		Until: pipeline.Synth, Progress: opts.Err, Build: opts.Build, AppDir: opts.AppDir, Version: opts.Version,
		Synth: generator.SynthOptions{OutDir: opts.OutDir, Context: opts.Context, Force: opts.Force},
	})
	if err != nil {
		return err
	}
	if res.Assembly.Cached {
		fmt.Fprintf(opts.Err, "xflow: %s\n", res.Assembly.UpToDate())
	}
	if err := CDK(ctx, res.Assembly.Dir, opts, "deploy", "--all", "--require-approval", "never"); err != nil {
		return err
	}
	return res.Lock.Save()
}

// CDK runs the CDK CLI on a cloud assembly: `cdk <args> --app DIR`.
func CDK(ctx context.Context, assembly string, opts Options, args ...string) error {
	node, err := nodejs.Ensure(ctx, opts.Err)
	if err != nil {
		return err
	}
	cdk, err := nodejs.EnsureCDK(ctx, opts.Err)
	if err != nil {
		return err
	}
	if assembly != "" {
		args = append(args, "--app", assembly)
	}
	if opts.Direct && len(args) > 0 && args[0] == "deploy" {
		args = append(args, "--method=direct")
	}
	fmt.Fprintf(opts.Err, "xflow: cdk %s\n", shellJoin(args))
	cmd := exec.CommandContext(ctx, cdk, args...)
	cmd.Env = nodejs.Env(node)
	cmd.Stdout, cmd.Stderr = opts.Out, opts.Err
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cdk %s: %w", args[0], err)
	}
	return nil
}

// Bootstrap runs `cdk bootstrap` for an account and region, once per
// environment, as every CDK deployment needs.
func Bootstrap(ctx context.Context, account, region string, opts Options) error {
	return CDK(ctx, "", opts, "bootstrap", fmt.Sprintf("aws://%s/%s", account, region))
}

// shellJoin writes a command line that a shell reads back as args: an
// argument with anything but letters, digits and -_./=:,@+ is put in
// single quotes.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.IndexFunc(a, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_./=:,@+", r))
		}) >= 0 {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}
