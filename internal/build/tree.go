package build

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Entries never packaged: version control, xflow's own state folder,
// Python's bytecode (machine-specific, and Lambda's task root is read-only
// anyway) and macOS's folder metadata.
var neverPackaged = map[string]bool{".git": true, ".hg": true, ".svn": true, ".xflow": true, "__pycache__": true, ".DS_Store": true}

// skipAlways leaves out what is never packaged.
func skipAlways(_ string, d fs.DirEntry) bool { return neverPackaged[d.Name()] }

// skipInstalled also leaves out what a build installs afresh: node_modules
// and Python virtual environments (a folder with pyvenv.cfg), which hold
// what was installed for this machine, not for Lambda.
func skipInstalled(root string) func(string, fs.DirEntry) bool {
	return func(rel string, d fs.DirEntry) bool {
		if skipAlways(rel, d) || d.IsDir() && d.Name() == "node_modules" {
			return true
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(root, rel, "pyvenv.cfg")); err == nil {
				return true
			}
		}
		return false
	}
}

// walkTree calls fn for every entry under root but root itself, in
// lexical order, leaving out what skip says (and, for a folder, all it
// holds).
func walkTree(root string, skip func(rel string, d fs.DirEntry) bool, fn func(rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return fn(rel, d)
	})
}

// linkTarget reads a symbolic link under root and refuses one that leaves
// root: it would package a file of the building machine.
func linkTarget(root, rel string) (string, error) {
	p := filepath.Join(root, rel)
	target, err := os.Readlink(p)
	if err != nil {
		return "", err
	}
	resolved := target
	if !filepath.IsAbs(resolved) {
		resolved = filepath.Join(filepath.Dir(p), target)
	}
	in, err := filepath.Rel(root, filepath.Clean(resolved))
	if err != nil || filepath.IsAbs(target) || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("the link %s points to %s, outside the source folder %s: the package would hold a file of this machine (copy the file into the folder, or make the link relative and inside it)", p, target, root)
	}
	return target, nil
}

// hashTree streams a file, or every entry under a folder in lexical order,
// into h with its slash-separated path, whether it is executable, its
// size and content; a link by its target.
func hashTree(h io.Writer, root string, skip func(rel string, d fs.DirEntry) bool) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return hashFile(h, root, filepath.Base(root), fi)
	}
	return walkTree(root, skip, func(rel string, d fs.DirEntry) error {
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := linkTarget(root, rel)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link\x00%s\x00%s\x00", filepath.ToSlash(rel), filepath.ToSlash(target))
		case d.IsDir():
			fmt.Fprintf(h, "dir\x00%s\x00", filepath.ToSlash(rel))
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return hashFile(h, filepath.Join(root, rel), rel, fi)
		}
		return nil
	})
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func hashFile(h io.Writer, path, rel string, fi fs.FileInfo) error {
	fmt.Fprintf(h, "file\x00%s\x00%t\x00%d\x00", filepath.ToSlash(rel), fi.Mode()&0o111 != 0, fi.Size())
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	_, err = io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{f}, *buf)
	return err
}

// hashOutput is the SHA-256 of a built package (see Artifact.SHA256).
func hashOutput(dir string) (string, error) {
	h := newSHA()
	if err := hashTree(h, dir, nil); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// copyTree copies a file, or a folder's entries but what skip leaves out,
// into dst: files as 0644, or 0755 when executable (whatever the umask
// and checkout gave), links as links. A file is copied under name.
func copyTree(src, dst, name string, skip func(rel string, d fs.DirEntry) bool) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if !fi.IsDir() {
		return copyFile(src, filepath.Join(dst, name), fi.Mode())
	}
	return walkTree(src, skip, func(rel string, d fs.DirEntry) error {
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := linkTarget(src, rel)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(filepath.Join(src, rel), out, info.Mode())
		}
		return nil // sockets, devices: nothing Lambda could use
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	if _, err := io.CopyBuffer(out, in, *buf); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm) // the umask may have taken bits away
}

// treeSize sums the sizes of the files under root (or of root itself), as
// Lambda counts a package unzipped.
func treeSize(root string) (size int64, files int, err error) { return treeSizeSkip(root, nil) }

// LinkTree makes dst a copy of the package at src: hard links to its
// files where the file system allows, copies elsewhere. Artifacts are
// never changed in place, so links are safe and cost no room.
func LinkTree(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if os.Link(src, dst) == nil {
			return nil
		}
		return copyFile(src, dst, fi.Mode())
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return walkTree(src, nil, func(rel string, d fs.DirEntry) error {
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(src, rel))
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			if os.Link(filepath.Join(src, rel), out) == nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(filepath.Join(src, rel), out, info.Mode())
		}
		return nil
	})
}
