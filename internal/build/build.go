// Package build turns a lambda's source into the artifact that runs it:
// the package deployed to Lambda, built for the function's runtime and
// architecture, and the package local mode runs, the same build for this
// machine. It is the one place that compiles, installs or packages a
// handler; synth, deploy, run and the server only ask it for artifacts.
//
// What a source becomes:
//
//   - provided.* with Go code (a folder with go.mod, a folder of .go files
//     in a module, or one .go file): `go build` for linux and the
//     function's architecture, cgo off, -tags lambda.norpc, -trimpath, into
//     bootstrap; for this machine, the same build for its OS and
//     architecture.
//   - python3.x, a folder with requirements.txt or a pyproject.toml with
//     [project] dependencies: the folder plus its dependencies, installed
//     by pip for the function's Python version and architecture (binary
//     wheels only, no Docker); for this machine, the same versions
//     installed for the interpreter local mode runs.
//   - nodejs*, a folder with package.json: the folder plus `npm ci
//     --omit=dev`, or with `bundle: esbuild` a single bundled file; this
//     machine runs the same artifact.
//   - anything else (one file, a folder without a manifest): copied as it
//     is; a .zip is used as it is (and unpacked for this machine).
//
// Artifacts are cached by content under the cache folder: the key covers
// the source tree, the manifest and lock files, the runtime, the
// architecture and the versions of the tools; modification times do not
// count. The same inputs give the same bytes, so the CDK asset hash and
// the deployed function change only when something that matters did.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// Target says whom an artifact is built for.
type Target string

const (
	// Lambda is the function's runtime and architecture on AWS Lambda:
	// what synth and deploy package.
	Lambda Target = "lambda"
	// Host is this machine: what local mode runs.
	Host Target = "host"
)

// Kinds of build.
const (
	KindGo     = "go"      // go build into bootstrap
	KindPython = "python"  // the folder plus pip-installed dependencies
	KindNode   = "nodejs"  // the folder plus npm ci --omit=dev
	KindBundle = "esbuild" // one file bundled by esbuild
	KindCopy   = "copy"    // the file or folder as it is
	KindZip    = "zip"     // a ready .zip or .jar package
)

// Lambda's limits on a package, checked before anything is deployed.
const (
	// MaxUnzippedBytes is the most a function's package may hold unzipped,
	// layers included: Lambda's "250 MB", which its error message gives
	// as 262,144,000 bytes.
	MaxUnzippedBytes = 262_144_000
	// MaxDirectUploadBytes is the most a zipped package may weigh when
	// uploaded directly through the Lambda API. xflow's deploys upload
	// through the CDK's asset bucket, where only MaxUnzippedBytes applies.
	MaxDirectUploadBytes = 50 << 20
)

// Artifact is a built package.
type Artifact struct {
	Lambda string `json:"lambda"`
	Target Target `json:"target"`
	Kind   string `json:"kind"`
	// Tool says what built it: "go1.26.8 linux/arm64", "pip 23.2.1 …".
	Tool string `json:"tool,omitempty"`
	// Source is the lambda's source path.
	Source string `json:"source"`
	// Path is the folder that holds the package, in the cache; for a
	// KindZip artifact of the Lambda target, the archive itself. Treat it
	// as read-only: other artifacts may share its files.
	Path string `json:"path"`
	// Key is the cache key: a hash of everything the artifact is built
	// from.
	Key string `json:"key"`
	// SHA256 hashes what the package holds (paths, executable bits,
	// contents, link targets), the same for the same inputs on any machine.
	SHA256 string `json:"sha256"`
	// Size is the package's size unzipped, in bytes, and Files its count of
	// files.
	Size  int64 `json:"size"`
	Files int   `json:"files"`
	// Cached is true when the artifact came from the cache.
	Cached bool `json:"cached"`
	// Seconds is how long the build took (0 for a cache hit).
	Seconds float64 `json:"seconds"`
	// Interpreter, for python and nodejs functions built for the host, is
	// the interpreter local mode runs the handler with.
	Interpreter *Interpreter `json:"interpreter,omitempty"`
}

