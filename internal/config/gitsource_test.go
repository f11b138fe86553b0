package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every git form parses into the repository git clones, the ref and the
// path inside the repository, without network.
func TestParseGitSource(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want GitSource
	}{
		{"https://github.com/owner/repo.git//path/to/handler.py?ref=v1.2.0",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "v1.2.0", Path: "path/to/handler.py"}},
		{"https://github.com/owner/repo//handler.py?ref=main", // same repository, one spelling in the lock
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "main", Path: "handler.py"}},
		{"https://git.example.com/team/repo.git//fn/?ref=release%2F2026",
			GitSource{Repo: "https://git.example.com/team/repo.git", Ref: "release/2026", Path: "fn"}},
		{"https://git.example.com/team/repo.git",
			GitSource{Repo: "https://git.example.com/team/repo.git"}},
		{"git::https://git.example.com/team/repo//functions/reader.py?ref=v2",
			GitSource{Repo: "https://git.example.com/team/repo", Ref: "v2", Path: "functions/reader.py"}},
		{"git@github.com:owner/repo.git//path/to/handler.py?ref=v1.2.0",
			GitSource{Repo: "git@github.com:owner/repo.git", Ref: "v1.2.0", Path: "path/to/handler.py"}},
		{"ssh://git@git.example.com:2222/team/repo.git//dist/fn.zip?ref=0123abc",
			GitSource{Repo: "ssh://git@git.example.com:2222/team/repo.git", Ref: "0123abc", Path: "dist/fn.zip"}},
		{"file:///srv/git/repo.git//handler.py?ref=v1",
			GitSource{Repo: "file:///srv/git/repo.git", Ref: "v1", Path: "handler.py"}},
		{"file:///srv/git/repo.git//a/./b/../handler.py",
			GitSource{Repo: "file:///srv/git/repo.git", Path: "a/handler.py"}},
		{"https://github.com/owner/repo/blob/v1.2.0/path/to/handler.py",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "v1.2.0", Path: "path/to/handler.py"}},
		{"https://github.com/owner/repo/blob/0123456789abcdef0123456789abcdef01234567/handler.py#L12",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "0123456789abcdef0123456789abcdef01234567", Path: "handler.py"}},
		{"https://github.com/owner/repo/blob/main/my%20functions/reader.py",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "main", Path: "my functions/reader.py"}},
		{"https://github.com/owner/repo/tree/main/functions/reader",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "main", Path: "functions/reader"}},
		{"https://github.com/owner/repo/tree/main/functions/reader/",
			GitSource{Repo: "https://github.com/owner/repo.git", Ref: "main", Path: "functions/reader"}},
		{"https://www.github.com/owner/my.repo/tree/v3",
			GitSource{Repo: "https://github.com/owner/my.repo.git", Ref: "v3"}},
	} {
		t.Run(tc.src, func(t *testing.T) {
			got, ok, err := parseGitSource(tc.src)
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGitSourceRefused(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"https://github.com/owner/repo/blob/main", "names no file"},
		{"https://github.com/owner/repo/blob/main/a.py?plain=1", "takes no query"},
		{"https://github.com/owner/repo.git//a.py?ref=", "names no branch"},
		{"https://github.com/owner/repo.git//a.py?ref=v1&depth=1", `"depth" is not a parameter`},
		{"https://github.com/owner/repo.git//a.py?ref=--upload-pack=evil", "is not a branch, tag or commit name"},
		{"https://github.com/owner/repo.git//a.py?ref=a..b", "is not a branch, tag or commit name"},
		{"https://github.com/owner/repo.git//../../etc/passwd?ref=v1", "is not a path inside the repository"},
		{"git::ftp://example.com/repo", "git cannot fetch ftp://"},
		{"git::repo", "is not a URL git can fetch"},
		{"file://", "names no repository"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			_, ok, err := parseGitSource(tc.src)
			if !ok || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ok %v, err %v; want an error containing %q", ok, err, tc.want)
			}
		})
	}
}

// Local paths, S3 objects and downloads are not git sources.
func TestParseGitSourceNotGit(t *testing.T) {
	for _, src := range []string{"lambda_reader.py", "functions/reader", "/abs/fn.zip", "s3://bucket/key.zip", "https://example.com/code.zip", "https://example.com/code.zip?token=x", "ftp://example.com/repo.git"} {
		if _, ok, err := parseGitSource(src); ok || err != nil {
			t.Errorf("%s: ok %v, err %v; want not a git source", src, ok, err)
		}
	}
}

// A git source loads without network: the config only parses it, and the
// handler rule waits until the fetch tells a file from a folder.
func TestLoadGitSource(t *testing.T) {
	c, err := Parse("xflow.yaml", []byte(`
lambdas:
  - name: reader
    source: https://github.com/owner/repo.git//reader.py?ref=v1
    handler: read
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [reader]
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Lambdas[0]
	want := Code{Kind: CodeGit, Git: &GitSource{Repo: "https://github.com/owner/repo.git", Ref: "v1", Path: "reader.py"}}
	if diff := cmp.Diff(want, l.Code); diff != "" {
		t.Errorf("code (-want +got):\n%s", diff)
	}
	if l.Handler != "read" {
		t.Errorf("handler = %q, want read until the source is fetched", l.Handler)
	}
}

// UseCheckout applies a local file's rules to a fetched source: the
// handler rule, the file extension, and errors on the source's line.
func TestUseCheckout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/reader.py", "def read(event, context): pass\n")
	writeFile(t, dir+"/reader.txt", "")
	c, err := Parse("xflow.yaml", []byte(`
lambdas:
  - name: reader
    source: file:///repo.git//reader.py
    handler: read
    runtime: python3.13
  - name: other
    source: file:///repo.git//reader.txt
    handler: read
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [reader, other]
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if es := c.UseCheckout(0, dir+"/reader.py", "reader.py"); es != nil {
		t.Fatal(es)
	}
	if l := c.Lambdas[0]; l.Handler != "reader.read" || l.Code.Kind != CodeFile || l.Code.Path != dir+"/reader.py" || l.Code.Git == nil {
		t.Errorf("lambda = %+v, want handler reader.read and the checkout's file, still from git", l)
	}
	es := c.UseCheckout(1, dir+"/reader.txt", "reader.txt")
	want := "xflow.yaml:8:13: lambdas[1].source: reader.txt does not look like python code (a python function's file ends in .py)"
	if len(es) != 1 || es[0].Error() != want {
		t.Errorf("got %v\nwant %s", es, want)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
