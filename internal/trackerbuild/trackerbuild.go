// Package trackerbuild builds the tracker Lambda's binary (bootstrap,
// linux/arm64) from xflow's sources, cached by content. It imports no CDK
// package, so that both sides of a synth can call it: the generated app
// (through constructs.BuildTracker), and xflow itself, which builds the
// tracker from the sources packaged in the app while it compiles the app,
// so that the app's own call finds it in the cache.
package trackerbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// trackerPackage is the tracker Lambda's main package in the xflow module.
const trackerPackage = "./internal/tracker/lambda"

// trackerSourceDirs are the folders of the xflow module whose Go files the
// tracker binary is built from: its main package, the tracker package and
// the naming rules. Its other dependencies are modules, pinned by go.mod
// and go.sum, which are part of the key too. A new in-module import of the
// tracker must be added here, or its changes will not rebuild the binary.
var trackerSourceDirs = []string{"internal/tracker", "internal/names"}

// trackerBuildEnv is the target of the tracker binary. GOARM64 is pinned
// so that a GOARM64 in the user's environment cannot change the bytes
// behind an unchanged cache key; GOWORK=off keeps a go.work file above the
// module out of the build.
var trackerBuildEnv = []string{"GOOS=linux", "GOARCH=arm64", "GOARM64=v8.0", "CGO_ENABLED=0", "GOWORK=off"}

// trackerKeyEnv are the variables of the user's environment that change
// what `go build` produces, so they are part of the cache key.
var trackerKeyEnv = []string{"GOFLAGS", "GOEXPERIMENT", "GOTOOLCHAIN"}

// envCacheDir overrides the folder where xflow caches what it builds.
const envCacheDir = "XFLOW_CACHE_DIR"

// Binary is the name of the tracker's executable in its asset folder, as
// the provided.al2023 runtime runs it.
const Binary = "bootstrap"

// goCommand runs the go tool; tests replace it to count the runs.
var goCommand = exec.CommandContext

// tickEvery is how often a build in progress says it still is; tests
// shorten it.
var tickEvery = 15 * time.Second

// Build builds the tracker Lambda's binary (bootstrap, linux/arm64) from
// moduleDir/internal/tracker/lambda and returns the folder that holds it, to be
// used as the tracker's asset (constructs.AppOptions.TrackerAssetDir).
// moduleDir is the xflow module, or a copy of it holding at least go.mod,
// go.sum and the tracker's sources.
//
// The build needs no network (the module's dependencies come from the
// module cache or the vendor folder, as the user's GOFLAGS and GOPROXY
// say) and is reproducible: -trimpath, no VCS stamp, stripped symbols, so
// the same sources give the same bytes, and the CDK asset hash, hence the
// deployed function, does not change when nothing changed.
//
// The result is cached by content, under $XFLOW_CACHE_DIR (default: the
// user's cache folder)/xflow/tracker/<key>, where the key covers the Go
// toolchain's version, go.mod, go.sum and the tracker's Go sources. A
// cache hit runs no go command at all. A build goes to a temporary folder
// that is renamed into place, so concurrent synths are safe. A cold build
// compiles the AWS SDK for arm64 and may take minutes: it says every
// tickEvery that it is still under way.
func Build(ctx context.Context, moduleDir string, progress io.Writer) (assetDir string, err error) {
	if progress == nil {
		progress = io.Discard
	}
	moduleDir, err = filepath.Abs(moduleDir)
	if err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	if !HasSources(moduleDir) {
		return "", fmt.Errorf("build tracker: %s has no %s package (is it the xflow module?)", moduleDir, trackerPackage)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build tracker: the tracker Lambda is compiled with Go at synth time, and no go command was found: %w", err)
	}
	root, err := CacheDir()
	if err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	version, err := goVersion(ctx, goBin, moduleDir, filepath.Join(root, "goversion"))
	if err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	key, err := trackerKey(moduleDir, version)
	if err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	dir := filepath.Join(root, "tracker", key)
	if fi, err := os.Stat(filepath.Join(dir, Binary)); err == nil && fi.Mode().IsRegular() {
		fmt.Fprintf(progress, "xflow: tracker Lambda is up to date (%s)\n", dir)
		return dir, nil
	}

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	fmt.Fprintf(progress, "xflow: building the tracker Lambda (go build, linux/arm64)\n")
	start := time.Now()
	stop := tick(progress, "the tracker Lambda", start)
	cmd := goCommand(ctx, goBin, "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags=-s -w", "-o", filepath.Join(tmp, Binary), trackerPackage)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), trackerBuildEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	stop()
	if err != nil {
		return "", fmt.Errorf("build tracker: go build %s in %s: %w\n%s", trackerPackage, moduleDir, err, strings.TrimSpace(out.String()))
	}
	// Lambda runs bootstrap as an executable, whatever the umask was.
	if err := os.Chmod(filepath.Join(tmp, Binary), 0o755); err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("build tracker: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another synth built the same key meanwhile: use its result, the
		// bytes are the same.
		if fi, statErr := os.Stat(filepath.Join(dir, Binary)); statErr == nil && fi.Mode().IsRegular() {
			return dir, nil
		}
		return "", fmt.Errorf("build tracker: %w", err)
	}
	fmt.Fprintf(progress, "xflow: built the tracker Lambda in %s\n", time.Since(start).Round(100*time.Millisecond))
	return dir, nil
}

