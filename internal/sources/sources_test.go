package sources_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/gittest"
	"github.com/xflowhq/xflow/internal/sources"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// project writes a config beside nothing else and loads it.
func project(t *testing.T, yaml string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "xflow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(path, []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func oneLambda(source string) string {
	return `lambdas:
  - name: reader
    source: ` + source + `
    handler: read
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [reader]
`
}

// packaged returns the content of the file the generated app packages for
// the first function: generator.Resolve's spec, as the CDK app reads it.
func packaged(t *testing.T, c *config.Config) string {
	t.Helper()
	app := filepath.Join(c.Dir, ".xflow", "app")
	s, err := generator.Resolve(c, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := s.Functions[0]
	if f.Code.Kind != config.CodeFile || f.Handler != "handler.read" {
		t.Fatalf("code %+v, handler %q; want a single file and handler.read", f.Code, f.Handler)
	}
	b, err := os.ReadFile(filepath.Join(app, filepath.FromSlash(f.Code.Path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func clock(s string) func() time.Time {
	return func() time.Time {
		t, _ := time.Parse(time.RFC3339, s)
		return t
	}
}

// A source from a tag is fetched, pinned in xflow.lock and packaged from
// the tag's commit; when the tag moves, the lock keeps the old commit,
// without fetching, until an update pins the new one.
func TestPinnedUntilUpdate(t *testing.T) {
	ctx := context.Background()
	repo := gittest.New(t)
	first := repo.Commit(map[string]string{"fn/handler.py": "def read(e, c): pass  # first\n", "README.md": "hello\n"})
	repo.Tag("v1")
	cache := gittest.CacheDir(t)
	cfg := oneLambda(repo.URL + "//fn/handler.py?ref=v1")
	c := project(t, cfg)
	lockPath := filepath.Join(c.Dir, "xflow.lock")

	var progress bytes.Buffer
	lock, err := sources.Resolve(ctx, c, sources.Options{CacheDir: cache, Progress: &progress, Now: clock("2026-11-20T10:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Fatalf("Resolve wrote the lock before Save: %v", err)
	}
	if err := lock.Save(); err != nil {
		t.Fatal(err)
	}
	wantLock := `# The commit each git source of the xflow config beside this file is pinned
# to. xflow writes this file: commit it with the config. Run
# "xflow synth --update-sources" to move every ref to its current commit.
version: 1
sources:
  - repo: ` + repo.URL + `
    ref: v1
    commit: ` + first + `
    resolved: "2026-11-20T10:00:00Z"
`
	if diff := cmp.Diff(wantLock, read(t, lockPath)); diff != "" {
		t.Errorf("xflow.lock (-want +got):\n%s", diff)
	}
	if got := packaged(t, c); got != "def read(e, c): pass  # first\n" {
		t.Errorf("packaged %q, want the first commit's file", got)
	}
	if g := c.Lambdas[0].Code.Git; g == nil || g.Commit != first {
		t.Errorf("code.git = %+v, want commit %s", g, first)
	}
	if !strings.Contains(progress.String(), repo.URL+" v1 is commit "+first[:12]) {
		t.Errorf("progress does not tell the pin:\n%s", progress.String())
	}

	second := repo.Commit(map[string]string{"fn/handler.py": "def read(e, c): pass  # second\n"})
	repo.Tag("v1")

	progress.Reset()
	c = reload(t, c)
	lock, err = sources.Resolve(ctx, c, sources.Options{CacheDir: cache, Progress: &progress, Now: clock("2026-11-21T10:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if lock.Changed() {
		t.Error("the lock changed although the tag is pinned")
	}
	if err := lock.Save(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLock, read(t, lockPath)); diff != "" {
		t.Errorf("xflow.lock changed (-want +got):\n%s", diff)
	}
	if got := packaged(t, c); got != "def read(e, c): pass  # first\n" {
		t.Errorf("packaged %q, want the pinned first commit's file", got)
	}
	if progress.Len() > 0 {
		t.Errorf("a pinned, cached source was fetched:\n%s", progress.String())
	}

	c = reload(t, c)
	lock, err = sources.Resolve(ctx, c, sources.Options{CacheDir: cache, Update: true, Progress: &progress, Now: clock("2026-11-21T10:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.Save(); err != nil {
		t.Fatal(err)
	}
	wantLock = strings.NewReplacer(first, second, "2026-11-20", "2026-11-21").Replace(wantLock)
	if diff := cmp.Diff(wantLock, read(t, lockPath)); diff != "" {
		t.Errorf("xflow.lock after the update (-want +got):\n%s", diff)
	}
	if got := packaged(t, c); got != "def read(e, c): pass  # second\n" {
		t.Errorf("packaged %q, want the second commit's file", got)
	}
	if !strings.Contains(progress.String(), "moved from commit "+first[:12]+" to "+second[:12]) {
		t.Errorf("progress does not tell the move:\n%s", progress.String())
	}

	// The pinned commit is checked out from the cache even when the
	// repository is gone: synth works offline once a commit is cached.
	gittest.RemoveAll(repo.Bare)
	c = reload(t, c)
	if _, err := sources.Resolve(ctx, c, sources.Options{CacheDir: cache}); err != nil {
		t.Fatalf("offline: %v", err)
	}
	if got := packaged(t, c); got != "def read(e, c): pass  # second\n" {
		t.Errorf("offline: packaged %q", got)
	}
}

func reload(t *testing.T, c *config.Config) *config.Config {
	t.Helper()
	c, err := config.Load(filepath.Join(c.Dir, "xflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A folder and a .zip in the repository become a folder and a package, and
// lambdas on the same URL and ref share one lock entry and one checkout.
func TestFolderAndZip(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit(map[string]string{"reader/main.py": "", "reader/lib.py": "", "dist/parser.zip": "PK"})
	repo.Tag("v2")
	c := project(t, `lambdas:
  - name: reader
    source: `+repo.URL+`//reader?ref=v2
    handler: main.read
    runtime: python3.13
  - name: parser
    source: `+repo.URL+`//dist/parser.zip?ref=v2
    handler: main.parse
    runtime: python3.13
  - name: all
    source: `+repo.URL+`
    handler: reader.main.read
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [reader, parser, all]
`)
	lock, err := sources.Resolve(context.Background(), c, sources.Options{CacheDir: gittest.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	reader, parser, all := c.Lambdas[0].Code, c.Lambdas[1].Code, c.Lambdas[2].Code
	if reader.Kind != config.CodeDir || parser.Kind != config.CodeZip || all.Kind != config.CodeDir {
		t.Errorf("kinds %s, %s, %s; want dir, zip, dir", reader.Kind, parser.Kind, all.Kind)
	}
	if filepath.Dir(reader.Path) != filepath.Dir(filepath.Dir(parser.Path)) {
		t.Errorf("one ref, two checkouts: %s and %s", reader.Path, parser.Path)
	}
	if len(lock.Entries) != 2 || lock.Entries[0].Ref != "HEAD" || lock.Entries[1].Ref != "v2" {
		t.Errorf("lock entries %+v, want HEAD (no ref) and v2", lock.Entries)
	}
	if _, err := os.Stat(filepath.Join(all.Path, "reader", "main.py")); err != nil {
		t.Errorf("the whole repository is not checked out: %v", err)
	}
	if _, err := os.Stat(filepath.Join(all.Path, ".git")); err == nil {
		t.Error("the checkout holds .git, which would be packaged")
	}
	// Checkouts are read-only, so that nobody edits a pinned source by
	// mistake (root may still write, so check the modes).
	fi, err := os.Stat(filepath.Join(reader.Path, "main.py"))
	if err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("checked out file mode %v (%v), want read-only", fi.Mode(), err)
	}
	if fi, err := os.Stat(reader.Path); err != nil || fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("checked out folder mode %v (%v), want read-only", fi.Mode(), err)
	}
}

// Every problem is reported at once, each on its lambda's source line, and
// nothing is written: no lock, no mirror of an unreachable repository, no
// partial checkout.
func TestErrors(t *testing.T) {
	repo := gittest.New(t)
	repo.Commit(map[string]string{"fn/handler.py": "def read(e, c): pass\n", "fn/notes.txt": "", "outside.py": ""})
	repo.Tag("v1")
	missing := filepath.Join(filepath.Dir(repo.Bare), "missing.git")
	cfg := `lambdas:
  - name: unreachable
    source: file://` + missing + `//handler.py?ref=v1
    handler: read
    runtime: python3.13
  - name: unknown_ref
    source: ` + repo.URL + `//fn/handler.py?ref=v9
    handler: read
    runtime: python3.13
  - name: typo
    source: ` + repo.URL + `//fn/handlr.py?ref=v1
    handler: read
    runtime: python3.13
  - name: not_python
    source: ` + repo.URL + `//fn/notes.txt?ref=v1
    handler: read
    runtime: python3.13
  - name: handler_typo
    source: ` + repo.URL + `//fn/handler.py?ref=v1
    handler: raed
    runtime: python3.13
  - name: fine
    source: ` + repo.URL + `//fn/handler.py?ref=v1
    handler: read
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [unreachable, unknown_ref, typo, not_python, handler_typo, fine]
`
	c := project(t, cfg)
	cache := gittest.CacheDir(t)
	_, err := sources.Resolve(context.Background(), c, sources.Options{CacheDir: cache})
	var es config.Errors
	if !asErrors(err, &es) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	got := strings.NewReplacer(filepath.Dir(repo.Bare), "$TMP", c.File, "xflow.yaml").Replace(es.Error()) + "\n"
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(read(t, golden), got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "xflow.lock")); !os.IsNotExist(err) {
		t.Errorf("a failed resolve wrote the lock: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, "git", "*", ".tmp-*"))
	mirrors, _ := filepath.Glob(filepath.Join(cache, "git", "*", "mirror.git"))
	if len(leftovers) > 0 || len(mirrors) != 1 {
		t.Errorf("cache holds temporary folders %v and mirrors %v; want none and the one reachable", leftovers, mirrors)
	}
}

func asErrors(err error, es *config.Errors) bool {
	e, ok := err.(config.Errors)
	*es = e
	return ok
}

// A link out of the repository is refused: it would package a file of the
// machine running xflow into the function.
func TestLinkOutOfRepository(t *testing.T) {
	repo := gittest.New(t)
	secret := filepath.Join(t.TempDir(), "secret.py")
	if err := os.WriteFile(secret, []byte("KEY = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo.Link("fn/handler.py", secret)
	repo.Commit(map[string]string{"fn/real.py": ""})
	c := project(t, oneLambda(repo.URL+"//fn/handler.py"))
	_, err := sources.Resolve(context.Background(), c, sources.Options{CacheDir: gittest.CacheDir(t)})
	if err == nil || !strings.Contains(err.Error(), "lambdas[0].source: fn/handler.py in "+repo.URL+" at HEAD (commit ") || !strings.Contains(err.Error(), "links out of the repository") {
		t.Errorf("err = %v, want the link refused", err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A link inside a git source folder that points out of the folder is
// refused too, naming it: the check of the top-level path alone let
// fn/leak.txt → /etc/os-release into the function's package.
func TestLinkInsideSourceFolder(t *testing.T) {
	repo := gittest.New(t)
	repo.Link("fn/leak.txt", "/etc/os-release")
	repo.Link("fn/shared.py", "../shared.py")
	repo.Link("fn/alias.py", "handler.py")
	repo.Commit(map[string]string{"fn/handler.py": "def read(e, c): pass\n", "shared.py": "X = 1\n"})
	c := project(t, strings.Replace(oneLambda(repo.URL+"//fn"), "handler: read", "handler: handler.read", 1))
	_, err := sources.Resolve(context.Background(), c, sources.Options{CacheDir: gittest.CacheDir(t)})
	for _, want := range []string{
		"xflow.yaml:3:13: lambdas[0].source: fn/leak.txt is a link to /etc/os-release, outside the source folder fn, and 1 more link out of it",
		"(copy what it points to into fn, or remove the link)",
	} {
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), c.File, "xflow.yaml"), want) {
			t.Errorf("err = %v\nwant it to hold %s", err, want)
		}
	}
}
