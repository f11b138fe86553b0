package build

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/xflowhq/xflow/internal/config"
)

// copyBuild packages a file or a folder as it is: a file alone at the
// package's root (as bootstrap for a provided.* runtime, the name Lambda
// runs), a folder whole but for what is never packaged.
func (b *Builder) copyBuild(_ context.Context, s source) (*Artifact, error) {
	path := s.l.Code.Path
	name := filepath.Base(path)
	if config.RuntimeFamily(s.l.Runtime) == "provided" && s.l.Code.Kind == config.CodeFile {
		name = "bootstrap"
	}
	// The same bytes serve every target: one cache entry for all.
	ks := s
	ks.target = Lambda
	k := newKey(KindCopy, ks)
	k.field("name", name)
	if err := k.tree("source", path, skipAlways); err != nil {
		return nil, s.fail(err, fmt.Sprintf("read its source: %v", err), "", "")
	}
	key := k.sum()
	defer b.lockKey(key)()
	if a := b.cached(key); a != nil {
		a.Target = s.target
		return a, nil
	}
	// Refuse an oversized source before copying it.
	if size, _, err := treeSizeSkip(path, skipAlways); err == nil && size > MaxUnzippedBytes {
		return nil, tooLarge(s, path, size)
	}
	start := time.Now()
	dir, err := b.staging(s)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // a no-op once committed
	if err := copyTree(path, dir, name, skipAlways); err != nil {
		return nil, s.fail(err, fmt.Sprintf("copy its source: %v", err), "", "")
	}
	a, err := b.commit(s, key, dir, &Artifact{Kind: KindCopy}, start)
	if err != nil {
		return nil, err
	}
	out := *a
	out.Target = s.target
	return &out, nil
}

// treeSizeSkip is treeSize leaving out what skip says.
func treeSizeSkip(root string, skip func(string, fs.DirEntry) bool) (size int64, files int, err error) {
	fi, err := os.Stat(root)
	if err != nil {
		return 0, 0, err
	}
	if !fi.IsDir() {
		return fi.Size(), 1, nil
	}
	err = walkTree(root, skip, func(_ string, d fs.DirEntry) error {
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
			files++
		}
		return nil
	})
	return size, files, err
}

// zipArtifact is a ready .zip or .jar package: deployed as it is, after
// checking its unzipped size.
func (b *Builder) zipArtifact(s source) (*Artifact, error) {
	path := s.l.Code.Path
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("open its package %s: %v", path, err), "give a valid .zip or .jar", "")
	}
	var size int64
	files := 0
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			size += int64(f.UncompressedSize64)
			files++
		}
	}
	zr.Close()
	if size > MaxUnzippedBytes {
		return nil, s.fail(nil, fmt.Sprintf("its package %s is %s unzipped, over Lambda's limit of 250 MB (%d bytes)", path, humanBytes(size), int64(MaxUnzippedBytes)),
			"leave out what the function does not need, move large data to S3, or package it as a container image", "")
	}
	h := newSHA()
	f, err := os.Open(path)
	if err != nil {
		return nil, s.fail(err, err.Error(), "", "")
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return nil, s.fail(err, err.Error(), "", "")
	}
	sum := fmt.Sprintf("%x", h.Sum(nil))
	return &Artifact{
		Lambda: s.l.Name, Target: Lambda, Kind: KindZip, Source: path, Path: path,
		Key: KindZip + "-" + sum[:32], SHA256: sum, Size: size, Files: files, Cached: true,
	}, nil
}

// unzip unpacks a zip artifact for local mode, once per content.
func (b *Builder) unzip(ctx context.Context, s source, zipped *Artifact) (*Artifact, error) {
	key := "unzip-" + zipped.Key
	defer b.lockKey(key)()
	a := b.cached(key)
	if a == nil {
		start := time.Now()
		dir, err := b.staging(s)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if err := extractZip(zipped.Path, dir); err != nil {
			return nil, s.fail(err, fmt.Sprintf("unpack %s: %v", zipped.Path, err), "", "")
		}
		if a, err = b.commit(s, key, dir, &Artifact{Kind: KindZip}, start); err != nil {
			return nil, err
		}
	}
	out := *a
	out.Target = Host
	if err := b.attachInterpreter(ctx, s, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func extractZip(path, dir string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the package", f.Name)
		}
		p := filepath.Join(dir, name)
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := f.Mode().Perm()
		if name == "bootstrap" || mode == 0 {
			mode |= 0o755 // zips made on Windows lose the executable bit
		}
		if err := extractFile(f, p, mode); err != nil {
			return err
		}
	}
	return nil
}

func extractFile(f *zip.File, path string, mode fs.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
