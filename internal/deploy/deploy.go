// Package deploy synthesizes a workflow configuration and hands the cloud
// assembly to the standard CDK CLI, which xflow installs and manages
// itself: `xflow deploy` (also the original's `--configure` and
// `xflow server --deploy`), `xflow diff`, `xflow destroy` and
// `xflow bootstrap`. The CDK CLI does the work: xflow only hands it an
// assembly.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/xflowhq/xflow/internal/awsconfig"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/generator"
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

// Synth builds and synthesizes c into opts.OutDir, the cloud assembly that
// deploy, diff and destroy hand the CDK CLI. With the same context and
// version, one command's assembly is a cache hit for the next.
func Synth(ctx context.Context, c *config.Config, opts Options) (*pipeline.Result, error) {
	opts = opts.withDefaults()
	if opts.OutDir == "" {
		opts.OutDir = pipeline.LayoutOf(c).CloudAssembly()
	}
	res, err := pipeline.Run(ctx, c, pipeline.Options{
		Until: pipeline.Synth, Progress: opts.Err, Build: opts.Build, AppDir: opts.AppDir, Version: opts.Version,
		Synth: generator.SynthOptions{OutDir: opts.OutDir, Context: opts.Context, Force: opts.Force},
	})
	if err != nil {
		return nil, err
	}
	if res.Assembly.Cached {
		fmt.Fprintf(opts.Err, "xflow: %s\n", res.Assembly.UpToDate())
	}
	return res, nil
}

// Run builds and synthesizes c, runs `cdk deploy --all` on the result and,
// once it succeeded, saves the pins of c's git sources.
func Run(ctx context.Context, c *config.Config, opts Options) error {
	res, err := Synth(ctx, c, opts)
	if err != nil {
		return err
	}
	err = CDK(ctx, res.Assembly.Dir, opts, "deploy", "--all", "--require-approval", "never")
	if errors.Is(err, ErrNotBootstrapped) {
		return fmt.Errorf("%w: run 'xflow bootstrap -c %s' once for this account and region, then deploy again", err, c.File)
	}
	if err != nil {
		return err
	}
	return res.Lock.Save()
}

// Diff builds and synthesizes c and runs `cdk diff` on the result (every
// stack of the assembly; diff has no --all): what a deploy would change in
// the deployed stacks.
func Diff(ctx context.Context, c *config.Config, opts Options) error {
	res, err := Synth(ctx, c, opts)
	if err != nil {
		return err
	}
	return CDK(ctx, res.Assembly.Dir, opts, "diff")
}

// Destroy runs `cdk destroy --all` on a synthesized assembly (Synth's),
// without the CDK CLI's own confirmation: the caller has asked already.
func Destroy(ctx context.Context, asm *generator.Assembly, opts Options) error {
	return CDK(ctx, asm.Dir, opts, "destroy", "--all", "--force")
}

// ErrNotBootstrapped means the CDK CLI refused to deploy because the
// account and region lack the CDK's bootstrap stack.
var ErrNotBootstrapped = errors.New("the account and region are not bootstrapped for the CDK")

// bootstrapHint is how the CDK CLI's errors about a missing bootstrap stack
// (its version parameter, its asset bucket, its roles) end: they tell the
// user to run the CLI's bootstrap command, which xflow does not put on PATH.
var bootstrapHint = regexp.MustCompile(`(?i)\bcdk bootstrap\b`)

// CDK runs the CDK CLI that xflow manages (internal/nodejs) on a cloud
// assembly: `cdk <args> --app DIR`, or with no --app when assembly is
// empty. An error whose output tells the user to bootstrap wraps
// ErrNotBootstrapped.
func CDK(ctx context.Context, assembly string, opts Options, args ...string) error {
	opts = opts.withDefaults()
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
	if opts.Direct && len(args) > 0 {
		switch args[0] {
		case "deploy":
			args = append(args, "--method=direct")
		case "diff":
			// A change set is what moto cannot make; comparing templates
			// reads the deployed one only.
			args = append(args, "--method=template")
		}
	}
	fmt.Fprintf(opts.Err, "xflow: cdk %s\n", shellJoin(args))
	cmd := exec.CommandContext(ctx, cdk, args...)
	cmd.Env = nodejs.Env(node)
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(opts.Out, &tail)
	cmd.Stderr = io.MultiWriter(opts.Err, &tail)
	if err := cmd.Run(); err != nil {
		if bootstrapHint.MatchString(tail.String()) {
			return fmt.Errorf("cdk %s: %w (%w)", args[0], ErrNotBootstrapped, err)
		}
		return fmt.Errorf("cdk %s: %w", args[0], err)
	}
	return nil
}

// Bootstrap runs `cdk bootstrap` for an account and region, once per
// environment, as every CDK deployment needs.
func Bootstrap(ctx context.Context, account, region string, opts Options) error {
	return CDK(ctx, "", opts, "bootstrap", fmt.Sprintf("aws://%s/%s", account, region))
}

// Environment returns the account and region to bootstrap for c: its
// aws.account and aws.region ($REGION applied), else the account of the
// credentials (STS GetCallerIdentity) and the SDK's region ($AWS_REGION,
// the profile's).
func Environment(ctx context.Context, c *config.Config) (account, region string, err error) {
	account, region = c.AWS.Account, c.AWS.Region
	if account != "" && region != "" {
		return account, region, nil
	}
	cfg, err := awsconfig.Load(ctx, c)
	if err != nil {
		return "", "", err
	}
	region = cfg.Region
	if account == "" {
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", "", fmt.Errorf("find the account of the AWS credentials (or set aws.account in %s): %w", c.File, err)
		}
		account = aws.ToString(id.Account)
	}
	return account, region, nil
}

func (o Options) withDefaults() Options {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Err == nil {
		o.Err = io.Discard
	}
	return o
}

// tailBuffer keeps the last 16 KiB the CDK CLI wrote, to recognise its
// error.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
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
