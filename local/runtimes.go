package local

import (
	"archive/zip"
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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/config"
	"github.com/xflowhq/xflow/internal/nodejs"
	"github.com/xflowhq/xflow/local/bootstrap"
)

// Environment variables that choose the interpreters of local mode.
const (
	EnvPython = "XFLOW_PYTHON" // the python3 to run Python handlers with
	EnvNode   = "XFLOW_NODE"   // the node to run Node.js handlers with
)

// interpreter is a Python or Node.js found on this machine.
type interpreter struct {
	path    string // the real binary, not a shim
	version string // 3.11.7, 22.12.0
	major   int
	minor   int
}

// version of a runtime name: python3.12 → 3, 12; nodejs22.x → 22, 0.
func runtimeVersion(rt string) (major, minor int, ok bool) {
	v := strings.TrimPrefix(strings.TrimPrefix(rt, "python"), "nodejs")
	v = strings.TrimSuffix(v, ".x")
	a, b, _ := strings.Cut(v, ".")
	major, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	if b != "" {
		if minor, err = strconv.Atoi(b); err != nil {
			return 0, 0, false
		}
	}
	return major, minor, true
}

func (i interpreter) older(major, minor int) bool {
	return i.major < major || i.major == major && i.minor < minor
}

// probes caches what probe learned, per candidate and PATH, for the
// life of the process: running an interpreter through a version manager's
// shim (pyenv) takes a second, and a server may start many runtimes.
var probes sync.Map

type probeResult struct {
	in  interpreter
	err error
}

// probe runs a candidate interpreter to learn its real path and version.
func probe(ctx context.Context, family, cand string) (interpreter, error) {
	key := family + "\x00" + cand + "\x00" + os.Getenv("PATH")
	if r, ok := probes.Load(key); ok {
		return r.(probeResult).in, r.(probeResult).err
	}
	in, err := probeOnce(ctx, family, cand)
	if ctx.Err() == nil {
		probes.Store(key, probeResult{in, err})
	}
	return in, err
}

