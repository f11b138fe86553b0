package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
)

// writeConfig writes a config and its files into a temporary folder.
func writeConfig(t *testing.T, yaml string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "xflow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadConfig(t, path)
}

func oneStep(runtime string) string {
	return `
lambdas:
  - name: step
    source: step.py
    handler: handle
    runtime: ` + runtime + `
    environment:
      GREETING: hello
subscriptions:
  - event: In
    subscribers: [step]
    retry_attempts: 0
  - event: Out
    subscribers:
workflows:
  - id: wf
    flow: [In, Out]
`
}

// TestOlderInterpreter: a runtime newer than the machine's interpreter
// runs with a warning that says what to install; with StrictRuntimes it is
// refused with the same advice.
func TestOlderInterpreter(t *testing.T) {
	needPython(t)
	c := writeConfig(t, oneStep("python3.14"), map[string]string{"step.py": "def handle(e, c): pass\n"})
	var progress bytes.Buffer
	rt := local.New(c, local.Options{StateDir: t.TempDir(), Python: "python3", Log: testLog(t), Progress: &progress})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatalf("Start with an older python3: %v", err)
	}
	rt.Stop(context.Background())
	if strings.Contains(progress.String(), "xflow: warning: runtime python3.14 needs Python 3.14") {
		if !strings.Contains(progress.String(), "--strict-runtimes") {
			t.Errorf("the warning does not say how to refuse instead:\n%s", progress.String())
		}
	} else if !strings.Contains(progress.String(), "3.14") {
		t.Errorf("no warning about the older interpreter:\n%s", progress.String())
	}
	strict := local.New(c, local.Options{StateDir: t.TempDir(), Python: "python3", Log: testLog(t), StrictRuntimes: true})
	err := strict.Start(context.Background())
	if err == nil {
		strict.Stop(context.Background())
		t.Skip("SKIP: this machine's python3 is 3.14 or newer")
	}
	for _, s := range []string{"lambda step: runtime python3.14 needs Python 3.14", "the newest found is python3 3.", "XFLOW_PYTHON", "--strict-runtimes"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	missing := local.New(c, local.Options{StateDir: t.TempDir(), Python: "/nonexistent/python3", Log: testLog(t)})
	if err := missing.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "XFLOW_PYTHON=/nonexistent/python3 does not run") {
		t.Errorf("a missing interpreter: %v", err)
	}
}

func TestUnsupportedRuntime(t *testing.T) {
	yaml := `
lambdas:
  - name: step
    source: app.zip
    handler: app.Handler::handle
    runtime: java21
subscriptions:
  - event: In
    subscribers: [step]
`
	c := writeConfig(t, yaml, map[string]string{"app.zip": ""})
	rt := local.New(c, local.Options{StateDir: t.TempDir(), Log: testLog(t)})
	err := rt.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "runtime java21 cannot run locally") {
		t.Errorf("Start: %v", err)
	}
}

// TestOneRuntimePerState: a second runtime on a state folder is refused;
// Running tells other processes about the first.
func TestOneRuntimePerState(t *testing.T) {
	needPython(t)
	c := writeConfig(t, oneStep("python3.12"), map[string]string{"step.py": "def handle(e, c): pass\n"})
	state := t.TempDir()
	first := start(t, c, local.Options{StateDir: state})
	info, running := local.Running(state)
	if !running || info.PID != os.Getpid() || info.KinesisEndpoint != first.KinesisEndpoint() {
		t.Errorf("Running = %+v, %v", info, running)
	}
	second := local.New(c, local.Options{StateDir: state, Log: testLog(t)})
	if err := second.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "another local runtime") {
		t.Errorf("second Start: %v", err)
	}
}

