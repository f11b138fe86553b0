// Package nodejs provides the Node.js runtime and the CDK CLI that xflow
// needs to synthesize and deploy, installing them from npm into xflow's
// cache when the machine does not have suitable ones.
//
// The CDK's Go bindings run the CDK itself in Node.js through jsii, and jsii
// refuses Node.js releases that are out of support (Node 20 since
// 2026-10-30). Many machines still have Node 20 or older, so rather than
// failing, xflow installs node@22 from the npm registry (the one place that
// every machine with npm can reach) into a folder of its cache, once, and
// points jsii at it with JSII_NODE. The CDK CLI (npm aws-cdk) is found or
// installed the same way, at a pinned version, so that a deploy does not
// depend on whatever CLI happens to be installed globally.
package nodejs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// MinNodeMajor is the oldest Node.js major release jsii supports.
	MinNodeMajor = 22
	// NodePackage is the npm package installed when no suitable Node.js is
	// found: the npm "node" package ships the official binary.
	NodePackage = "node@22"
	// CDKVersion is the npm aws-cdk (CDK CLI) version xflow installs. It is
	// pinned so that every machine deploys with the same CLI; a cdk on PATH
	// is used instead only when it is at least this version, because an
	// older CLI may not read the cloud assembly that aws-cdk-lib writes.
	CDKVersion = "2.1148.1"
	// AWSSDKPackage is the part of the AWS SDK for JavaScript v3 that local
	// mode gives Node.js handlers, as Lambda's Node.js runtimes include the
	// SDK: the Kinesis client, which a step needs to publish the next
	// event. Pinned, like the CDK CLI, so every machine runs the same.
	AWSSDKPackage = "@aws-sdk/client-kinesis@3.1143.0"
	// EsbuildPackage bundles the Node.js handlers whose lambda says
	// `bundle: esbuild`. Pinned, so that the same source gives the same
	// bundle on every machine.
	EsbuildPackage = "esbuild@0.25.9"
)

// Environment variables this package reads.
const (
	// EnvJSIINode names the node binary jsii runs; the CDK honours it too.
	EnvJSIINode = "JSII_NODE"
	// EnvCacheDir overrides the folder where xflow keeps what it installs.
	EnvCacheDir = "XFLOW_CACHE_DIR"
)

// Folders inside the cache.
const (
	nodeDir = "node22"
	cdkDir  = "aws-cdk-" + CDKVersion
)

// Version is a Node.js (or CDK CLI) release number.
type Version struct {
	Major, Minor, Patch int
}

func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is an older release than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

