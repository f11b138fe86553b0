package generator

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
)

// cacheCase is a config with a file source and a folder source, generated
// into an app folder, ready to hash.
type cacheCase struct {
	dir, config, appDir string
}

func newCacheCase(t *testing.T) *cacheCase {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("reader.py", "def read(e, c):\n    return None\n")
	write("parser/index.js", "exports.handler = async () => {};\n")
	write("parser/lib/util.js", "module.exports = {};\n")
	write("xflow.yaml", `general:
  stack_name: cached
lambdas:
  - name: reader
    source: reader.py
    handler: read
    runtime: python3.12
  - name: parser
    source: parser
    handler: index.handler
    runtime: nodejs22.x
subscriptions:
  - event: Uploaded
    subscribers: [reader]
  - event: Read
    subscribers: [parser]
  - event: Parsed
workflows:
  - id: flow
    flow: [Uploaded, Read, Parsed]
`)
	return &cacheCase{dir: dir, config: filepath.Join(dir, "xflow.yaml"), appDir: filepath.Join(dir, ".xflow", "app")}
}

// key generates the app of the case's config as it is now and returns its
// synth key.
func (c *cacheCase) key(t *testing.T, version string, ctx map[string]any) string {
	t.Helper()
	cfg, err := config.Load(c.config)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(cfg, Options{AppDir: c.appDir, Artifacts: artifacts(t, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	ctxJSON, err := contextJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := synthKey(&SynthInputs{Version: version, Config: c.config, Files: files}, c.appDir, ctxJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSynthKeyInvalidation is acceptance 4 at the level of the key: any
// change to the config, to one source file (alone or in a folder), to the
// version or to the context changes it; nothing else does, not even a new
// modification time.
func TestSynthKeyInvalidation(t *testing.T) {
	c := newCacheCase(t)
	base := c.key(t, "v1", DefaultContext())
	if again := c.key(t, "v1", DefaultContext()); again != base {
		t.Fatal("the key of unchanged inputs changed")
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(c.dir, "reader.py"), later, later); err != nil {
		t.Fatal(err)
	}
	if got := c.key(t, "v1", DefaultContext()); got != base {
		t.Error("a new modification time alone changed the key: the cache would miss for nothing")
	}

	edits := []struct {
		name string
		edit func(t *testing.T) (undo func())
		ver  string
		ctx  func() map[string]any
	}{
		{name: "source file", edit: c.rewrite("reader.py", "def read(e, c):\n    return 1\n")},
		{name: "file in a source folder", edit: c.rewrite("parser/lib/util.js", "module.exports = {x: 1};\n")},
		{name: "new file in a source folder", edit: c.create("parser/lib/more.js")},
		{name: "config", edit: c.rewriteConfig("    runtime: python3.12\n", "    runtime: python3.13\n")},
		{name: "config comment", edit: c.rewriteConfig("general:\n", "# a comment\ngeneral:\n")},
		{name: "version", ver: "v2"},
		{name: "context", ctx: func() map[string]any {
			m := DefaultContext()
			m[spec.ContextBootstrapVersionRule] = false
			return m
		}},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			ver, ctx := "v1", DefaultContext()
			if e.ver != "" {
				ver = e.ver
			}
			if e.ctx != nil {
				ctx = e.ctx()
			}
			if e.edit != nil {
				defer e.edit(t)()
			}
			if got := c.key(t, ver, ctx); got == base {
				t.Error("the key did not change")
			}
		})
		// Each edit is undone: the key is back.
		if got := c.key(t, "v1", DefaultContext()); got != base {
			t.Fatalf("after undoing %s the key differs", e.name)
		}
	}
}

func (c *cacheCase) rewrite(name, content string) func(*testing.T) func() {
	return func(t *testing.T) func() {
		p := filepath.Join(c.dir, name)
		old, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (c *cacheCase) create(name string) func(*testing.T) func() {
	return func(t *testing.T) func() {
		p := filepath.Join(c.dir, name)
		if err := os.WriteFile(p, []byte("// new\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return func() { os.Remove(p) }
	}
}

func (c *cacheCase) rewriteConfig(from, to string) func(*testing.T) func() {
	return func(t *testing.T) func() {
		old, err := os.ReadFile(c.config)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(old), from) {
			t.Fatalf("config has no %q", from)
		}
		return c.rewrite("xflow.yaml", strings.Replace(string(old), from, to, 1))(t)
	}
}

// TestSynthCache is acceptance 4 end to end: a second synth of unchanged
// inputs reuses the assembly without running the app, in well under a
// second; touching one source file, the config or the version makes the
// next synth run the app again; Force always runs it.
func TestSynthCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	c := newCacheCase(t)
	out := filepath.Join(c.dir, "cdk.out")
	synthNow := func(t *testing.T, version string, force bool) (*Assembly, time.Duration) {
		t.Helper()
		start := time.Now()
		cfg, err := config.Load(c.config)
		if err != nil {
			t.Fatal(err)
		}
		arts := artifacts(t, cfg)
		files, err := Generate(cfg, Options{AppDir: c.appDir, Artifacts: arts})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(c.appDir, files, arts); err != nil {
			t.Fatal(err)
		}
		asm, err := Synth(context.Background(), SynthOptions{
			AppDir: c.appDir, OutDir: out, Progress: testLog{t}, Force: force,
			Inputs: &SynthInputs{Version: version, Config: c.config, Files: files},
		})
		if err != nil {
			t.Fatal(err)
		}
		return asm, time.Since(start)
	}

	first, took := synthNow(t, "v1", false)
	if first.Cached {
		t.Fatal("the first synth into an empty folder was a cache hit")
	}
	t.Logf("full synth: %s", took)
	hit, took := synthNow(t, "v1", false)
	if !hit.Cached || len(hit.Stacks) != len(first.Stacks) || hit.Stacks[0] != first.Stacks[0] {
		t.Fatalf("second synth: cached=%v stacks %v, want a hit with %v", hit.Cached, hit.Stacks, first.Stacks)
	}
	t.Logf("cache hit (generate, write the app, hash, check): %s", took)
	if took > time.Second {
		t.Errorf("a cache hit took %s, want well under a second", took)
	}
	if forced, _ := synthNow(t, "v1", true); forced.Cached {
		t.Error("Force reused the assembly")
	}
	// An assembly missing a staged asset is not up to date.
	assets, _ := filepath.Glob(filepath.Join(out, "asset.*"))
	if len(assets) == 0 {
		t.Fatal("the assembly has no staged asset")
	}
	if err := os.RemoveAll(assets[0]); err != nil {
		t.Fatal(err)
	}
	if asm, _ := synthNow(t, "v1", false); asm.Cached {
		t.Error("an assembly missing an asset was reused")
	}

	for _, e := range []struct {
		name    string
		edit    func(*testing.T) func()
		version string
	}{
		{"source file", c.rewrite("reader.py", "def read(e, c):\n    return 2\n"), "v1"},
		{"config", c.rewriteConfig("    runtime: python3.12\n", "    runtime: python3.13\n"), "v1"},
		{"version", nil, "v2"},
	} {
		t.Run(e.name, func(t *testing.T) {
			if e.edit != nil {
				e.edit(t) // kept: each step changes one more input
			}
			if asm, _ := synthNow(t, e.version, false); asm.Cached {
				t.Errorf("after changing the %s the assembly was reused", e.name)
			}
			if asm, _ := synthNow(t, e.version, false); !asm.Cached {
				t.Errorf("unchanged after the %s change, the assembly was not reused", e.name)
			}
		})
	}
}
