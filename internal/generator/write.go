package generator

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/xflowhq/xflow/internal/build"
)

// Write puts the files in dir, with the built packages at their
// ArtifactPath, replacing whatever the folder held, all at once: they are
// written to a temporary sibling folder that is then renamed into place,
// so a failure leaves the previous app untouched. Packages are hard links
// to the build cache where the file system allows (builds never change a
// package in place), copies elsewhere.
func Write(dir string, files Files, artifacts []*build.Artifact) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".new-")
	if err != nil {
		return fmt.Errorf("create temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, p := range files.Paths() {
		full := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", p, err)
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	for _, a := range artifacts {
		p := ArtifactPath(a)
		if err := build.LinkTree(a.Path, filepath.Join(tmp, filepath.FromSlash(p))); err != nil {
			return fmt.Errorf("put the package of %s into the app: %w", a.Lambda, err)
		}
	}
	return replaceDir(tmp, dir)
}

// replaceDir renames src to dst, moving an existing dst aside first and
// removing it after.
func replaceDir(src, dst string) error {
	old := ""
	if _, err := os.Stat(dst); err == nil {
		f, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".old-")
		if err != nil {
			return fmt.Errorf("create temporary folder: %w", err)
		}
		old = filepath.Join(f, "old")
		if err := os.Rename(dst, old); err != nil {
			os.RemoveAll(f)
			return fmt.Errorf("move %s aside: %w", dst, err)
		}
		defer os.RemoveAll(f)
	}
	if err := os.Rename(src, dst); err != nil {
		if old != "" {
			_ = os.Rename(old, dst) // put the previous version back
		}
		return fmt.Errorf("move %s into place: %w", dst, err)
	}
	return nil
}
