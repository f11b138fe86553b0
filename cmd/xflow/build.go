package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/pipeline"
)

func newBuildCmd(s streams) *cobra.Command {
	var (
		path                 string
		asJSON, force, host  bool
		strict, updateSource bool
	)
	cmd := &cobra.Command{
		Use:   "build [LAMBDA...]",
		Short: "Build the package of every function (or of those named), as synth and deploy do",
		Long: `Build each function's package as Lambda runs it, the same way synth, deploy,
run and the server do:

  provided.* with Go code (go.mod)      go build for linux and the function's architecture
  python3.x with requirements.txt or
    pyproject.toml dependencies         pip installs them for the function's Python and
                                        architecture (manylinux binary wheels, no Docker)
  nodejs* with package.json             npm ci --omit=dev (a package-lock.json is needed);
                                        with bundle: esbuild, one bundled file
  anything else                         the file or folder as it is

Packages are cached by content in xflow's cache folder: the same sources,
manifests, lock files, runtime, architecture and tool versions give the same
package, without building again. pip, npm and go use their own configuration
(PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf, .npmrc, GOPROXY).

--local builds what local mode runs: the same dependencies installed for this
machine's interpreter, Go built for this machine.`,
		Example: `  xflow build -c xflow.yaml
  xflow build -c xflow.yaml lambda_reader --json`,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			target := build.Lambda
			if host {
				target = build.Host
			}
			res, err := pipeline.Run(cmd.Context(), c, pipeline.Options{
				Until: pipeline.Build, Target: target, Lambdas: names, Progress: s.err, UpdateSources: updateSource,
				Build: build.Options{Force: force, StrictRuntimes: strict},
			})
			if err != nil {
				return err
			}
			if err := res.Lock.Save(); err != nil {
				return err
			}
			if asJSON {
				out := res.Artifacts
				if out == nil {
					out = []*build.Artifact{}
				}
				b, err := json.MarshalIndent(out, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(s.out, string(b))
				return nil
			}
			tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LAMBDA\tKIND\tSIZE\tFILES\tSHA256\tBUILT\tPACKAGE")
			for _, a := range res.Artifacts {
				built := fmt.Sprintf("%.1fs", a.Seconds)
				if a.Cached {
					built = "cached"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.12s\t%s\t%s\n", a.Lambda, a.Kind, a.Size, a.Files, a.SHA256, built, a.Path)
			}
			return tw.Flush()
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was built, from what, its size and hash, as JSON")
	cmd.Flags().BoolVar(&force, "force", false, "build even when the cache has the package")
	cmd.Flags().BoolVar(&host, "local", false, "build for this machine, as local mode runs the functions")
	strictRuntimesFlag(cmd, &strict, "with --local: ")
	updateSourcesFlag(cmd, &updateSource)
	return cmd
}
