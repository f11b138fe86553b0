// Package pipeline runs the stages that turn a loaded workflow config into
// what a command needs, always in one order:
//
//	sources  fetch the git sources and pin them (sources.Resolve)
//	build    build each function's package (build.Builder)
//	generate write the CDK Go app, with the packages it deploys
//	synth    run the app into a cloud assembly
//
// It also owns the layout of the .xflow folder beside the config. synth,
// deploy, build, generate, run and the server pick the last stage and the
// options; none of them spells out the stages.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/sources"
)

// Layout is the .xflow folder beside a config: the generated app, the
// cloud assembly deploy uses, and the local runtime's state.
type Layout struct {
	// Root is the .xflow folder.
	Root string
}

// LayoutOf returns the layout of a config's folder.
func LayoutOf(c *config.Config) Layout { return Layout{Root: filepath.Join(c.Dir, ".xflow")} }

// App is where synth, deploy and generate write the CDK app by default.
func (l Layout) App() string { return filepath.Join(l.Root, "app") }

// CloudAssembly is where deploy synthesizes.
func (l Layout) CloudAssembly() string { return filepath.Join(l.Root, "cdk.out") }

// State is the local runtime's state folder: streams, checkpoints, logs.
func (l Layout) State() string { return l.Root }

// Stage is a step of the pipeline; each includes those before it.
type Stage int

const (
	Sources Stage = iota + 1
	Build
	Generate
	Synth
)

// Options say how far to go and how.
type Options struct {
	// Until is the last stage to run.
	Until Stage
	// Progress receives one line per slow step.
	Progress io.Writer

	// UpdateSources moves every git source's pin to its ref's current
	// commit.
	UpdateSources bool

	// Target is whom the packages are built for: build.Lambda (synth,
	// deploy) or build.Host (local mode). Generate and Synth need Lambda.
	Target build.Target
	// Lambdas restricts the build to these functions; empty builds all.
	Lambdas []string
	// Build tunes the builder (interpreters, cache, force).
	Build build.Options

	// AppDir is where Generate writes the app; Layout.App when empty.
	AppDir string
	// Synth says how to synthesize; its AppDir and Inputs are set here.
	Synth generator.SynthOptions
	// Version is xflow's version, for the synth cache.
	Version string
}

// Result is what the stages produced.
type Result struct {
	// Lock holds the git sources' pins. Save it once the command has
	// succeeded: a failed run leaves the lock file as it was.
	Lock *sources.Lock
	// Builder is the builder that built the artifacts, for local mode to
	// ask it for the interpreters and the Python SDK.
	Builder *build.Builder
	// Artifacts are the functions' packages, in the config's order.
	Artifacts []*build.Artifact
	// AppDir and Files are the generated app.
	AppDir string
	Files  generator.Files
	// Assembly is the synthesized cloud assembly.
	Assembly *generator.Assembly
}

// Run runs the stages up to opts.Until on c.
func Run(ctx context.Context, c *config.Config, opts Options) (*Result, error) {
	res := &Result{}
	if opts.Until < Sources {
		return res, nil
	}
	lock, err := sources.Resolve(ctx, c, sources.Options{Update: opts.UpdateSources, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	res.Lock = lock
	if opts.Until < Build {
		return res, nil
	}
	bo := opts.Build
	if bo.Progress == nil {
		bo.Progress = opts.Progress
	}
	res.Builder = build.New(bo)
	target := opts.Target
	if target == "" {
		target = build.Lambda
	}
	if opts.Until >= Generate && (target != build.Lambda || len(opts.Lambdas) > 0) {
		return nil, fmt.Errorf("pipeline: the app packages every function built for Lambda (a bug in the caller)")
	}
	if res.Artifacts, err = res.Builder.All(ctx, c, opts.Lambdas, target); err != nil {
		return nil, err
	}
	if opts.Until < Generate {
		return res, nil
	}
	res.AppDir = opts.AppDir
	if res.AppDir == "" {
		res.AppDir = LayoutOf(c).App()
	}
	if res.Files, err = generator.Generate(c, generator.Options{AppDir: res.AppDir, Artifacts: res.Artifacts}); err != nil {
		return nil, err
	}
	if err := generator.Write(res.AppDir, res.Files, res.Artifacts); err != nil {
		return nil, err
	}
	if opts.Until < Synth {
		return res, nil
	}
	so := opts.Synth
	so.AppDir = res.AppDir
	if so.Progress == nil {
		so.Progress = opts.Progress
	}
	if so.OutDir == "" {
		so.OutDir = LayoutOf(c).CloudAssembly()
	}
	if opts.Version != "" {
		so.Inputs = &generator.SynthInputs{Version: opts.Version, Config: filepath.Join(c.Dir, filepath.Base(c.File)), Files: res.Files}
	}
	if res.Assembly, err = generator.Synth(ctx, so); err != nil {
		return nil, err
	}
	return res, nil
}