// Options tune a Builder.
type Options struct {
	// CacheDir holds the artifacts; empty means "build" in xflow's cache
	// folder ($XFLOW_CACHE_DIR).
	CacheDir string
	// Progress receives one line per build and the warnings; nil discards
	// them.
	Progress io.Writer
	// Force builds even when the cache has the artifact.
	Force bool
	// Python and Node are the interpreters of local mode and of the Python
	// builds; empty means $XFLOW_PYTHON and $XFLOW_NODE, then a search.
	Python, Node string
	// StrictRuntimes refuses an interpreter older than a runtime asks for
	// instead of warning ($XFLOW_STRICT_RUNTIMES=1 too).
	StrictRuntimes bool
	// Jobs is how many functions build at once; 0 means the number of
	// CPUs, at most 4.
	Jobs int
}

// Builder builds artifacts. It is safe for concurrent use.
type Builder struct {
	opts     Options
	progress io.Writer
	interp   *interpreters
	// pipInterp finds the Python that runs pip for Lambda builds, without
	// the warnings of local mode: nothing runs on it.
	pipInterp *interpreters
	tools     toolVersions

	mu      sync.Mutex
	keyLock map[string]*sync.Mutex
	pruned  bool
}

// New returns a Builder.
func New(opts Options) *Builder {
	b := &Builder{opts: opts, progress: opts.Progress, keyLock: map[string]*sync.Mutex{}}
	if b.progress == nil {
		b.progress = io.Discard
	}
	strict := opts.StrictRuntimes || os.Getenv(EnvStrictRuntimes) == "1" || os.Getenv(EnvStrictRuntimes) == "true"
	b.pipInterp = &interpreters{python: opts.Python}
	b.interp = &interpreters{python: opts.Python, node: opts.Node, strict: strict, warn: func(msg string) {
		fmt.Fprintf(b.progress, "xflow: warning: %s\n", msg)
	}}
	return b
}

// Interpreter returns the interpreter local mode runs a python3.x or
// nodejs* runtime with.
func (b *Builder) Interpreter(ctx context.Context, rt string) (Interpreter, error) {
	return b.interp.Find(ctx, rt)
}

func (b *Builder) cacheDir() (string, error) {
	if b.opts.CacheDir != "" {
		return filepath.Abs(b.opts.CacheDir)
	}
	d, err := nodejs.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "build"), nil
}

