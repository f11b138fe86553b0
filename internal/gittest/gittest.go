// Package gittest makes local git repositories for tests of git sources:
// a working repository to commit and tag in, published to a bare one that
// xflow fetches from over file://, so that no test needs a network.
package gittest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a working repository and the bare repository it pushes to.
type Repo struct {
	t    testing.TB
	work string
	// Bare is the bare repository's folder; URL is its file:// URL.
	Bare, URL string
}

// New makes an empty bare repository and its working copy under a
// temporary folder. It skips the test when git is not installed.
func New(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	r := &Repo{t: t, work: filepath.Join(dir, "work"), Bare: filepath.Join(dir, "repo.git")}
	r.URL = "file://" + filepath.ToSlash(r.Bare)
	Run(t, dir, "init", "--quiet", "--bare", "--initial-branch=main", r.Bare)
	Run(t, dir, "init", "--quiet", "--initial-branch=main", r.work)
	return r
}

// Commit writes files (slash paths to contents) in the working copy,
// commits them, pushes main and returns the commit's hash.
func (r *Repo) Commit(files map[string]string) string {
	r.t.Helper()
	for name, data := range files {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	Run(r.t, r.work, "add", "--all")
	Run(r.t, r.work, "commit", "--quiet", "--message", "commit")
	Run(r.t, r.work, "push", "--quiet", "--force", r.Bare, "main")
	return Run(r.t, r.work, "rev-parse", "HEAD")
}

// Link makes a symbolic link in the working copy, for the next Commit.
func (r *Repo) Link(name, target string) {
	r.t.Helper()
	p := filepath.Join(r.work, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
}

// Tag points a lightweight tag at the working copy's HEAD, moving it if it
// exists, and pushes it.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	Run(r.t, r.work, "tag", "--force", name)
	Run(r.t, r.work, "push", "--quiet", "--force", r.Bare, "refs/tags/"+name)
}

// Run runs git in dir with a fixed identity and date and no user or
// system configuration, and returns its trimmed output.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=xflow test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=xflow test", "GIT_COMMITTER_EMAIL=test@example.com",
		// Fixed dates make the commit hashes of the same files the same in
		// every run, so that golden files may show them.
		"GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// CacheDir returns a temporary cache folder for xflow that the test
// removes at its end, although checkouts in it are read-only.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xflow-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveAll(dir) })
	return dir
}

// RemoveAll removes a folder that holds read-only ones.
func RemoveAll(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
