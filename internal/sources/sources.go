// Package sources fetches the lambda sources that live in git
// repositories, such as
//
//	source: https://github.com/owner/repo.git//path/to/handler.py?ref=v1.2.0
//
// Each repository is mirrored once into xflow's cache
// ($XFLOW_CACHE_DIR/git/<hash of the URL>/mirror.git) and checked out once
// per commit, read-only, beside the mirror. The commit each URL and ref
// resolved to is pinned in a lock file beside the config (xflow.lock), and
// later runs use the pinned commit, without network once it is in the
// cache, until they are asked to update. xflow runs the git binary, so
// private repositories work with the user's own credentials, SSH keys and
// git configuration.
//
// It is a package of its own because fetching is the only part of
// compiling a config that needs a network and a cache; the config only
// parses a git source, and the generator and the local runtime see a local
// file or folder, the checkout.
package sources

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// Options say how to resolve a config's git sources.
type Options struct {
	// Update resolves every ref to its current commit instead of the one
	// pinned in the lock file (xflow synth --update-sources).
	Update bool
	// CacheDir holds the mirrors and checkouts; empty means xflow's cache
	// ($XFLOW_CACHE_DIR, else the user's cache folder plus "xflow").
	CacheDir string
	// Progress receives a line for each fetch and each new pin; nil
	// discards them.
	Progress io.Writer
	// Now dates new lock entries; nil means time.Now.
	Now func() time.Time
}

