package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// linkOut is a symbolic link in a source folder that points outside it.
type linkOut struct {
	link   string // the link's path in the folder, slash-separated
	target string // what it points to, as written in the link
}

// linksOutOf returns the links in the folder root (at any depth) whose
// target is outside root: packaging follows links, so such a link would
// put a file of the machine running xflow, such as /etc/os-release or a
// key in the user's home, into the function. A link within the folder is
// fine, and so is a broken one that would stay inside.
func linksOutOf(root string) ([]linkOut, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var out []linkOut
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil // packaging says what it cannot read
			}
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			// Broken: judge where it points as written.
			resolved = target
			if !filepath.IsAbs(resolved) {
				resolved = filepath.Join(filepath.Dir(p), resolved)
			}
			if within(root, resolved) {
				return nil
			}
		}
		if !within(realRoot, resolved) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, linkOut{link: filepath.ToSlash(rel), target: target})
		}
		return nil
	})
	return out, err
}

// within reports whether path is root or inside it; both are clean,
// absolute paths.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
