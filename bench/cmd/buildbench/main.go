// Command buildbench measures the build step (internal/build) on the three
// kinds of functions that need one, and prints a Markdown table:
//
//	go run ./bench/cmd/buildbench [-samples 3] [-cold-go]
//
// For each kind it times a cold build (an empty xflow build cache; Go's
// build cache and pip's and npm's download caches as they are, which is the
// usual first synth of a project on a working machine), a warm one (the
// same inputs again: a cache hit) and one after touching every source file
// (modification times do not count, so a cache hit too). -cold-go adds one
// Go build with an empty Go build cache as well, the first build on a
// fresh machine.
//
// The fixtures are made here: a Go handler as `xflow init --runtime
// provided.al2023` writes it (aws-lambda-go and the AWS SDK's Kinesis
// client); a Python function whose requirements.txt names a 1 MB
// pure-Python wheel of a local wheel folder and a local package (pip
// reaches no index on these machines); a Node.js function with one npm
// dependency pinned in its package-lock.json (npm ci, from the registry or
// npm's cache), packaged as a folder and as an esbuild bundle.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/scaffold"
	"github.com/xflowhq/xflow/internal/wheeltest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "buildbench:", err)
		os.Exit(1)
	}
}

// stop is wheeltest's T for a command: the first error ends it.
type stop struct{}

func (stop) Helper() {}
func (stop) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"buildbench:"}, args...)...)
	os.Exit(1)
}

func run() error {
	samples := flag.Int("samples", 3, "builds per case (median, min and max are shown)")
	coldGo := flag.Bool("cold-go", false, "also time one Go build with an empty Go build cache")
	flag.Parse()

	root, err := os.MkdirTemp("", "buildbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	c, err := fixtures(root)
	if err != nil {
		return err
	}
	fmt.Printf("buildbench: %s/%s, %d CPUs, load average %s\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadavg())
	fmt.Println("| function | kind | cold (median, min–max) | warm (cache hit) | after touching every file | package |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, name := range []string{"go_handler", "python_deps", "node_deps", "node_bundle"} {
		var cold, warm, touched []time.Duration
		var last *build.Artifact
		for i := 0; i < *samples; i++ {
			cache, err := os.MkdirTemp(root, "cache-")
			if err != nil {
				return err
			}
			b := build.New(build.Options{CacheDir: cache, Progress: io.Discard})
			d, a, err := timed(b, c, name)
			if err != nil {
				return err
			}
			cold = append(cold, d)
			if d, _, err = timed(b, c, name); err != nil {
				return err
			}
			warm = append(warm, d)
			past := time.Now().Add(-time.Hour)
			filepath.Walk(c.Dir, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, past, past) })
			if d, _, err = timed(b, c, name); err != nil {
				return err
			}
			touched = append(touched, d)
			last = a
		}
		files := fmt.Sprintf("%d files", last.Files)
		if last.Files == 1 {
			files = "1 file"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s in %s |\n", name, last.Kind, stats(cold), stats(warm), stats(touched), size(last.Size), files)
	}
	if *coldGo {
		gocache, err := os.MkdirTemp(root, "gocache-")
		if err != nil {
			return err
		}
		os.Setenv("GOCACHE", gocache)
		cache, _ := os.MkdirTemp(root, "cache-")
		d, _, err := timed(build.New(build.Options{CacheDir: cache, Progress: io.Discard}), c, "go_handler")
		if err != nil {
			return err
		}
		fmt.Printf("\nGo handler with an empty Go build cache too (compiles aws-lambda-go and the SDK): %s, load average after: %s\n", d.Round(100*time.Millisecond), loadavg())
	}
	fmt.Printf("\nload average at the end: %s\n", loadavg())
	return nil
}

func timed(b *build.Builder, c *config.Config, name string) (time.Duration, *build.Artifact, error) {
	start := time.Now()
	a, err := b.Build(context.Background(), c, name, build.Lambda)
	return time.Since(start), a, err
}

// fixtures writes the project and loads its config.
func fixtures(root string) (*config.Config, error) {
	dir := filepath.Join(root, "project")
	files, err := scaffold.New(scaffold.Options{Name: "bench", Runtimes: []string{"provided.al2023"}})
	if err != nil {
		return nil, err
	}
	for p, data := range files {
		if strings.HasPrefix(p, "functions/process_task_go/") {
			if err := write(filepath.Join(dir, "go_handler", strings.TrimPrefix(p, "functions/process_task_go/")), string(data)); err != nil {
				return nil, err
			}
		}
	}
	wheels := filepath.Join(root, "wheels")
	modules := map[string]string{}
	for i := 0; i < 400; i++ {
		modules[fmt.Sprintf("benchlib/m%03d.py", i)] = strings.Repeat(fmt.Sprintf("VALUE_%d = %q\n", i, strings.Repeat("x", 60)), 40)
	}
	wheeltest.Wheel(stop{}, wheels, "benchlib", "1.0", "py3-none-any", modules)
	wheeltest.LocalPackage(stop{}, filepath.Join(dir, "shared"), "shared", "0.1", map[string]string{"__init__.py": "NAME = 'bench'\n"})
	os.Setenv("PIP_NO_INDEX", "1")
	os.Setenv("PIP_FIND_LINKS", wheels)
	if err := write(filepath.Join(dir, "python_deps", "handler.py"), "import benchlib.m000, shared\n\ndef handle(e, c):\n    return shared.NAME\n"); err != nil {
		return nil, err
	}
	if err := write(filepath.Join(dir, "python_deps", "requirements.txt"), "benchlib==1.0\n../shared\n"); err != nil {
		return nil, err
	}
	for _, fn := range []string{"node_deps", "node_bundle"} {
		for _, f := range []string{"package.json", "package-lock.json", "index.js"} {
			data, err := os.ReadFile(filepath.Join("internal", "build", "testdata", "nodefn", f))
			if err != nil {
				return nil, fmt.Errorf("run from the repository's root: %w", err)
			}
			if err := write(filepath.Join(dir, fn, f), string(data)); err != nil {
				return nil, err
			}
		}
	}
	yaml := `lambdas:
  - {name: go_handler, source: go_handler, runtime: provided.al2023, architecture: arm64}
  - {name: python_deps, source: python_deps, handler: handler.handle, runtime: python3.12}
  - {name: node_deps, source: node_deps, handler: index.handler, runtime: nodejs22.x}
  - {name: node_bundle, source: node_bundle, handler: index.handler, runtime: nodejs22.x, bundle: esbuild}
subscriptions:
  - event: In
    subscribers: [go_handler, python_deps, node_deps, node_bundle]
`
	if err := write(filepath.Join(dir, "xflow.yaml"), yaml); err != nil {
		return nil, err
	}
	return config.Load(filepath.Join(dir, "xflow.yaml"))
}

func write(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(data), 0o644)
}

func stats(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) string {
		if d < time.Second {
			return d.Round(time.Millisecond).String()
		}
		return d.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%s (%s–%s)", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]))
}

func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		out, _ := exec.Command("uptime").Output()
		return strings.TrimSpace(string(out))
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