// Resolve fetches the git sources of a loaded config and points each one's
// Code at its checkout, as if the config named a local file, folder or
// package. It returns the lock file to Save once the command that needs
// the sources has succeeded, so that a failing command leaves the lock as
// it was; a config without git sources gives a nil Lock, whose Save does
// nothing.
//
// A source that cannot be fetched (unreachable repository, unknown ref,
// path missing from the repository) is a config.Errors naming the
// source's line, every such problem at once.
func Resolve(ctx context.Context, c *config.Config, opts Options) (*Lock, error) {
	var uses []int
	for i, l := range c.Lambdas {
		if l.Code.Kind == config.CodeGit {
			uses = append(uses, i)
		}
	}
	if len(uses) == 0 {
		return nil, nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, config.Errors{c.SourceError(uses[0], "install git, or use a local path", "xflow runs git to fetch this source, and git is not on PATH")}
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheDir == "" {
		dir, err := nodejs.CacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = dir
	}
	old, err := ReadLock(LockPath(c))
	if err != nil {
		return nil, err
	}

	res := &resolver{ctx: ctx, opts: opts, old: old, repos: map[string]*repo{}, pins: map[pinKey]pinned{}}
	defer res.close()
	var errs config.Errors
	for _, i := range uses {
		g := c.Lambdas[i].Code.Git
		p := res.pin(g.Repo, g.RefOrHead())
		if p.problem != nil {
			errs = append(errs, c.SourceError(i, p.problem.hint, "%s", p.problem.msg))
			continue
		}
		full, prob := inCheckout(p.dir, g, p.entry)
		if prob != nil {
			errs = append(errs, c.SourceError(i, prob.hint, "%s", prob.msg))
			continue
		}
		g.Commit = p.entry.Commit
		shown := g.Path
		if shown == "" {
			shown = g.Repo
		}
		errs = append(errs, c.UseCheckout(i, full, shown)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	lock := &Lock{path: old.path}
	for _, p := range res.pins {
		lock.Entries = append(lock.Entries, p.entry)
	}
	lock.sort()
	lock.changed = !lock.equal(old)
	return lock, nil
}

// problem is what is wrong with a source, to be reported on its line.
type problem struct{ msg, hint string }

type pinKey struct{ repo, ref string }

// pinned is one URL and ref resolved: its lock entry and checkout, or the
// problem that stopped it.
type pinned struct {
	entry   Entry
	dir     string
	problem *problem
}

type resolver struct {
	ctx   context.Context
	opts  Options
	old   *Lock
	repos map[string]*repo
	pins  map[pinKey]pinned
}

func (r *resolver) close() {
	for _, rp := range r.repos {
		rp.close()
	}
}

// pin resolves a URL and ref once per run, however many lambdas use it, so
// that they all get the same commit.
func (r *resolver) pin(url, ref string) pinned {
	k := pinKey{url, ref}
	if p, ok := r.pins[k]; ok {
		return p
	}
	p := r.resolve(url, ref)
	r.pins[k] = p
	return p
}

func (r *resolver) resolve(url, ref string) pinned {
	rp, err := r.repo(url)
	if err != nil {
		return pinned{problem: &problem{msg: err.Error()}}
	}
	lockName := filepath.Base(r.old.path)
	e, locked := r.old.find(url, ref)
	if !locked || r.opts.Update {
		if prob := rp.fetch(r.ctx, r.opts.Progress); prob != nil {
			return pinned{problem: prob}
		}
		commit, prob := rp.resolve(r.ctx, ref)
		if prob != nil {
			return pinned{problem: prob}
		}
		switch {
		case !locked:
			fmt.Fprintf(r.opts.Progress, "xflow: %s %s is commit %s\n", url, ref, short(commit))
			e = Entry{Repo: url, Ref: ref, Commit: commit, Resolved: r.opts.Now().UTC().Truncate(time.Second)}
		case e.Commit != commit:
			fmt.Fprintf(r.opts.Progress, "xflow: %s %s moved from commit %s to %s\n", url, ref, short(e.Commit), short(commit))
			e = Entry{Repo: url, Ref: ref, Commit: commit, Resolved: r.opts.Now().UTC().Truncate(time.Second)}
		}
	}
	if dir, ok := rp.checkedOut(e.Commit); ok {
		return pinned{entry: e, dir: dir} // no git at all: pinned and cached
	}
	if !rp.has(r.ctx, e.Commit) {
		if prob := rp.fetch(r.ctx, r.opts.Progress); prob != nil {
			return pinned{problem: prob}
		}
		if !rp.has(r.ctx, e.Commit) {
			return pinned{problem: &problem{
				msg:  fmt.Sprintf("commit %s, pinned in %s for %s %s, is not in the repository any more", short(e.Commit), lockName, url, ref),
				hint: "run xflow synth --update-sources to pin the ref's current commit",
			}}
		}
	}
	dir, err := rp.checkout(r.ctx, e.Commit)
	if err != nil {
		return pinned{problem: &problem{msg: fmt.Sprintf("check out %s of %s: %v", short(e.Commit), url, err)}}
	}
	return pinned{entry: e, dir: dir}
}

func (r *resolver) repo(url string) (*repo, error) {
	if rp, ok := r.repos[url]; ok {
		return rp, nil
	}
	rp, err := openRepo(filepath.Join(r.opts.CacheDir, "git"), url)
	if err != nil {
		return nil, err
	}
	r.repos[url] = rp
	return rp, nil
}

// inCheckout returns the local path of a source's code in its checkout.
// The path must exist and stay inside the checkout: a link out of it would
// package a file of this machine into the function.
func inCheckout(dir string, g *config.GitSource, e Entry) (string, *problem) {
	full := filepath.Join(dir, filepath.FromSlash(g.Path))
	at := fmt.Sprintf("%s at %s (commit %s)", g.Repo, e.Ref, short(e.Commit))
	if _, err := os.Lstat(full); err != nil {
		return "", &problem{msg: fmt.Sprintf("%s is not in %s", g.Path, at), hint: pathHint(dir, g.Path)}
	}
	real, err := filepath.EvalSymlinks(full)
	root, rootErr := filepath.EvalSymlinks(dir)
	if err != nil || rootErr != nil {
		return "", &problem{msg: fmt.Sprintf("%s in %s is a broken link", g.Path, at)}
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", &problem{msg: fmt.Sprintf("%s in %s links out of the repository", g.Path, at), hint: "name the file the link points to, inside the repository"}
	}
	return full, nil
}

// pathHint suggests the path the user most likely meant, else lists the
// deepest existing folder on the way.
func pathHint(dir, want string) string {
	var all []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir && len(all) < 20000 {
			rel, _ := filepath.Rel(dir, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	if c := didyoumean.Closest(want, all); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	for _, c := range all { // the same name in another folder
		if path.Base(c) == path.Base(want) {
			return fmt.Sprintf("did you mean %q?", c)
		}
	}
	parent := path.Dir(want)
	for ; parent != "."; parent = path.Dir(parent) {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(parent))); err == nil && fi.IsDir() {
			break
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, filepath.FromSlash(parent)))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	where := parent + "/"
	if parent == "." {
		where = "the repository's top level"
	}
	if len(names) == 0 {
		return where + " is empty"
	}
	if len(names) > 8 {
		names = append(names[:8], "…")
	}
	return fmt.Sprintf("%s holds %s", where, strings.Join(names, ", "))
}

// short abbreviates a commit hash for messages.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
