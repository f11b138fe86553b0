package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/pipeline"
)

func load(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for p, data := range map[string]string{
		"xflow.yaml": "lambdas:\n  - {name: a, source: a.py, handler: handle, runtime: python3.12}\n  - {name: b, source: b.py, handler: handle, runtime: python3.12}\nsubscriptions:\n  - event: In\n    subscribers: [a, b]\n",
		"a.py":       "def handle(e, c): pass\n",
		"b.py":       "def handle(e, c): return 1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(dir, "xflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLayout(t *testing.T) {
	c := load(t)
	l := pipeline.LayoutOf(c)
	root := filepath.Join(c.Dir, ".xflow")
	for got, want := range map[string]string{l.Root: root, l.App(): root + "/app", l.CloudAssembly(): root + "/cdk.out", l.State(): root} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}

// TestStages: Build stops before anything is written and builds only the
// lambdas asked for; Generate writes the app with every package, and
// refuses packages built for this machine or for some lambdas only.
func TestStages(t *testing.T) {
	c := load(t)
	t.Setenv("XFLOW_CACHE_DIR", t.TempDir())
	ctx := context.Background()
	res, err := pipeline.Run(ctx, c, pipeline.Options{Until: pipeline.Build, Lambdas: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Artifacts) != 1 || res.Artifacts[0].Lambda != "b" || res.Files != nil {
		t.Errorf("build of b: %d packages, files %v", len(res.Artifacts), res.Files)
	}
	if _, err := os.Stat(pipeline.LayoutOf(c).Root); err == nil {
		t.Error("the build stage wrote .xflow")
	}
	if _, err := pipeline.Run(ctx, c, pipeline.Options{Until: pipeline.Generate, Target: build.Host}); err == nil || !strings.Contains(err.Error(), "built for Lambda") {
		t.Errorf("generate with packages for this machine: %v", err)
	}
	res, err = pipeline.Run(ctx, c, pipeline.Options{Until: pipeline.Generate})
	if err != nil {
		t.Fatal(err)
	}
	for _, lambda := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(res.AppDir, "artifacts", lambda, lambda+".py")); err != nil {
			t.Errorf("the app lacks the package of %s: %v", lambda, err)
		}
	}
}
