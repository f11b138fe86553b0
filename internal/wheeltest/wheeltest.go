// Package wheeltest writes Python wheels and local Python packages for
// tests of the Python builds. These machines reach no Python package
// index and cannot build a wheel with pip (the wheel package is missing),
// so tests make their own: a wheel is a zip with a .dist-info folder
// holding METADATA, WHEEL and RECORD.
package wheeltest

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// T is what the helpers need of a test (a *testing.T), or of a benchmark
// command that stops on the first error.
type T interface {
	Helper()
	Fatal(args ...any)
}

// Wheel writes name-version-tag.whl into dir with files (path in the
// wheel → content) and returns its path. tag is a wheel tag such as
// py3-none-any or cp311-cp311-linux_x86_64; requires are Requires-Dist
// lines.
func Wheel(t T, dir, name, version, tag string, files map[string]string, requires ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dist := strings.ReplaceAll(name, "-", "_")
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.whl", dist, version, tag))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := zip.NewWriter(f)
	var record []string
	add := func(name, content string) {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		record = append(record, fmt.Sprintf("%s,sha256=%s,%d", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(content)))
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		add(p, files[p])
	}
	info := fmt.Sprintf("%s-%s.dist-info", dist, version)
	meta := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)
	for _, r := range requires {
		meta += "Requires-Dist: " + r + "\n"
	}
	add(info+"/METADATA", meta)
	purelib := "true"
	if !strings.HasSuffix(tag, "-none-any") {
		purelib = "false"
	}
	add(info+"/WHEEL", fmt.Sprintf("Wheel-Version: 1.0\nGenerator: xflow-wheeltest\nRoot-Is-Purelib: %s\nTag: %s\n", purelib, tag))
	record = append(record, info+"/RECORD,,")
	w, err := z.Create(info + "/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(strings.Join(record, "\n") + "\n"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// backend is a PEP 517 build backend of a few lines, kept inside the
// package it builds (backend-path), so that pip builds the package with no
// index to fetch setuptools from: it packs the package's folder of the
// same name into a pure-Python wheel.
const backend = `import base64, hashlib, os, zipfile

NAME, VERSION = %q, %q


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = NAME.replace("-", "_")
    name = f"{dist}-{VERSION}-py3-none-any.whl"
    info = f"{dist}-{VERSION}.dist-info"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        def add(arc, data):
            z.writestr(zipfile.ZipInfo(arc, (1980, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(data)}")
        for root, dirs, files in os.walk(dist):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for f in sorted(files):
                path = os.path.join(root, f)
                with open(path, "rb") as src:
                    add(path.replace(os.sep, "/"), src.read())
        requires = "".join(f"Requires-Dist: {r}\n" for r in %s)
        add(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n{requires}".encode())
        add(f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: xflow-wheeltest\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        record.append(f"{info}/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"{info}/RECORD", (1980, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
    return name
`

// LocalPackage writes, in dir, a Python project that pip can install from
// its folder without an index: pyproject.toml, an in-tree build backend,
// and the package name/ with modules (file name → content).
func LocalPackage(t T, dir, name, version string, modules map[string]string, requires ...string) {
	t.Helper()
	dist := strings.ReplaceAll(name, "-", "_")
	quoted := make([]string, len(requires))
	for i, r := range requires {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	files := map[string]string{
		"pyproject.toml": fmt.Sprintf("[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n[project]\nname = %q\nversion = %q\ndependencies = [%s]\n", name, version, strings.Join(quoted, ", ")),
		"backend.py":     fmt.Sprintf(backend, name, version, "["+strings.Join(quoted, ", ")+"]"),
	}
	for f, content := range modules {
		files[filepath.Join(dist, f)] = content
	}
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