// HasSources says whether moduleDir holds the tracker's main package, as
// the xflow module and the sources packaged in a generated app do.
func HasSources(moduleDir string) bool {
	fi, err := os.Stat(filepath.Join(moduleDir, filepath.FromSlash(trackerPackage)))
	return err == nil && fi.IsDir()
}

// tick writes "xflow: still building WHAT (elapsed)" every tickEvery until
// stopped, so that a long build is not silent.
func tick(w io.Writer, what string, start time.Time) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "xflow: still building %s (%s)\n", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped // no tick after the build's last line
	}
}

// CacheDir is the folder where xflow and the generated app cache what they
// build: $XFLOW_CACHE_DIR, else the user's cache folder plus "xflow" (as
// internal/nodejs says, which the app does not package).
func CacheDir() (string, error) {
	if d := os.Getenv(envCacheDir); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache folder (set %s): %w", envCacheDir, err)
	}
	return filepath.Join(d, "xflow"), nil
}

// goVersion returns the output of `go version` run in moduleDir, the
// toolchain that will build the tracker. It is remembered per go binary
// (path, size, modification time) and toolchain setting, so that a cache
// hit of the tracker runs no go command.
func goVersion(ctx context.Context, goBin, moduleDir, memoDir string) (string, error) {
	resolved, err := filepath.EvalSymlinks(goBin)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(moduleDir, "go.mod"))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	// go.mod is in the memo key because its go and toolchain lines may make
	// the go command switch to another toolchain.
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s\x00%s\x00", resolved, fi.Size(), fi.ModTime().UnixNano(), os.Getenv("GOTOOLCHAIN"), os.Getenv("GOROOT"))
	h.Write(gomod)
	memo := filepath.Join(memoDir, hex.EncodeToString(h.Sum(nil))[:32])
	if b, err := os.ReadFile(memo); err == nil && len(b) > 0 {
		return string(b), nil
	}
	cmd := goCommand(ctx, goBin, "version")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("go version: %w %s", err, bytes.TrimSpace(stderr))
	}
	version := strings.TrimSpace(string(out))
	if err := writeFileAtomic(memo, []byte(version)); err != nil {
		return "", err
	}
	return version, nil
}

// trackerKey hashes everything the tracker binary is built from: the
// toolchain, the build settings, go.mod, go.sum and the Go files (not
// tests) of trackerSourceDirs, each with its slash-separated path.
func trackerKey(moduleDir, goVersion string) (string, error) {
	h := sha256.New()
	field := func(name string, value []byte) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(value))
		h.Write(value)
	}
	field("go-version", []byte(goVersion))
	field("build", []byte(strings.Join(trackerBuildEnv, " ")+" "+trackerPackage))
	for _, k := range trackerKeyEnv {
		field("env:"+k, []byte(os.Getenv(k)))
	}
	files := []string{"go.mod"}
	// A module without dependencies has no go.sum.
	if _, err := os.Stat(filepath.Join(moduleDir, "go.sum")); err == nil {
		files = append(files, "go.sum")
	}
	for _, d := range trackerSourceDirs {
		err := filepath.WalkDir(filepath.Join(moduleDir, d), func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if e.Type().IsRegular() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				rel, err := filepath.Rel(moduleDir, path)
				if err != nil {
					return err
				}
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(moduleDir, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		field("file:"+f, b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
