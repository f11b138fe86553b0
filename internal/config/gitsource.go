package config

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// GitSource is a lambda's source in a git repository. The config only
// parses it; package sources fetches it, pins the commit in the lock file
// and points the lambda's Code at the checkout.
type GitSource struct {
	// Repo is what git clones: an https, ssh, git or file URL, or
	// user@host:path.
	Repo string
	// Ref is a branch, tag or commit; empty means the default branch.
	Ref string
	// Path is the slash-separated path of the code inside the repository
	// (a file, a folder or a .zip); empty means the whole repository.
	Path string
	// Commit is the commit Ref resolved to, set once the source is fetched.
	Commit string
}

// RefOrHead is the ref as git names it: the default branch is HEAD.
func (g GitSource) RefOrHead() string {
	if g.Ref == "" {
		return "HEAD"
	}
	return g.Ref
}

var (
	// scpRe is git's scp-like syntax, user@host:path.
	scpRe = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)
	// gitRefRe is a conservative subset of git check-ref-format: it never
	// starts with '-', so a ref cannot be taken for an option of git.
	gitRefRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/+-]*$`)
	// githubWebRe is a file or folder as github.com shows it.
	githubWebRe = regexp.MustCompile(`^https://(?:www\.)?github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/(blob|tree)/([^/]+)(?:/(.*))?$`)
)

// gitSchemes are the URL schemes git fetches over; ext:: and the other
// remote helpers are left out on purpose.
var gitSchemes = []string{"https", "http", "ssh", "git", "file"}

// gitForms is the hint for a git source xflow cannot read.
const gitForms = "write https://host/owner/repo.git//path/in/repo?ref=TAG or https://github.com/owner/repo/blob/TAG/path"

// parseGitSource reads the git forms of a source:
//
//	https://github.com/owner/repo.git//path/to/handler.py?ref=v1.2.0
//	git@github.com:owner/repo.git//path?ref=v1.2.0
//	file:///srv/git/repo.git//path?ref=main
//	git::https://git.example.com/team/repo//path?ref=main
//	https://github.com/owner/repo/blob/v1.2.0/path/to/handler.py
//	https://github.com/owner/repo/tree/v1.2.0/path/to/folder
//
// As in go-getter, "//" separates the repository from the path inside it.
// ok is false when src is not a git source: a local path, or a URL of
// something else, such as https://example.com/code.zip.
func parseGitSource(src string) (g GitSource, ok bool, err error) {
	rest, forced := strings.CutPrefix(src, "git::")
	scheme, _, isURL := strings.Cut(rest, "://")
	switch {
	case isURL && !contains(gitSchemes, scheme):
		if forced {
			return g, true, fmt.Errorf("git cannot fetch %s:// URLs; use https, ssh, git or file", scheme)
		}
		return g, false, nil
	case !isURL && !scpRe.MatchString(rest):
		if forced {
			return g, true, fmt.Errorf("%q is not a URL git can fetch", rest)
		}
		return g, false, nil
	}
	if m := githubWebRe.FindStringSubmatch(strings.TrimSuffix(cutFragment(rest), "/")); m != nil && !forced {
		g = GitSource{Repo: "https://github.com/" + m[1] + "/" + strings.TrimSuffix(m[2], ".git") + ".git", Ref: m[4], Path: m[5]}
		if p, err := url.PathUnescape(g.Path); err == nil {
			g.Path = p // as the browser's address bar shows it: %20 for a space
		}
		if m[3] == "blob" && g.Path == "" {
			return g, true, fmt.Errorf("the GitHub link names no file")
		}
		if strings.Contains(rest, "?") {
			return g, true, fmt.Errorf("a GitHub link takes no query; for a branch with '/' in its name write https://github.com/%s/%s.git//PATH?ref=BRANCH", m[1], strings.TrimSuffix(m[2], ".git"))
		}
		return checkGit(g)
	}

	rest, query, _ := strings.Cut(rest, "?")
	// The repository ends at the first "//" after the scheme's.
	head, body := "", rest
	if isURL {
		head, body = scheme+"://", strings.TrimPrefix(rest, scheme+"://")
	}
	repo, sub, hasSub := strings.Cut(body, "//")
	if repo = strings.TrimSuffix(repo, "/"); repo == "" {
		return g, true, fmt.Errorf("names no repository")
	}
	g.Repo = head + repo
	g.Path = sub
	q, err := url.ParseQuery(query)
	if err != nil {
		return g, true, fmt.Errorf("the query %q is not valid: %v", query, err)
	}
	github := strings.HasPrefix(g.Repo, "https://github.com/")
	if isURL && !forced && scheme != "file" && !hasSub && !q.Has("ref") && !github && !strings.HasSuffix(g.Repo, ".git") {
		// https://example.com/code.zip is a download, not a repository.
		return g, false, nil
	}
	keys := slices.Sorted(maps.Keys(q))
	for _, k := range keys {
		if k != "ref" {
			return g, true, fmt.Errorf("%q is not a parameter xflow knows; only ?ref= is", k)
		}
	}
	if q.Has("ref") {
		if v := q["ref"]; len(v) != 1 || v[0] == "" {
			return g, true, fmt.Errorf("?ref= names no branch, tag or commit")
		}
		g.Ref = q.Get("ref")
	}
	if github && !strings.HasSuffix(g.Repo, ".git") {
		g.Repo += ".git" // one spelling per repository, for the lock file
	}
	return checkGit(g)
}

func cutFragment(s string) string {
	before, _, _ := strings.Cut(s, "#")
	return before
}

// checkGit checks a parsed source and cleans its path.
func checkGit(g GitSource) (GitSource, bool, error) {
	if err := gitProblem(g); err != nil {
		return g, true, err
	}
	g.Path = path.Clean(g.Path)
	if g.Path == "." {
		g.Path = ""
	}
	return g, true, nil
}

func gitProblem(g GitSource) error {
	switch {
	case g.Repo == "" || strings.HasSuffix(g.Repo, ":"):
		return fmt.Errorf("names no repository")
	case strings.ContainsAny(g.Repo, " \t\n\r\x00") || strings.HasPrefix(g.Repo, "-"):
		return fmt.Errorf("the repository %q is not a URL", g.Repo)
	case g.Ref != "" && (!gitRefRe.MatchString(g.Ref) || strings.Contains(g.Ref, "..") || strings.HasSuffix(g.Ref, "/") || strings.HasSuffix(g.Ref, ".lock")):
		return fmt.Errorf("%q is not a branch, tag or commit name", g.Ref)
	}
	if g.Path != "" {
		clean := path.Clean(g.Path)
		if strings.HasPrefix(g.Path, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(g.Path, "\\\x00") {
			return fmt.Errorf("the path %q is not a path inside the repository", g.Path)
		}
	}
	return nil
}