// TestEnvironmentAndInitError: a handler sees Lambda's environment, its
// own and xflow's variables, and nothing of the caller's; a handler that
// fails to import is an invocation error, logged as Lambda logs it.
func TestEnvironmentAndInitError(t *testing.T) {
	needPython(t)
	step := `
import json, os
def handle(event, context):
    keys = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION",
            "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_RUNTIME_API", "AWS_ENDPOINT_URL_KINESIS", "AWS_ACCESS_KEY_ID",
            "XFLOW_STREAM_OUT", "XFLOW_EMITS", "GREETING", "XFLOW_TEST_LEAK", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_EXECUTION_ENV"]
    print("ENV " + json.dumps({k: os.environ.get(k) for k in keys}))
    print("FILES " + json.dumps(sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"]))))
    imports = {}
    for name in ["boto3", "moto", "cfnlint"]:
        try:
            __import__(name)
            imports[name] = True
        except ImportError:
            imports[name] = False
    print("IMPORTS " + json.dumps(imports))
`
	t.Setenv("XFLOW_TEST_LEAK", "from the caller")
	t.Setenv("AWS_REGION", "eu-west-1") // the region, as on AWS when the config names none
	c := writeConfig(t, oneStep("python3.12"), map[string]string{"step.py": step, "other.py": "# not packaged with step.py\n"})
	rt := start(t, c, local.Options{})
	publishAll(t, rt, "In", `{"execution_id": "env-1"}`)
	waitIdle(t, rt, 3*time.Minute)
	var env map[string]*string
	var files []string
	var imports map[string]bool
	for _, l := range groupLines(t, rt.Logs(), "/aws/lambda/step", "") {
		if s, ok := strings.CutPrefix(l, "ENV "); ok {
			json.Unmarshal([]byte(s), &env)
		}
		if s, ok := strings.CutPrefix(l, "FILES "); ok {
			json.Unmarshal([]byte(s), &files)
		}
		if s, ok := strings.CutPrefix(l, "IMPORTS "); ok {
			json.Unmarshal([]byte(s), &imports)
		}
	}
	// As on Lambda: boto3, which the runtime provides, and nothing of this
	// machine's site-packages (moto and cfn-lint are installed there for
	// the tests).
	if want := map[string]bool{"boto3": true, "moto": false, "cfnlint": false}; !maps.Equal(imports, want) {
		t.Errorf("the handler imports %v, want %v", imports, want)
	}
	want := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "step", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_REGION": "eu-west-1", "_HANDLER": "step.handle", "AWS_ENDPOINT_URL_KINESIS": rt.KinesisEndpoint(),
		"XFLOW_STREAM_OUT": "Out", "XFLOW_EMITS": "Out", "GREETING": "hello", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/step",
		"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
	}
	for k, v := range want {
		if env[k] == nil || *env[k] != v {
			t.Errorf("%s = %v, want %q", k, env[k], v)
		}
	}
	if env["XFLOW_TEST_LEAK"] != nil {
		t.Error("the caller's environment leaked into the worker")
	}
	if env["AWS_LAMBDA_RUNTIME_API"] == nil || !strings.HasPrefix(*env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("AWS_LAMBDA_RUNTIME_API = %v", env["AWS_LAMBDA_RUNTIME_API"])
	}
	if strings.Join(files, ",") != "step.py" {
		t.Errorf("the task root holds %v; a single-file source is packaged alone", files)
	}

	// Now break the handler's import: the next invocation fails at init.
	if err := os.WriteFile(filepath.Join(c.Dir, "step.py"), []byte("import no_such_module\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt2 := start(t, c, local.Options{})
	publishAll(t, rt2, "In", `{"execution_id": "env-2"}`)
	waitIdle(t, rt2, 3*time.Minute)
	logs := strings.Join(groupLines(t, rt2.Logs(), "/aws/lambda/step", ""), "\n")
	for _, s := range []string{"[ERROR] Runtime.ImportModuleError: Unable to import module 'step': No module named 'no_such_module'", "Status: error\tError Type: Runtime.ImportModuleError"} {
		if !strings.Contains(logs, s) {
			t.Errorf("step's log lacks %q:\n%s", s, logs)
		}
	}
	if _, err := os.Stat(filepath.Join(rt2.StateDir(), "failures", "step.jsonl")); err != nil {
		t.Errorf("no dead letter for the record the broken function could not take: %v", err)
	}
}
