// Package exampletest copies the wordcount example for tests that write
// beside it (a state folder, an app, a lock file) or change it: its
// config, its functions' folders and their shared package, without what
// running it left behind.
package exampletest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Dir is the example's folder in this repository.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("exampletest: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "wordcount")
}

// Copy copies the example into a new temporary folder and returns it.
// With a prefix, the copy's config names every resource with it
// (general.name_prefix), so that tests sharing one emulator never collide.
func Copy(t testing.TB, prefix string) string {
	t.Helper()
	src, dst := Dir(t), t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := d.Name()
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(name, ".") || name == "__pycache__") {
				return filepath.SkipDir // .xflow: state, app, cloud assembly
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "xflow.yaml" && prefix != "" {
			b = []byte(strings.Replace(string(b), "general:\n", "general:\n  name_prefix: "+prefix+"\n", 1))
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