var versionRe = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+ ].*)?$`)

// ParseVersion reads the output of `node --version` ("v22.12.0") or
// `cdk --version` ("2.1148.1 (build fcf5e34)"). A pre-release or build
// suffix is ignored: only the numbers decide whether a release is recent
// enough.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	m := versionRe.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a version number such as v22.12.0", s)
	}
	var v Version
	for i, p := range []*int{&v.Major, &v.Minor, &v.Patch} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Version{}, fmt.Errorf("%q: %w", s, err)
		}
		*p = n
	}
	return v, nil
}

// CacheDir is the folder where xflow keeps what it installs:
// $XFLOW_CACHE_DIR, else the user's cache folder plus "xflow".
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache folder for xflow: %w (set %s to a writable folder)", err, EnvCacheDir)
	}
	return filepath.Join(d, "xflow"), nil
}

// Ensure returns the path of a Node.js ≥ 22 binary for the CDK's jsii
// runtime. It tries, in order: JSII_NODE (an error if it is too old, since
// the user asked for it explicitly), `node` on PATH, the copy in xflow's
// cache, and finally installs node@22 from npm into the cache, writing one
// line on progress first because that takes a few seconds. A nil progress
// discards those lines.
func Ensure(ctx context.Context, progress io.Writer) (nodePath string, err error) {
	if progress == nil {
		progress = io.Discard
	}
	if p := os.Getenv(EnvJSIINode); p != "" {
		if abs, err := exec.LookPath(p); err == nil {
			p, _ = filepath.Abs(abs)
		}
		v, err := nodeVersion(ctx, p)
		if err != nil {
			return "", fmt.Errorf("%s=%s does not run: %w (point %s at a Node.js %d or newer, or unset it to let xflow install one)", EnvJSIINode, p, err, EnvJSIINode, MinNodeMajor)
		}
		if v.Major < MinNodeMajor {
			return "", fmt.Errorf("%s=%s is Node.js %s, but the CDK needs Node.js %d or newer (point %s at a newer node, or unset it to let xflow install node@%d)", EnvJSIINode, p, v, MinNodeMajor, EnvJSIINode, MinNodeMajor)
		}
		return p, nil
	}

	found := "no node on PATH"
	if p, err := exec.LookPath("node"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		v, err := nodeVersion(ctx, p)
		switch {
		case err != nil:
			found = fmt.Sprintf("%s, which does not run (%v)", p, err)
		case v.Major >= MinNodeMajor:
			return p, nil
		default:
			found = v.String()
		}
	}

	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, nodeDir)
	bin := cachedNode(dir)
	if v, err := nodeVersion(ctx, bin); err == nil && v.Major >= MinNodeMajor {
		return bin, nil
	}

	fmt.Fprintf(progress, "xflow: the CDK needs Node.js ≥ %d and found %s; installing %s from npm into %s\n", MinNodeMajor, found, NodePackage, dir)
	err = install(ctx, "", dir, NodePackage, func(tmp string) error {
		v, err := nodeVersion(ctx, cachedNode(tmp))
		if err != nil {
			return fmt.Errorf("the installed node does not run: %w", err)
		}
		if v.Major < MinNodeMajor {
			return fmt.Errorf("npm installed Node.js %s, older than %d", v, MinNodeMajor)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("install %s: %w\n(alternatively install Node.js %d or newer yourself from https://nodejs.org and put it on PATH, or set %s to its node binary)", NodePackage, err, MinNodeMajor, EnvJSIINode)
	}
	v, err := nodeVersion(ctx, bin)
	if err != nil {
		return "", fmt.Errorf("%s was installed into %s but does not run: %w (delete %s and retry)", NodePackage, dir, err, dir)
	}
	fmt.Fprintf(progress, "xflow: installed Node.js %s at %s\n", v, bin)
	return bin, nil
}

// EnsureCDK returns the path of the CDK CLI (`cdk`): the one on PATH when it
// is at least CDKVersion, else aws-cdk@CDKVersion installed from npm into
// xflow's cache. The CLI is a Node.js script, so EnsureCDK first ensures a
// Node.js (see Ensure); run it with Env(nodePath).
func EnsureCDK(ctx context.Context, progress io.Writer) (cdkPath string, err error) {
	if progress == nil {
		progress = io.Discard
	}
	node, err := Ensure(ctx, progress)
	if err != nil {
		return "", err
	}
	want, err := ParseVersion(CDKVersion)
	if err != nil {
		return "", fmt.Errorf("nodejs.CDKVersion: %w", err) // a bug in this package
	}

	found := "no cdk on PATH"
	if p, err := exec.LookPath("cdk"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		v, err := cdkVersion(ctx, node, p)
		switch {
		case err != nil:
			found = fmt.Sprintf("%s, which does not run (%v)", p, err)
		case !v.Less(want):
			return p, nil
		default:
			found = fmt.Sprintf("cdk %d.%d.%d on PATH", v.Major, v.Minor, v.Patch)
		}
	}

	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, cdkDir)
	bin := filepath.Join(dir, "node_modules", ".bin", "cdk")
	if _, err := cdkVersion(ctx, node, bin); err == nil {
		return bin, nil
	}

	pkg := "aws-cdk@" + CDKVersion
	fmt.Fprintf(progress, "xflow: the CDK CLI must be %s or newer and xflow found %s; installing %s from npm into %s\n", CDKVersion, found, pkg, dir)
	err = install(ctx, node, dir, pkg, func(tmp string) error {
		_, err := cdkVersion(ctx, node, filepath.Join(tmp, "node_modules", ".bin", "cdk"))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("install %s: %w\n(alternatively run `npm install -g %s` and make sure cdk is on PATH)", pkg, err, pkg)
	}
	return bin, nil
}

// EnsureAWSSDK returns a node_modules folder holding AWSSDKPackage,
// installed from npm into xflow's cache the first time.
func EnsureAWSSDK(ctx context.Context, progress io.Writer) (nodeModules string, err error) {
	if progress == nil {
		progress = io.Discard
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	name, version, _ := strings.Cut(strings.TrimPrefix(AWSSDKPackage, "@"), "@")
	dir := filepath.Join(cache, "aws-sdk-js-"+version)
	verify := func(d string) error {
		_, err := os.Stat(filepath.Join(d, "node_modules", "@"+name, "package.json"))
		return err
	}
	if verify(dir) == nil {
		return filepath.Join(dir, "node_modules"), nil
	}
	fmt.Fprintf(progress, "xflow: installing %s from npm into %s, for Node.js handlers (Lambda's Node.js runtimes include the AWS SDK)\n", AWSSDKPackage, dir)
	if err := install(ctx, "", dir, AWSSDKPackage, verify); err != nil {
		return "", fmt.Errorf("install %s: %w", AWSSDKPackage, err)
	}
	return filepath.Join(dir, "node_modules"), nil
}

// EnsureEsbuild returns the path of the esbuild binary of EsbuildPackage,
// installed from npm into xflow's cache the first time.
func EnsureEsbuild(ctx context.Context, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, strings.ReplaceAll(EsbuildPackage, "@", "-"))
	bin := func(d string) string { return filepath.Join(d, "node_modules", ".bin", "esbuild") }
	verify := func(d string) error {
		ctx, cancel := context.WithTimeout(ctx, versionTimeout)
		defer cancel()
		return exec.CommandContext(ctx, bin(d), "--version").Run()
	}
	if verify(dir) == nil {
		return bin(dir), nil
	}
	fmt.Fprintf(progress, "xflow: installing %s from npm into %s, to bundle Node.js handlers\n", EsbuildPackage, dir)
	if err := install(ctx, "", dir, EsbuildPackage, verify); err != nil {
		return "", fmt.Errorf("install %s: %w", EsbuildPackage, err)
	}
	return bin(dir), nil
}

// Env returns the current environment prepared for running the CDK with
// nodePath: JSII_NODE names it for jsii, and its folder comes first on PATH
// because the CDK CLI is a `#!/usr/bin/env node` script and the CDK spawns
// `node` for asset bundling.
func Env(nodePath string) []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+2)
	path := filepath.Dir(nodePath)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case EnvJSIINode:
			continue
		case "PATH":
			if v != "" {
				path += string(os.PathListSeparator) + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, EnvJSIINode+"="+nodePath, "PATH="+path)
}