func probeOnce(ctx context.Context, family, cand string) (interpreter, error) {
	p, err := exec.LookPath(cand)
	if err != nil {
		return interpreter{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if family == "python" {
		cmd = exec.CommandContext(ctx, p, "-c", "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])")
	} else {
		cmd = exec.CommandContext(ctx, p, "-p", "process.execPath + '\\n' + process.versions.node")
	}
	out, err := cmd.Output()
	if err != nil {
		return interpreter{}, fmt.Errorf("%s does not run: %w", p, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return interpreter{}, fmt.Errorf("%s printed %q, not its path and version", p, out)
	}
	in := interpreter{path: lines[0], version: lines[1]}
	parts := strings.Split(in.version, ".")
	in.major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		in.minor, _ = strconv.Atoi(parts[1])
	}
	if in.path == "" {
		in.path = p
	}
	return in, nil
}

// findInterpreter finds the interpreter of a runtime (python3.12,
// nodejs22.x): $XFLOW_PYTHON or $XFLOW_NODE when set, else python3.12 then
// python3 (node, then the Node.js 22 xflow installs for the CDK) on PATH.
// One older than the runtime asks for is an error unless allowOlder, when
// it is used with a warning: the handler may use something the older
// version lacks.
func (r *Runtime) findInterpreter(ctx context.Context, rt string) (interpreter, error) {
	family := config.RuntimeFamily(rt)
	if in, ok := r.interpreters[rt]; ok {
		return in, nil
	}
	major, minor, ok := runtimeVersion(rt)
	if !ok {
		return interpreter{}, fmt.Errorf("cannot read the version of runtime %s", rt)
	}
	env, bin, want := EnvPython, "python3", fmt.Sprintf("Python %d.%d", major, minor)
	override := r.opts.Python
	if family == "nodejs" {
		env, bin, want = EnvNode, "node", fmt.Sprintf("Node.js %d", major)
		override = r.opts.Node
	}
	if override == "" {
		override = os.Getenv(env)
	}
	var cands []string
	switch {
	case override != "":
		cands = []string{override}
	case family == "python":
		cands = []string{fmt.Sprintf("python%d.%d", major, minor), "python3"}
	default:
		cands = []string{"node"}
	}
	var found []interpreter
	var problems []string
	for _, c := range cands {
		in, err := probe(ctx, family, c)
		if err != nil {
			if !errors.Is(err, exec.ErrNotFound) {
				problems = append(problems, err.Error())
			}
			continue
		}
		if !in.older(major, minor) {
			r.interpreters[rt] = in
			return in, nil
		}
		found = append(found, in)
	}
	if family == "nodejs" && override == "" && major <= nodejs.MinNodeMajor {
		// The Node.js xflow installs for the CDK (from npm, once) will do.
		if p, err := nodejs.Ensure(ctx, r.opts.Progress); err == nil {
			if in, err := probe(ctx, family, p); err == nil && !in.older(major, minor) {
				r.interpreters[rt] = in
				return in, nil
			}
		}
	}
	if len(found) == 0 {
		msg := fmt.Sprintf("runtime %s needs %s, and no %s was found", rt, want, bin)
		if override != "" {
			msg = fmt.Sprintf("runtime %s needs %s, and %s=%s does not run", rt, want, env, override)
		}
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return interpreter{}, fmt.Errorf("%s: install %s or set %s to one", msg, want, env)
	}
	in := found[0]
	if !r.opts.AllowOlderRuntimes {
		return interpreter{}, fmt.Errorf("runtime %s needs %s, but %s is version %s: install %s and put it on PATH or set %s to it, or run with --allow-older-runtimes to use %s anyway",
			rt, want, in.path, in.version, want, env, in.version)
	}
	r.log.Warn(fmt.Sprintf("runtime %s needs %s; running it with %s %s (--allow-older-runtimes)", rt, want, in.path, in.version))
	r.interpreters[rt] = in
	return in, nil
}

// writeBootstraps writes the embedded bootstraps into the state folder.
func (r *Runtime) writeBootstraps() error {
	dir := filepath.Join(r.stateDir, "runtime")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"python.py": bootstrap.Python, "node.cjs": bootstrap.Node, "node-sdk.mjs": bootstrap.NodeSDKHook} {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(data) {
			continue
		}
		if err := writeFileAtomic(p, data); err != nil {
			return fmt.Errorf("write the %s bootstrap: %w", name, err)
		}
	}
	return nil
}

// prepareLaunch decides how a lambda's workers start, building or
// unpacking its code as needed.
func (r *Runtime) prepareLaunch(ctx context.Context, l config.Lambda, fnName string) (launch, error) {
	family := config.RuntimeFamily(l.Runtime)
	var ln launch
	switch family {
	case "python", "nodejs", "provided":
	default:
		return ln, fmt.Errorf("lambda %s: runtime %s cannot run locally; local mode runs python3.x, nodejs* and provided.al2023 (for Go, Rust or any binary named bootstrap)", l.Name, l.Runtime)
	}
	root, err := r.taskRoot(ctx, l, fnName)
	if err != nil {
		return ln, fmt.Errorf("lambda %s: %w", l.Name, err)
	}
	ln.taskRoot = root
	switch family {
	case "python":
		in, err := r.findInterpreter(ctx, l.Runtime)
		if err != nil {
			return ln, fmt.Errorf("lambda %s: %w", l.Name, err)
		}
		ln.path, ln.args = in.path, []string{filepath.Join(r.stateDir, "runtime", "python.py")}
		ln.label = fmt.Sprintf("%s (local: Python %s at %s)", l.Runtime, in.version, in.path)
	case "nodejs":
		in, err := r.findInterpreter(ctx, l.Runtime)
		if err != nil {
			return ln, fmt.Errorf("lambda %s: %w", l.Name, err)
		}
		ln.path, ln.args = in.path, []string{filepath.Join(r.stateDir, "runtime", "node.cjs")}
		ln.label = fmt.Sprintf("%s (local: Node.js %s at %s)", l.Runtime, in.version, in.path)
		ln.nodeSDK = r.nodeSDK(ctx)
	case "provided":
		ln.path = filepath.Join(root, "bootstrap")
		if fi, err := os.Stat(ln.path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return ln, fmt.Errorf("lambda %s: runtime %s runs an executable named bootstrap, and %s has none (for Go, put the main package's .go files in the source folder and xflow builds it)", l.Name, l.Runtime, l.Code.Path)
		}
		ln.label = l.Runtime + " (local: " + ln.path + ")"
		ln.custom = true
	}
	return ln, nil
}

// taskRoot returns the folder a lambda's code runs from
// (LAMBDA_TASK_ROOT): a single file is linked alone into a folder of the
// state, as Lambda packages it alone; a folder is used in place, or built
// into a bootstrap when it holds Go code for provided.al2023; a zip is
// unpacked once per content.
func (r *Runtime) taskRoot(ctx context.Context, l config.Lambda, fnName string) (string, error) {
	switch l.Code.Kind {
	case config.CodeFile:
		if config.RuntimeFamily(l.Runtime) == "provided" && strings.HasSuffix(l.Code.Path, ".go") {
			return r.goBuild(ctx, l, fnName, filepath.Dir(l.Code.Path), []string{filepath.Base(l.Code.Path)})
		}
		dir := filepath.Join(r.stateDir, "tasks", fnName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		name := filepath.Base(l.Code.Path)
		if config.RuntimeFamily(l.Runtime) == "provided" {
			name = "bootstrap"
		}
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err != nil || target != l.Code.Path {
			os.Remove(link)
			if err := os.Symlink(l.Code.Path, link); err != nil {
				return "", err
			}
		}
		return dir, nil
	case config.CodeDir:
		if config.RuntimeFamily(l.Runtime) == "provided" {
			if _, err := os.Stat(filepath.Join(l.Code.Path, "bootstrap")); err == nil {
				return l.Code.Path, nil
			}
			if gos, _ := filepath.Glob(filepath.Join(l.Code.Path, "*.go")); len(gos) > 0 {
				return r.goBuild(ctx, l, fnName, l.Code.Path, []string{"."})
			}
		}
		return l.Code.Path, nil
	case config.CodeZip:
		return r.unzip(l, fnName)
	case config.CodeS3:
		return "", fmt.Errorf("source %s is in S3; local mode runs local sources only (download the package and point source: at it)", l.Source)
	case config.CodeGit:
		return "", fmt.Errorf("source %s is in git and was not fetched: call sources.Resolve on the config before starting the runtime", l.Source)
	}
	return "", fmt.Errorf("unresolved source %q", l.Source)
}

// hashTree hashes the files under dir (names, modes and contents) plus
// extra strings: the cache key of a build or an unpacked package.
func hashTree(dir string, extra ...string) (string, error) {
	h := sha256.New()
	for _, e := range extra {
		fmt.Fprintf(h, "%s\x00", e)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", rel)
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goBuild builds a Go main package for this machine into
// build/<function>/<hash>/bootstrap, cached by the content of its folder
// and the Go toolchain. The folder builds within whatever module holds it,
// offline if that module's dependencies are in the module cache.
func (r *Runtime) goBuild(ctx context.Context, l config.Lambda, fnName, srcDir string, targets []string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("runtime %s with Go source in %s needs the go command to build it: install Go from https://go.dev/dl", l.Runtime, srcDir)
	}
	key, err := hashTree(srcDir, runtime.GOOS, runtime.GOARCH, goBin, strings.Join(targets, " "), goVersion(ctx, goBin))
	if err != nil {
		return "", fmt.Errorf("hash the source of %s: %w", fnName, err)
	}
	dir := filepath.Join(r.stateDir, "build", fnName, key)
	bin := filepath.Join(dir, "bootstrap")
	if _, err := os.Stat(bin); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	args := append([]string{"build", "-tags", "lambda.norpc", "-o", tmp}, targets...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s in %s: %v\n%s", strings.Join(targets, " "), srcDir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	r.log.Info("built "+fnName, "binary", bin, "took", time.Since(start).Round(time.Millisecond).String())
	// Older builds of the function are of no use.
	if ents, err := os.ReadDir(filepath.Dir(dir)); err == nil {
		for _, e := range ents {
			if e.Name() != key {
				os.RemoveAll(filepath.Join(filepath.Dir(dir), e.Name()))
			}
		}
	}
	return dir, nil
}

func goVersion(ctx context.Context, goBin string) string {
	out, _ := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out))
}

// unzip unpacks a .zip package into build/<function>/<hash>/.
func (r *Runtime) unzip(l config.Lambda, fnName string) (string, error) {
	data, err := os.ReadFile(l.Code.Path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(r.stateDir, "build", fnName, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	os.RemoveAll(dir)
	zr, err := zip.OpenReader(l.Code.Path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", l.Code.Path, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return "", fmt.Errorf("%s: entry %q leaves the package", l.Code.Path, f.Name)
		}
		p := filepath.Join(dir, name)
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		mode := f.Mode().Perm()
		if name == "bootstrap" || mode == 0 {
			mode |= 0o755 // zips made on Windows lose the executable bit
		}
		if err := extract(f, p, mode); err != nil {
			return "", fmt.Errorf("unpack %s: %w", l.Code.Path, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

func extract(f *zip.File, path string, mode fs.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// functionEnv is a function's environment: what Lambda sets, then the
// function's own (which config validation keeps off Lambda's names).
// Nothing of the caller's environment leaks in but PATH, the locale and
// TMPDIR, as a Lambda function sees none of the deployer's: the workers
// get dummy credentials and no shared AWS config, and reach Kinesis at
// the local endpoint.
func (r *Runtime) functionEnv(l config.Lambda, fnName string, ln launch, own map[string]string) []string {
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        fnName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(l.Memory),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       functionLogGroup(fnName),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      r.region,
		"AWS_DEFAULT_REGION":              r.region,
		"_HANDLER":                        l.Handler,
		"LAMBDA_TASK_ROOT":                ln.taskRoot,
		"LAMBDA_RUNTIME_DIR":              filepath.Join(r.stateDir, "runtime"),
		"AWS_ACCESS_KEY_ID":               "xflowlocal",
		"AWS_SECRET_ACCESS_KEY":           "xflowlocal",
		"AWS_SESSION_TOKEN":               "xflowlocal",
		"AWS_CONFIG_FILE":                 os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":     os.DevNull,
		"AWS_ENDPOINT_URL_KINESIS":        r.kinesis.endpoint(),
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            os.Getenv("PATH"),
	}
	switch config.RuntimeFamily(l.Runtime) {
	case "python":
		env["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + l.Runtime
		// Bytecode goes to the state folder, not beside the user's files
		// (Lambda's task root is read-only and has none either).
		env["PYTHONPYCACHEPREFIX"] = filepath.Join(r.stateDir, "pycache")
	case "nodejs":
		env["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + l.Runtime
		if ln.nodeSDK != "" {
			// As on Lambda, whose NODE_PATH ends in the runtime's own
			// modules: require() finds the SDK there, and the bootstrap
			// makes import find it too.
			env["NODE_PATH"] = ln.nodeSDK
			env[envNodeSDK] = ln.nodeSDK
		}
	}
	for _, k := range []string{"TMPDIR", "HOME", "LC_ALL", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range own {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// envNodeSDK tells the Node.js bootstrap where the AWS SDK is.
const envNodeSDK = "XFLOW_AWS_SDK_JS"

// nodeSDK is the AWS SDK for Node.js handlers, installed once per
// machine. Without it (no npm, no registry) handlers still run; those that
// import the SDK fail at init with a message saying how to provide it.
func (r *Runtime) nodeSDK(ctx context.Context) string {
	r.nodeSDKOnce.Do(func() {
		dir, err := nodejs.EnsureAWSSDK(ctx, r.opts.Progress)
		if err != nil {
			r.log.Warn("Node.js handlers run without the AWS SDK: "+err.Error(), "package", nodejs.AWSSDKPackage)
			return
		}
		r.nodeSDKDir = dir
	})
	return r.nodeSDKDir
}
