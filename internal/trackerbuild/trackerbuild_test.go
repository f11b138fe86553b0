package trackerbuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// standInModule writes a module shaped like xflow's tracker (a main
// package in internal/tracker/lambda importing a package of names) but with no
// dependency, so that building it needs no module download.
func standInModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/standin\n\ngo 1.26\n")
	writeFile(t, filepath.Join(dir, "internal", "names", "names.go"), "package names\n\nconst Root = \"/xFlow/track/\"\n")
	writeFile(t, filepath.Join(dir, "internal", "tracker", "lambda", "main.go"),
		"package main\n\nimport \"example.com/standin/internal/names\"\n\nfunc main() { println(names.Root) }\n")
	return dir
}

// countGo counts the go commands Build runs.
func countGo(t *testing.T) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	orig := goCommand
	goCommand = func(ctx context.Context, name string, args ...string) *exec.Cmd {
		n.Add(1)
		return orig(ctx, name, args...)
	}
	t.Cleanup(func() { goCommand = orig })
	return &n
}

// checkBinary asserts that path is a static linux/arm64 executable.
func checkBinary(t *testing.T, path string) []byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("%s has mode %v, want executable by all", path, fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("%s is %v %v, want arm64", path, f.Class, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked; provided.al2023 needs a static binary (CGO_ENABLED=0)", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuild(t *testing.T) {
	// GIVEN a module and an empty cache
	mod := standInModule(t)
	t.Setenv(envCacheDir, t.TempDir())
	runs := countGo(t)
	var progress bytes.Buffer

	// WHEN the tracker is built
	dir, err := Build(context.Background(), mod, &progress)
	if err != nil {
		t.Fatal(err)
	}
	// THEN the asset folder holds bootstrap alone, built by go version and
	// go build
	first := checkBinary(t, filepath.Join(dir, Binary))
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("asset folder holds %d entries, want bootstrap alone", len(entries))
	}
	if got := runs.Load(); got != 2 {
		t.Errorf("first build ran %d go commands, want 2 (version, build)", got)
	}
	if !strings.Contains(progress.String(), "building the tracker Lambda") {
		t.Errorf("progress = %q", progress.String())
	}

	t.Run("cache hit runs no go command", func(t *testing.T) {
		runs.Store(0)
		// A test file is not part of the binary.
		writeFile(t, filepath.Join(mod, "internal", "names", "names_test.go"), "package names\n")
		again, err := Build(context.Background(), mod, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again != dir || runs.Load() != 0 {
			t.Errorf("second build: %s with %d go commands, want %s with none", again, runs.Load(), dir)
		}
	})

	t.Run("reproducible", func(t *testing.T) {
		// The same sources, in another folder and another cache, give the
		// same bytes, so that the CDK asset hash, and the deployed
		// function, change only when the sources do.
		t.Setenv(envCacheDir, t.TempDir())
		copied := t.TempDir()
		if err := os.CopyFS(copied, os.DirFS(mod)); err != nil {
			t.Fatal(err)
		}
		other, err := Build(context.Background(), copied, nil)
		if err != nil {
			t.Fatal(err)
		}
		if other == dir {
			t.Fatal("XFLOW_CACHE_DIR was not honoured")
		}
		if !bytes.Equal(checkBinary(t, filepath.Join(other, Binary)), first) {
			t.Error("two builds of the same sources differ")
		}
	})

	t.Run("a source change rebuilds", func(t *testing.T) {
		for _, f := range []string{"internal/names/names.go", "go.mod"} {
			runs.Store(0)
			path := filepath.Join(mod, f)
			b, _ := os.ReadFile(path)
			writeFile(t, path, string(b)+"\n// changed\n")
			changed, err := Build(context.Background(), mod, nil)
			if err != nil {
				t.Fatal(err)
			}
			if changed == dir || runs.Load() == 0 {
				t.Errorf("after changing %s: %s with %d go commands, want a new build", f, changed, runs.Load())
			}
		}
	})
}

func TestBuildConcurrent(t *testing.T) {
	// GIVEN one module and one empty cache shared by four synths
	mod := standInModule(t)
	cache := t.TempDir()
	t.Setenv(envCacheDir, cache)
	// WHEN they build at once
	var wg sync.WaitGroup
	dirs := make([]string, 4)
	errs := make([]error, 4)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = Build(context.Background(), mod, nil)
		}()
	}
	wg.Wait()
	// THEN all succeed with the same folder, and no temporary folder is left
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("build %d: %s, %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	checkBinary(t, filepath.Join(dirs[0], Binary))
	entries, _ := os.ReadDir(filepath.Join(cache, "tracker"))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("cache holds %v, want the one build", names)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Setenv(envCacheDir, t.TempDir())

	_, err := Build(context.Background(), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "has no ./internal/tracker/lambda package") {
		t.Errorf("module without tracker: err = %v", err)
	}

	mod := standInModule(t)
	writeFile(t, filepath.Join(mod, "internal", "tracker", "lambda", "main.go"), "package main\n\nfunc main() { undefined() }\n")
	_, err = Build(context.Background(), mod, nil)
	if err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("tracker that does not compile: err = %v, want the compiler's message", err)
	}
	entries, _ := os.ReadDir(filepath.Join(os.Getenv(envCacheDir), "tracker"))
	if len(entries) != 0 {
		t.Errorf("a failed build left %d entries in the cache", len(entries))
	}
}

// TestBuildXflow builds the real tracker Lambda of this module, as
// the generated app does.
func TestBuildXflow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tracker and its AWS SDK dependencies for linux/arm64")
	}
	mod, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envCacheDir, t.TempDir())
	dir, err := Build(context.Background(), mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBinary(t, filepath.Join(dir, Binary))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A build says every tickEvery that it is still under way: a cold build
// of the real tracker compiles the AWS SDK for arm64, minutes on a loaded
// machine.
func TestBuildTicks(t *testing.T) {
	mod := standInModule(t)
	t.Setenv(envCacheDir, t.TempDir())
	origTick, origGo := tickEvery, goCommand
	tickEvery = 20 * time.Millisecond
	// go build, 300 ms late.
	goCommand = func(ctx context.Context, name string, args ...string) *exec.Cmd {
		if args[0] != "build" {
			return origGo(ctx, name, args...)
		}
		return exec.CommandContext(ctx, "sh", append([]string{"-c", `sleep 0.3 && exec "$@"`, "sh", name}, args...)...)
	}
	t.Cleanup(func() { tickEvery, goCommand = origTick, origGo })
	var progress lockedBuffer
	if _, err := Build(context.Background(), mod, &progress); err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	tick := strings.Index(out, "xflow: still building the tracker Lambda (")
	if tick < 0 || tick > strings.Index(out, "xflow: built the tracker Lambda in") {
		t.Errorf("no tick while the tracker built:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