// cachedNode is where npm puts the node binary when installing the "node"
// package with --prefix dir.
func cachedNode(dir string) string {
	return filepath.Join(dir, "node_modules", ".bin", "node")
}

// versionTimeout bounds a `--version` call: a hung binary must not hang xflow.
const versionTimeout = 30 * time.Second

func nodeVersion(ctx context.Context, node string) (Version, error) {
	if _, err := exec.LookPath(node); err != nil {
		return Version{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return Version{}, commandError(err)
	}
	return ParseVersion(string(out))
}

func cdkVersion(ctx context.Context, node, cdk string) (Version, error) {
	if _, err := exec.LookPath(cdk); err != nil {
		return Version{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cdk, "--version")
	cmd.Env = append(Env(node), "CDK_DISABLE_VERSION_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		return Version{}, commandError(err)
	}
	return ParseVersion(string(out))
}

// commandError adds what a failed command wrote on stderr.
func commandError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, tail(ee.Stderr, 5))
	}
	return err
}

// install runs `npm install` of pkg into a fresh temporary folder beside
// dir, checks the result with verify, and renames it to dir. Two processes
// racing each install into their own folder; the first rename wins and the
// loser uses the winner's copy, so neither sees a half-installed folder.
// node, when set, is the Node.js that runs npm (npm's own node may be too old
// for a recent package); otherwise npm runs as found on PATH.
func install(ctx context.Context, node, dir, pkg string, verify func(tmp string) error) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm is not on PATH, so xflow cannot install %s: install Node.js with npm (https://nodejs.org, or your package manager's nodejs and npm packages)", pkg)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create the cache folder: %w (set %s to a writable folder)", err, EnvCacheDir)
	}
	removeStale(parent, filepath.Base(dir)+".tmp-")
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("create a folder in the cache: %w (set %s to a writable folder)", err, EnvCacheDir)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	// MkdirTemp makes the folder private; the cache is shared like any other.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}

	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error", pkg)
	if node != "" {
		cmd.Env = Env(node)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("`npm install %s` failed: %w\n%s\ncheck that the npm registry is reachable (npm config get registry) and that %s is writable", pkg, err, tail(out.Bytes(), 20), parent)
	}
	if err := verify(tmp); err != nil {
		return fmt.Errorf("`npm install %s` did not give a working install: %w\nnpm said:\n%s", pkg, err, tail(out.Bytes(), 20))
	}

	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	// Another process may have won the race, or an earlier install was
	// broken (a deleted binary, an interrupted manual change): keep a
	// working copy, replace a broken one.
	if verify(dir) == nil {
		return nil
	}
	old := dir + ".old-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace the broken install at %s: %w (delete that folder and retry)", dir, err)
	}
	defer os.RemoveAll(old)
	if err := os.Rename(tmp, dir); err != nil {
		if verify(dir) == nil {
			return nil
		}
		return fmt.Errorf("move the install into place at %s: %w (delete that folder and retry)", dir, err)
	}
	return nil
}

// staleAge is how old a temporary install folder must be before another
// install deletes it as left over by a killed process.
const staleAge = 24 * time.Hour

func removeStale(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAge {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// tail returns the last n lines of b, indented, for error messages.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
