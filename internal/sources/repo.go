package sources

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xflowhq/xflow/internal/didyoumean"
)

// repo is one repository's folder in the cache: the bare mirror and one
// read-only checkout per commit, which is never changed once in place.
type repo struct {
	url string
	dir string // <cache>/git/<hash of url>
	// unlock releases the folder, locked while this run uses it so that
	// two runs do not fetch into the same mirror at once.
	unlock func()
	// fetched says the mirror was cloned or fetched in this run; err is
	// that fetch's problem, if any.
	fetched bool
	err     *problem
}

func openRepo(cache, url string) (*repo, error) {
	sum := sha256.Sum256([]byte(url))
	dir := filepath.Join(cache, hex.EncodeToString(sum[:16]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the cache folder of %s: %w", url, err)
	}
	unlock, exclusive, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock the cache folder %s: %w", dir, err)
	}
	if exclusive {
		// Leftovers of a run that was killed; nobody else is writing.
		old, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
		for _, p := range old {
			removeAll(p)
		}
	}
	// For whoever looks into the cache: which URL this folder mirrors.
	if _, err := os.Stat(filepath.Join(dir, "url")); err != nil {
		os.WriteFile(filepath.Join(dir, "url"), []byte(url+"\n"), 0o644)
	}
	return &repo{url: url, dir: dir, unlock: unlock}, nil
}

func (r *repo) close() { r.unlock() }

func (r *repo) mirror() string { return filepath.Join(r.dir, "mirror.git") }

// fetch brings the mirror up to date with the remote, cloning it the first
// time; once per run.
func (r *repo) fetch(ctx context.Context, progress io.Writer) *problem {
	if r.fetched {
		return r.err
	}
	r.fetched = true
	var err error
	if _, statErr := os.Stat(r.mirror()); statErr == nil {
		fmt.Fprintf(progress, "xflow: fetching %s\n", r.url)
		_, err = git(ctx, "--git-dir="+r.mirror(), "fetch", "--quiet", "--prune", "origin")
	} else {
		fmt.Fprintf(progress, "xflow: cloning %s\n", r.url)
		err = r.clone(ctx)
	}
	if err != nil {
		r.err = &problem{
			msg:  fmt.Sprintf("cannot fetch %s: %v", r.url, err),
			hint: "check the URL, and that git can read the repository with your credentials: git ls-remote " + r.url,
		}
	}
	return r.err
}

// clone makes the mirror in a temporary folder renamed into place, so that
// a failed clone leaves no mirror behind.
func (r *repo) clone(ctx context.Context) error {
	tmp, err := os.MkdirTemp(r.dir, ".tmp-mirror-")
	if err != nil {
		return err
	}
	defer removeAll(tmp)
	m := filepath.Join(tmp, "mirror.git")
	// "--" ends the options: the URL comes from the config.
	if _, err := git(ctx, "clone", "--mirror", "--quiet", "--", r.url, m); err != nil {
		return err
	}
	return os.Rename(m, r.mirror())
}

// resolve returns the commit a ref names in the mirror: a tag, a branch,
// a full ref name or a commit hash, as git rev-parse reads it.
func (r *repo) resolve(ctx context.Context, ref string) (string, *problem) {
	out, err := git(ctx, "--git-dir="+r.mirror(), "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	if err == nil {
		return strings.TrimSpace(out), nil
	}
	refs, _ := git(ctx, "--git-dir="+r.mirror(), "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags")
	names := strings.Fields(refs)
	slices.Sort(names)
	return "", &problem{
		msg:  fmt.Sprintf("ref %q is not a branch, tag or commit of %s", ref, r.url),
		hint: didyoumean.Hint(ref, names, "its branches and tags are"),
	}
}

// has reports whether the mirror holds a commit.
func (r *repo) has(ctx context.Context, commit string) bool {
	_, err := git(ctx, "--git-dir="+r.mirror(), "cat-file", "-e", commit+"^{commit}")
	return err == nil
}

// checkout returns the folder holding a commit's files, checking it out
// the first time. The files are written into a temporary folder, made
// read-only and renamed into place, so a checkout is either complete or
// absent, and never edited afterwards.
func (r *repo) checkout(ctx context.Context, commit string) (string, error) {
	if dst, ok := r.checkedOut(commit); ok {
		return dst, nil
	}
	dst := filepath.Join(r.dir, commit)
	// Beside dst, so that the rename does not move the read-only folder
	// to another parent, which would need write permission on it.
	tree, err := os.MkdirTemp(r.dir, ".tmp-checkout-")
	if err != nil {
		return "", err
	}
	defer removeAll(tree) // a no-op once renamed
	// A private index, so that the mirror is never written to: several
	// checkouts may run at once.
	index := tree + ".index"
	defer os.Remove(index)
	env := []string{"GIT_INDEX_FILE=" + index}
	if _, err := gitEnv(ctx, env, "--git-dir="+r.mirror(), "--work-tree="+tree, "read-tree", "--reset", "-u", commit); err != nil {
		return "", err
	}
	if err := readOnly(tree); err != nil {
		return "", err
	}
	if err := os.Rename(tree, dst); err != nil {
		if fi, statErr := os.Stat(dst); statErr == nil && fi.IsDir() {
			return dst, nil // another run checked it out meanwhile
		}
		return "", err
	}
	return dst, nil
}

// checkedOut returns the folder of a commit already checked out.
func (r *repo) checkedOut(commit string) (string, bool) {
	dst := filepath.Join(r.dir, commit)
	fi, err := os.Stat(dst)
	return dst, err == nil && fi.IsDir()
}

// git runs git and returns its output. Its error is git's own message.
func git(ctx context.Context, args ...string) (string, error) {
	return gitEnv(ctx, nil, args...)
}

// repoEnv are the variables that tie git to a repository; one inherited
// from a git hook would make git act on the user's repository instead.
var repoEnv = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX"}

func gitEnv(ctx context.Context, extra []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(repoEnv, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// No prompt for a password: xflow may run under the CDK CLI or in CI,
	// where nobody answers. Credential helpers and SSH keys still work.
	cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", gitError(stderr.String(), err)
	}
	return stdout.String(), nil
}

// gitError keeps the line of git's output that says what went wrong.
func gitError(stderr string, err error) error {
	for _, line := range strings.Split(stderr, "\n") {
		for _, prefix := range []string{"fatal: ", "error: "} {
			if msg, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				return fmt.Errorf("%s", msg)
			}
		}
	}
	if s := strings.TrimSpace(stderr); s != "" {
		return fmt.Errorf("%s", s)
	}
	return err
}

// readOnly removes the write permission from everything under dir, dir
// included, so that nobody edits a checkout by mistake.
func readOnly(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return os.Chmod(p, fi.Mode().Perm()&^0o222)
		}
		return nil // symbolic links have no permissions of their own
	})
	if err != nil {
		return err
	}
	// Deepest first: a folder made read-only can no longer be changed.
	for _, d := range slices.Backward(dirs) {
		if err := os.Chmod(d, 0o555); err != nil {
			return err
		}
	}
	return nil
}

// removeAll removes a folder that may hold read-only folders.
func removeAll(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(dir)
}