// Error is a build that failed: which function, where the config names its
// source, what went wrong, what to do, and the tail of the tool's output.
type Error struct {
	Lambda string
	// At is the config position of the lambda's source, as config errors
	// print it ("xflow.yaml:17:13: lambdas[2].source").
	At      string
	Problem string
	Fix     string
	Output  string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.At != "" {
		b.WriteString(e.At + ": ")
	}
	fmt.Fprintf(&b, "lambda %s: %s", e.Lambda, e.Problem)
	if e.Fix != "" {
		fmt.Fprintf(&b, " (%s)", e.Fix)
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		b.WriteString("\n    " + strings.ReplaceAll(out, "\n", "\n    "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// source is what one build works from.
type source struct {
	c      *config.Config
	index  int // in c.Lambdas
	l      config.Lambda
	target Target
	arch   string // x86_64 or arm64, of the target
}

func (s source) fail(err error, problem, fix, output string) *Error {
	e := &Error{Lambda: s.l.Name, Problem: problem, Fix: fix, Output: tailLines(output, 25), Err: err}
	if s.c != nil {
		// The position of lambdas[i].source, as config errors print it.
		pe := s.c.SourceError(s.index, "", "x")
		e.At = strings.TrimSuffix(pe.Error(), ": x")
	}
	return e
}

// Build builds one lambda of c for a target, or returns the cached
// artifact. c must have its sources resolved (git sources fetched).
func (b *Builder) Build(ctx context.Context, c *config.Config, lambda string, t Target) (*Artifact, error) {
	i := slices.IndexFunc(c.Lambdas, func(l config.Lambda) bool { return l.Name == lambda })
	if i < 0 {
		return nil, fmt.Errorf("lambda %q is not in %s", lambda, c.File)
	}
	s := source{c: c, index: i, l: c.Lambdas[i], target: t, arch: c.Lambdas[i].Architecture}
	if s.arch == "" {
		s.arch = spec.DefaultArchitecture
	}
	a, err := b.build(ctx, s)
	if err != nil {
		return nil, err
	}
	// The cache may hold the package under another lambda with the same
	// source: it is this one's now.
	out := *a
	out.Lambda, out.Source = s.l.Name, s.l.Code.Path
	return &out, nil
}

// All builds the named lambdas of c (every one with a local or git source
// when names is empty), several at once, and returns their artifacts in
// the config's order. Every failure is reported, each with its function.
func (b *Builder) All(ctx context.Context, c *config.Config, names []string, t Target) ([]*Artifact, error) {
	for _, n := range names {
		if _, ok := c.Lambda(n); !ok {
			var all []string
			for _, l := range c.Lambdas {
				all = append(all, l.Name)
			}
			return nil, fmt.Errorf("lambda %q is not in %s (its lambdas: %s)", n, c.File, strings.Join(all, ", "))
		}
	}
	var todo []string
	for _, l := range c.Lambdas {
		if l.Code.Kind == config.CodeS3 || len(names) > 0 && !slices.Contains(names, l.Name) {
			continue
		}
		todo = append(todo, l.Name)
	}
	jobs := b.opts.Jobs
	if jobs <= 0 {
		jobs = min(runtime.NumCPU(), 4)
	}
	out := make([]*Artifact, len(todo))
	errs := make([]error, len(todo))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, name := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = b.Build(ctx, c, name, t)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cached := 0
	for _, a := range out {
		if a.Cached {
			cached++
		}
	}
	if cached > 0 {
		fmt.Fprintf(b.progress, "xflow: %d of %d packages are up to date in the build cache\n", cached, len(out))
	}
	return out, nil
}

// build dispatches on the kind of source.
func (b *Builder) build(ctx context.Context, s source) (*Artifact, error) {
	l := s.l
	switch l.Code.Kind {
	case config.CodeS3:
		return nil, s.fail(nil, fmt.Sprintf("its source %s is in S3, which xflow does not build", l.Source), "", "")
	case config.CodeGit:
		return nil, s.fail(nil, fmt.Sprintf("its git source %s was not fetched", l.Source), "resolve the config's sources first", "")
	case config.CodeFile, config.CodeDir, config.CodeZip:
	default:
		return nil, s.fail(nil, fmt.Sprintf("unresolved source %q", l.Source), "", "")
	}
	if s.target == Host && config.RuntimeFamily(l.Runtime) != "python" && config.RuntimeFamily(l.Runtime) != "provided" {
		// Node.js and every other runtime run the very package deployed.
		a, err := b.build(ctx, source{c: s.c, index: s.index, l: l, target: Lambda, arch: s.arch})
		if err != nil {
			return nil, err
		}
		if a.Kind == KindZip {
			return b.unzip(ctx, s, a)
		}
		h := *a
		h.Target = Host
		if err := b.attachInterpreter(ctx, s, &h); err != nil {
			return nil, err
		}
		return &h, nil
	}
	if l.Code.Kind == config.CodeZip {
		if s.target == Host {
			a, err := b.build(ctx, source{c: s.c, index: s.index, l: l, target: Lambda, arch: s.arch})
			if err != nil {
				return nil, err
			}
			return b.unzip(ctx, s, a)
		}
		return b.zipArtifact(s)
	}
	switch kind := kindOf(l); kind {
	case KindGo:
		return b.goBuild(ctx, s)
	case KindPython:
		return b.pythonBuild(ctx, s)
	case KindNode, KindBundle:
		return b.nodeBuild(ctx, s, kind)
	default:
		a, err := b.copyBuild(ctx, s)
		if err != nil {
			return nil, err
		}
		if s.target == Host {
			if err := b.attachInterpreter(ctx, s, a); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
}

// attachInterpreter names the interpreter local mode runs a Python or
// Node.js artifact with.
func (b *Builder) attachInterpreter(ctx context.Context, s source, a *Artifact) error {
	switch config.RuntimeFamily(s.l.Runtime) {
	case "python", "nodejs":
		in, err := b.interp.Find(ctx, s.l.Runtime)
		if err != nil {
			return s.fail(err, err.Error(), "", "")
		}
		a.Interpreter = &in
	}
	return nil
}

// kindOf says how a lambda's local source is built.
func kindOf(l config.Lambda) string {
	family := config.RuntimeFamily(l.Runtime)
	path := l.Code.Path
	exists := func(name string) bool {
		fi, err := os.Stat(filepath.Join(path, name))
		return err == nil && !fi.IsDir()
	}
	switch {
	case family == "nodejs" && l.Bundle == config.BundleEsbuild:
		return KindBundle
	case l.Code.Kind == config.CodeFile:
		if family == "provided" && strings.HasSuffix(path, ".go") {
			return KindGo
		}
		return KindCopy
	case l.Code.Kind != config.CodeDir:
		return KindCopy
	case family == "provided":
		if exists("go.mod") {
			return KindGo
		}
		if gos, _ := filepath.Glob(filepath.Join(path, "*.go")); len(gos) > 0 && !exists("bootstrap") {
			return KindGo
		}
	case family == "python":
		if exists("requirements.txt") || pyprojectDependencies(filepath.Join(path, "pyproject.toml")) {
			return KindPython
		}
	case family == "nodejs":
		if exists("package.json") {
			return KindNode
		}
	}
	return KindCopy
}

// cached returns the artifact of a key from the cache, or nil.
func (b *Builder) cached(key string) *Artifact {
	if b.opts.Force {
		return nil
	}
	root, err := b.cacheDir()
	if err != nil {
		return nil
	}
	meta := filepath.Join(root, key+".json")
	data, err := os.ReadFile(meta)
	if err != nil {
		return nil
	}
	var a Artifact
	if json.Unmarshal(data, &a) != nil {
		return nil
	}
	a.Path = filepath.Join(root, key)
	if _, err := os.Stat(a.Path); err != nil {
		return nil
	}
	// Its modification time says when it was last used (see prune).
	now := time.Now()
	os.Chtimes(meta, now, now)
	a.Cached, a.Seconds = true, 0
	return &a
}

// lockKey serializes builds of one key in this process: functions that
// share a source build it once.
func (b *Builder) lockKey(key string) func() {
	b.mu.Lock()
	m, ok := b.keyLock[key]
	if !ok {
		m = &sync.Mutex{}
		b.keyLock[key] = m
	}
	b.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// staging returns a new temporary folder in the cache, on the same file
// system as the artifacts it becomes.
func (b *Builder) staging(s source) (string, error) {
	root, err := b.cacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create the build cache %s: %w (set %s to a writable folder)", root, err, nodejs.EnvCacheDir)
	}
	b.prune(root)
	dir, err := os.MkdirTemp(root, ".build-"+s.l.Name+"-")
	if err != nil {
		return "", fmt.Errorf("create a build folder in %s: %w", root, err)
	}
	return dir, os.Chmod(dir, 0o755)
}

// commit moves a finished package into the cache under key, with its
// metadata, after checking Lambda's size limit.
func (b *Builder) commit(s source, key, dir string, a *Artifact, start time.Time) (*Artifact, error) {
	size, files, err := treeSize(dir)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("measure the package: %v", err), "", "")
	}
	if size > MaxUnzippedBytes {
		return nil, tooLarge(s, dir, size)
	}
	sum, err := hashOutput(dir)
	if err != nil {
		return nil, s.fail(err, fmt.Sprintf("hash the package: %v", err), "", "")
	}
	root, err := b.cacheDir()
	if err != nil {
		return nil, err
	}
	a.Lambda, a.Target, a.Key, a.SHA256, a.Size, a.Files = s.l.Name, s.target, key, sum, size, files
	a.Source, a.Seconds = s.l.Code.Path, time.Since(start).Seconds()
	final := filepath.Join(root, key)
	if b.opts.Force {
		os.Remove(filepath.Join(root, key+".json"))
		os.RemoveAll(final)
	}
	if err := os.Rename(dir, final); err != nil {
		// Another process built the same key: the bytes are the same.
		if _, statErr := os.Stat(final); statErr != nil {
			return nil, fmt.Errorf("lambda %s: move the build into the cache: %w", s.l.Name, err)
		}
		os.RemoveAll(dir)
	}
	a.Path = final
	meta, _ := json.MarshalIndent(a, "", "  ")
	if err := writeFileAtomic(filepath.Join(root, key+".json"), append(meta, '\n')); err != nil {
		return nil, fmt.Errorf("lambda %s: record the build: %w", s.l.Name, err)
	}
	fmt.Fprintf(b.progress, "xflow: built %s (%s%s) in %s: %s in %d file%s\n", s.l.Name, a.Kind, toolNote(a.Tool), time.Since(start).Round(10*time.Millisecond), humanBytes(size), files, plural(files))
	return a, nil
}

func toolNote(tool string) string {
	if tool == "" {
		return ""
	}
	return ", " + tool
}

// tooLarge names what takes the room in a package over Lambda's limit.
func tooLarge(s source, dir string, size int64) *Error {
	type part struct {
		name string
		size int64
	}
	var parts []part
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n, _, _ := treeSize(filepath.Join(dir, e.Name()))
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		parts = append(parts, part{name, n})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].size > parts[j].size })
	var big []string
	for i, p := range parts {
		if i == 5 {
			break
		}
		big = append(big, fmt.Sprintf("%s %s", p.name, humanBytes(p.size)))
	}
	return s.fail(nil,
		fmt.Sprintf("its package is %s unzipped, over Lambda's limit of 250 MB (%d bytes); largest parts: %s", humanBytes(size), int64(MaxUnzippedBytes), strings.Join(big, ", ")),
		"leave out what the function does not need, move large data to S3, or package it as a container image", "")
}

// pruneAge is how long an artifact unused by any build stays in the cache.
const pruneAge = 30 * 24 * time.Hour

// prune removes, once per Builder, artifacts no build used for pruneAge,
// and temporary folders left by killed builds.
func (b *Builder) prune(root string) {
	b.mu.Lock()
	done := b.pruned
	b.pruned = true
	b.mu.Unlock()
	if done {
		return
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < pruneAge {
			continue
		}
		switch name := e.Name(); {
		case strings.HasPrefix(name, ".build-"):
			os.RemoveAll(filepath.Join(root, name))
		case strings.HasSuffix(name, ".json"):
			os.Remove(filepath.Join(root, name))
			os.RemoveAll(filepath.Join(root, strings.TrimSuffix(name, ".json")))
		}
	}
}

// newKey starts the cache key of a build.
func newKey(kind string, s source) *keyHash {
	k := &keyHash{h: sha256.New(), kind: kind}
	k.field("xflow build", "v1")
	k.field("kind", kind)
	k.field("target", string(s.target))
	k.field("runtime", s.l.Runtime)
	k.field("arch", s.arch)
	return k
}

// keyHash accumulates the inputs of a build.
type keyHash struct {
	h    hash.Hash
	kind string
}

func newSHA() hash.Hash { return sha256.New() }

func (k *keyHash) field(name, value string) {
	fmt.Fprintf(k.h, "%s\x00%d\x00%s", name, len(value), value)
}

func (k *keyHash) tree(name, root string, skip func(rel string, d fs.DirEntry) bool) error {
	k.field("tree", name)
	return hashTree(k.h, root, skip)
}

// sum is the key: the kind, then 32 hex digits.
func (k *keyHash) sum() string {
	return k.kind + "-" + hex.EncodeToString(k.h.Sum(nil))[:32]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// humanBytes prints a size as people read it.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
