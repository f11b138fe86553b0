package build_test

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/wheeltest"
)

// project writes files (path → content) into a new folder with xflow.yaml
// and loads the config.
func project(t *testing.T, yaml string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	files["xflow.yaml"] = yaml
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") || filepath.Base(p) == "bootstrap" {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(dir, "xflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// builder returns a Builder with its own cache folder, and the folder.
func builder(t *testing.T, opts build.Options) (*build.Builder, string) {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Progress == nil {
		opts.Progress = testWriter{t}
	}
	return build.New(opts), opts.CacheDir
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mustBuild(t *testing.T, b *build.Builder, c *config.Config, name string, target build.Target) *build.Artifact {
	t.Helper()
	a, err := b.Build(context.Background(), c, name, target)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// files lists a package's files, with "*" after executable ones.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			info, _ := d.Info()
			if info.Mode()&0o111 != 0 {
				rel += "*"
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		msg := "SKIP: " + name + " is not on PATH"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set")
		}
		t.Skip(msg)
	}
}

const oneFunction = `
lambdas:
  - name: fn
    source: %SOURCE%
    handler: %HANDLER%
    runtime: %RUNTIME%
    architecture: %ARCH%
%EXTRA%subscriptions:
  - event: In
    subscribers: [fn]
`

func yamlFor(source, handler, runtime, arch string) string {
	return strings.NewReplacer("%SOURCE%", source, "%HANDLER%", handler, "%RUNTIME%", runtime, "%ARCH%", arch, "%EXTRA%", "").Replace(oneFunction)
}

func TestCopy(t *testing.T) {
	for _, tc := range []struct {
		name, source, runtime string
		files                 map[string]string
		want                  []string
	}{
		{"python file", "h.py", "python3.12", map[string]string{"h.py": "def handle(e, c): pass\n", "other.py": "x = 1\n"}, []string{"h.py"}},
		{"provided file", "run.sh", "provided.al2023", map[string]string{"run.sh": "#!/bin/sh\n"}, []string{"bootstrap*"}},
		{"folder", "fn", "python3.12", map[string]string{"fn/h.py": "", "fn/data/x.json": "{}", "fn/__pycache__/h.cpython-312.pyc": "", "fn/.git/HEAD": ""}, []string{"data/x.json", "h.py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler := "h.handle"
			if tc.runtime == "provided.al2023" {
				handler = "x"
			}
			c := project(t, yamlFor(tc.source, handler, tc.runtime, "x86_64"), tc.files)
			b, _ := builder(t, build.Options{})
			a := mustBuild(t, b, c, "fn", build.Lambda)
			if a.Kind != build.KindCopy || a.Cached {
				t.Errorf("kind %s, cached %v; want a new copy", a.Kind, a.Cached)
			}
			if got := files(t, a.Path); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("package holds %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGo: a Go module is compiled into a linux ELF bootstrap for the
// function's architecture, with no Go source in the package; the same
// source gives the same bytes in another cache; for this machine it is
// built for this machine and runs.
func TestGo(t *testing.T) {
	needTool(t, "go")
	src := map[string]string{
		"fn/go.mod":  "module example.com/fn\n\ngo 1.22\n",
		"fn/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from bootstrap\") }\n",
	}
	for _, arch := range []struct {
		name    string
		machine elf.Machine
	}{{"arm64", elf.EM_AARCH64}, {"x86_64", elf.EM_X86_64}} {
		t.Run(arch.name, func(t *testing.T) {
			c := project(t, yamlFor("fn", "bootstrap", "provided.al2023", arch.name), copyMap(src))
			b, _ := builder(t, build.Options{})
			a := mustBuild(t, b, c, "fn", build.Lambda)
			if got := files(t, a.Path); strings.Join(got, " ") != "bootstrap*" {
				t.Fatalf("package holds %v, want bootstrap alone", got)
			}
			f, err := elf.Open(filepath.Join(a.Path, "bootstrap"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != arch.machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("bootstrap is %v/%v, want %v for linux", f.Machine, f.OSABI, arch.machine)
			}
			other, _ := builder(t, build.Options{})
			again := mustBuild(t, other, c, "fn", build.Lambda)
			if again.Cached || again.SHA256 != a.SHA256 {
				t.Errorf("a second build in another cache: cached %v, sha256 %s; want a new build with %s", again.Cached, again.SHA256, a.SHA256)
			}
		})
	}
	c := project(t, yamlFor("fn", "bootstrap", "provided.al2023", "arm64"), copyMap(src))
	b, _ := builder(t, build.Options{})
	host := mustBuild(t, b, c, "fn", build.Host)
	out, err := exec.Command(filepath.Join(host.Path, "bootstrap")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello from bootstrap") {
		t.Errorf("the build for this machine (%s/%s) does not run: %v\n%s", runtime.GOOS, runtime.GOARCH, err, out)
	}
}

func TestGoBuildError(t *testing.T) {
	needTool(t, "go")
	c := project(t, yamlFor("fn", "bootstrap", "provided.al2023", "x86_64"), map[string]string{
		"fn/go.mod":  "module example.com/fn\n\ngo 1.22\n",
		"fn/main.go": "package main\n\nfunc main() { undefinedThing() }\n",
	})
	b, _ := builder(t, build.Options{})
	_, err := b.Build(context.Background(), c, "fn", build.Lambda)
	var be *build.Error
	if !errors.As(err, &be) {
		t.Fatalf("error %v, want a *build.Error", err)
	}
	for _, want := range []string{"xflow.yaml:4:13: lambdas[0].source: lambda fn: go build", "undefined: undefinedThing", "GOOS=linux GOARCH=amd64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func copyMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// pythonProject is a Python function whose requirements name a package of
// a wheel folder and a local package (a path requirement), as the
// wordcount example's handlers do.
func pythonProject(t *testing.T, wheels string) *config.Config {
	t.Helper()
	wheeltest.Wheel(t, wheels, "greetlib", "1.2.0", "py3-none-any", map[string]string{"greetlib/__init__.py": "def greet(n):\n    return 'hello ' + n\n"})
	c := project(t, yamlFor("fn", "handler.handle", "python3.12", "x86_64"), map[string]string{
		"fn/handler.py":       "import greetlib, shared\n\ndef handle(e, c):\n    return greetlib.greet(shared.NAME)\n",
		"fn/requirements.txt": "greetlib==1.2.0\n../shared  # a path requirement\n",
	})
	wheeltest.LocalPackage(t, filepath.Join(c.Dir, "shared"), "shared", "0.1", map[string]string{"__init__.py": "NAME = 'world'\n"})
	return c
}

// offlinePip points pip at a wheel folder only, as the tests cannot reach
// an index.
func offlinePip(t *testing.T) string {
	t.Helper()
	needTool(t, "python3")
	wheels := t.TempDir()
	t.Setenv("PIP_NO_INDEX", "1")
	t.Setenv("PIP_FIND_LINKS", wheels)
	return wheels
}

func TestPython(t *testing.T) {
	wheels := offlinePip(t)
	c := pythonProject(t, wheels)
	b, _ := builder(t, build.Options{})
	a := mustBuild(t, b, c, "fn", build.Lambda)
	got := strings.Join(files(t, a.Path), " ")
	for _, want := range []string{"handler.py", "requirements.txt", "greetlib/__init__.py", "shared/__init__.py", "greetlib-1.2.0.dist-info/METADATA"} {
		if !strings.Contains(got, want) {
			t.Errorf("package lacks %s: %s", want, got)
		}
	}
	for _, unwanted := range []string{"direct_url.json", "bin/", ".pyc"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("package holds %s (machine-specific): %s", unwanted, got)
		}
	}
	// Another machine (another cache) gets the same bytes.
	other, _ := builder(t, build.Options{})
	if again := mustBuild(t, other, c, "fn", build.Lambda); again.SHA256 != a.SHA256 {
		t.Errorf("rebuilt in another cache: sha256 %s, want %s", again.SHA256, a.SHA256)
	}

	// What local mode runs imports the same packages, and nothing of this
	// machine's site-packages.
	host := mustBuild(t, b, c, "fn", build.Host)
	if host.Interpreter == nil {
		t.Fatal("no interpreter for the host package")
	}
	cmd := exec.Command(host.Interpreter.Path, "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import handler; print(handler.handle(None, None)); import importlib.util; print(importlib.util.find_spec('moto'))", host.Path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello world\nNone") {
		t.Errorf("the host package does not run as expected: %v\n%s", err, out)
	}
}

// TestPythonNoWheel: a package with no wheel for Lambda's platform is an
// error that names it, the platform and what to do.
func TestPythonNoWheel(t *testing.T) {
	wheels := offlinePip(t)
	wheeltest.Wheel(t, wheels, "fastmath", "2.0", "cp311-cp311-linux_x86_64", map[string]string{"fastmath.py": ""})
	c := project(t, yamlFor("fn", "h.handle", "python3.12", "arm64"), map[string]string{
		"fn/h.py":             "",
		"fn/requirements.txt": "fastmath==2.0\n",
	})
	b, cache := builder(t, build.Options{})
	_, err := b.Build(context.Background(), c, "fn", build.Lambda)
	if err == nil {
		t.Fatal("built a package with no wheel for Lambda")
	}
	for _, want := range []string{"lambda fn: pip found no wheel of fastmath", "Python 3.12 on Lambda's linux aarch64 (manylinux)", "PIP_FIND_LINKS", "binary wheels only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*")); len(left) != 0 {
		t.Errorf("a failed build left %v in the cache", left)
	}
}

// TestCacheByContent: touching every file rebuilds nothing; editing one
// function's requirements rebuilds that function only.
func TestCacheByContent(t *testing.T) {
	wheels := offlinePip(t)
	wheeltest.Wheel(t, wheels, "greetlib", "1.2.0", "py3-none-any", map[string]string{"greetlib/__init__.py": ""})
	wheeltest.Wheel(t, wheels, "greetlib", "1.3.0", "py3-none-any", map[string]string{"greetlib/__init__.py": "V = 3\n"})
	yaml := `
lambdas:
  - {name: one, source: one, handler: h.handle, runtime: python3.12}
  - {name: two, source: two, handler: h.handle, runtime: python3.12}
subscriptions:
  - event: In
    subscribers: [one, two]
`
	c := project(t, yaml, map[string]string{
		"one/h.py": "", "one/requirements.txt": "greetlib==1.2.0\n",
		"two/h.py": "", "two/requirements.txt": "greetlib==1.2.0\n",
	})
	b, _ := builder(t, build.Options{})
	first, err := b.All(context.Background(), c, nil, build.Lambda)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	filepath.WalkDir(c.Dir, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, old, old) })
	again, err := b.All(context.Background(), c, nil, build.Lambda)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range again {
		if !a.Cached || a.SHA256 != first[i].SHA256 {
			t.Errorf("%s after touching its files: cached %v; want the cached package", a.Lambda, a.Cached)
		}
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "two", "requirements.txt"), []byte("greetlib==1.3.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edited, err := b.All(context.Background(), c, nil, build.Lambda)
	if err != nil {
		t.Fatal(err)
	}
	if !edited[0].Cached || edited[0].SHA256 != first[0].SHA256 {
		t.Errorf("one was rebuilt after an edit of two's requirements")
	}
	if edited[1].Cached || edited[1].SHA256 == first[1].SHA256 {
		t.Errorf("two was not rebuilt after an edit of its requirements")
	}
}

// TestTooLarge: a package over Lambda's 250 MB unzipped is refused, naming
// its largest parts, before anything is copied.
func TestTooLarge(t *testing.T) {
	c := project(t, yamlFor("fn", "h.handle", "python3.12", "x86_64"), map[string]string{"fn/h.py": "", "fn/model/.keep": ""})
	big := filepath.Join(c.Dir, "fn", "model", "weights.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 251 MB that take no room on disk.
	if err := f.Truncate(251 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, cache := builder(t, build.Options{})
	_, err = b.Build(context.Background(), c, "fn", build.Lambda)
	if err == nil {
		t.Fatal("a 251 MB package was accepted")
	}
	for _, want := range []string{"lambda fn: its package is 251.0 MB unzipped, over Lambda's limit of 250 MB (262144000 bytes)", "model/ 251.0 MB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*")); len(left) != 0 {
		t.Errorf("a refused build left %v in the cache", left)
	}
}

func TestZip(t *testing.T) {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, _ := z.Create("h.py")
	w.Write([]byte("def handle(e, c): return 1\n"))
	z.Close()
	c := project(t, yamlFor("pkg.zip", "h.handle", "python3.12", "x86_64"), map[string]string{"pkg.zip": buf.String()})
	needTool(t, "python3")
	b, _ := builder(t, build.Options{})
	a := mustBuild(t, b, c, "fn", build.Lambda)
	if a.Kind != build.KindZip || a.Path != filepath.Join(c.Dir, "pkg.zip") {
		t.Errorf("zip artifact %+v, want the zip itself", a)
	}
	h := mustBuild(t, b, c, "fn", build.Host)
	if got := files(t, h.Path); strings.Join(got, " ") != "h.py" {
		t.Errorf("unpacked %v, want h.py", got)
	}
}

// TestLinkOutside: a link in a source folder to a file outside it would
// package a file of this machine: refused, naming the link.
func TestLinkOutside(t *testing.T) {
	c := project(t, yamlFor("fn", "h.handle", "python3.12", "x86_64"), map[string]string{"fn/h.py": ""})
	if err := os.Symlink("/etc/os-release", filepath.Join(c.Dir, "fn", "leak.txt")); err != nil {
		t.Fatal(err)
	}
	b, _ := builder(t, build.Options{})
	_, err := b.Build(context.Background(), c, "fn", build.Lambda)
	if err == nil || !strings.Contains(err.Error(), "leak.txt points to /etc/os-release, outside the source folder") {
		t.Errorf("error %v, want the link refused", err)
	}
}

// nodeProject copies testdata/nodefn (one dependency, is-number, and one
// devDependency, kind-of, pinned in its package-lock.json) into a project.
func nodeProject(t *testing.T, extra string) *config.Config {
	t.Helper()
	files := map[string]string{}
	for _, name := range []string{"package.json", "package-lock.json", "index.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "nodefn", name))
		if err != nil {
			t.Fatal(err)
		}
		files["fn/"+name] = string(b)
	}
	yaml := strings.Replace(yamlFor("fn", "index.handler", "nodejs22.x", "x86_64"), "subscriptions:", extra+"subscriptions:", 1)
	return project(t, yaml, files)
}

// runNode calls the handler of a package with node and returns what it
// printed.
func runNode(t *testing.T, a *build.Artifact, module string) string {
	t.Helper()
	if a.Interpreter == nil {
		t.Fatal("no interpreter for the host package")
	}
	script := `require(process.argv[1]).handler({values: [1, "2", "x"]}).then((r) => console.log(JSON.stringify(r)))`
	cmd := exec.Command(a.Interpreter.Path, "-e", script, filepath.Join(a.Path, module))
	cmd.Dir = t.TempDir() // nothing to find above the package
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestNode: the package is the folder plus its dependencies as npm ci
// installs them, without devDependencies; this machine runs the same
// package.
func TestNode(t *testing.T) {
	needTool(t, "npm")
	c := nodeProject(t, "")
	b, _ := builder(t, build.Options{})
	a := mustBuild(t, b, c, "fn", build.Lambda)
	got := strings.Join(files(t, a.Path), " ")
	if !strings.Contains(got, "node_modules/is-number/index.js") || !strings.Contains(got, "index.js") {
		t.Errorf("package lacks the dependency or the handler: %s", got)
	}
	if strings.Contains(got, "kind-of") {
		t.Errorf("package holds a devDependency: %s", got)
	}
	h := mustBuild(t, b, c, "fn", build.Host)
	if h.Path != a.Path || h.SHA256 != a.SHA256 {
		t.Errorf("local mode runs %s, not the deployed package %s", h.Path, a.Path)
	}
	if out := runNode(t, h, "index.js"); out != `{"numbers":2}` {
		t.Errorf("handler printed %q", out)
	}
}

// TestNodeBundle: bundle: esbuild packages one file, with the dependency
// inside and no node_modules, which runs as the handler.
func TestNodeBundle(t *testing.T) {
	needTool(t, "npm")
	c := nodeProject(t, "    bundle: esbuild\n")
	b, _ := builder(t, build.Options{})
	a := mustBuild(t, b, c, "fn", build.Lambda)
	if a.Kind != build.KindBundle {
		t.Errorf("kind %s, want %s", a.Kind, build.KindBundle)
	}
	if got := files(t, a.Path); strings.Join(got, " ") != "index.js" {
		t.Fatalf("bundle package holds %v, want index.js alone", got)
	}
	h := mustBuild(t, b, c, "fn", build.Host)
	if out := runNode(t, h, "index.js"); out != `{"numbers":2}` {
		t.Errorf("bundled handler printed %q", out)
	}
	other, _ := builder(t, build.Options{})
	if again := mustBuild(t, other, c, "fn", build.Lambda); again.SHA256 != a.SHA256 {
		t.Errorf("a second bundle differs: %s, want %s", again.SHA256, a.SHA256)
	}
}

func TestNodeWithoutLock(t *testing.T) {
	c := project(t, yamlFor("fn", "index.handler", "nodejs22.x", "x86_64"), map[string]string{
		"fn/package.json": `{"dependencies": {"is-number": "7.0.0"}}`, "fn/index.js": "",
	})
	b, _ := builder(t, build.Options{})
	_, err := b.Build(context.Background(), c, "fn", build.Lambda)
	if err == nil || !strings.Contains(err.Error(), "has a package.json and no package-lock.json") || !strings.Contains(err.Error(), "run `npm install` in") {
		t.Errorf("error %v, want the missing lock file and its fix", err)
	}
}
