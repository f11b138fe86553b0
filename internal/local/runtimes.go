package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local/bootstrap"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/nodejs"
)

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

// prepareLaunch decides how a lambda's workers start: from its package
// built for this machine, with the interpreter the build chose.
func (r *Runtime) prepareLaunch(ctx context.Context, l config.Lambda) (launch, error) {
	family := config.RuntimeFamily(l.Runtime)
	var ln launch
	switch family {
	case "python", "nodejs", "provided":
	default:
		return ln, fmt.Errorf("lambda %s: runtime %s cannot run locally; local mode runs python3.x, nodejs* and provided.al2023 (for Go, Rust or any binary named bootstrap)", l.Name, l.Runtime)
	}
	switch l.Code.Kind {
	case config.CodeS3:
		return ln, fmt.Errorf("lambda %s: source %s is in S3; local mode runs local sources only (download the package and point source: at it)", l.Name, l.Source)
	case config.CodeGit:
		return ln, fmt.Errorf("lambda %s: source %s is in git and was not fetched: resolve the config's sources before starting the runtime", l.Name, l.Source)
	}
	a, ok := r.artifacts[l.Name]
	if !ok {
		var err error
		if a, err = r.builder.Build(ctx, r.cfg, l.Name, build.Host); err != nil {
			return ln, err
		}
	}
	ln.taskRoot = a.Path
	switch family {
	case "python":
		in := a.Interpreter
		if in == nil {
			return ln, fmt.Errorf("lambda %s: its package was built without an interpreter (a bug)", l.Name)
		}
		// -S: no site-packages of this machine's Python, as on Lambda the
		// handler sees its package and the runtime's boto3 only (the
		// bootstrap puts them on the path).
		ln.path, ln.args = in.Path, []string{"-S", filepath.Join(r.stateDir, "runtime", "python.py")}
		ln.label = fmt.Sprintf("%s (local: Python %s at %s)", l.Runtime, in.Version, in.Path)
		ln.pythonSDK = r.pythonSDK(ctx, *in)
	case "nodejs":
		in := a.Interpreter
		if in == nil {
			return ln, fmt.Errorf("lambda %s: its package was built without an interpreter (a bug)", l.Name)
		}
		ln.path, ln.args = in.Path, []string{filepath.Join(r.stateDir, "runtime", "node.cjs")}
		ln.label = fmt.Sprintf("%s (local: Node.js %s at %s)", l.Runtime, in.Version, in.Path)
		ln.nodeSDK = r.nodeSDK(ctx)
	case "provided":
		ln.path = filepath.Join(a.Path, "bootstrap")
		if fi, err := os.Stat(ln.path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return ln, fmt.Errorf("lambda %s: runtime %s runs an executable named bootstrap, and the package of %s has none (for Go, put the main package's .go files and go.mod in the source folder and xflow builds it)", l.Name, l.Runtime, l.Code.Path)
		}
		ln.label = l.Runtime + " (local: " + ln.path + ")"
		ln.custom = true
	}
	return ln, nil
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
		"AWS_LAMBDA_LOG_GROUP_NAME":       names.FunctionLogGroup(fnName),
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
		if ln.pythonSDK != "" {
			env[envPythonSDK] = ln.pythonSDK
		}
		// Bytecode goes to xflow's cache, not into the packages (Lambda's
		// task root is read-only and has none either).
		env["PYTHONPYCACHEPREFIX"] = r.builder.PycachePrefix()
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

// envNodeSDK tells the Node.js bootstrap where the AWS SDK is, and
// envPythonSDK the Python bootstrap where boto3 is.
const (
	envNodeSDK   = "XFLOW_AWS_SDK_JS"
	envPythonSDK = "XFLOW_AWS_SDK_PYTHON"
)

// pythonSDK is the folder with boto3 for Python handlers run by in, as
// Lambda's Python runtime provides it; "" (with a warning, once) when
// this machine has none to give.
func (r *Runtime) pythonSDK(ctx context.Context, in build.Interpreter) string {
	r.sdkMu.Lock()
	defer r.sdkMu.Unlock()
	if dir, ok := r.pythonSDKs[in.Path]; ok {
		return dir
	}
	dir, warning := r.builder.PythonSDK(ctx, in)
	if warning != "" {
		r.log.Warn(warning)
	}
	r.pythonSDKs[in.Path] = dir
	return dir
}

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
