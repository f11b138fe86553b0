package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/wheeltest"
)

// dependenciesProject is a workflow In → Mid → Out of two functions with
// dependencies: a Python one whose requirements.txt names a package of a
// wheel folder (pip reaches no index here: the folder is all it has) and a
// local package (a path requirement), and a Node.js one with an npm
// dependency pinned in its package-lock.json and a devDependency.
func dependenciesProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	wheels := filepath.Join(dir, "wheels")
	wheeltest.Wheel(t, wheels, "greetlib", "1.2.0", "py3-none-any", map[string]string{"greetlib/__init__.py": "def greet(name):\n    return 'hello ' + name\n"})
	wheeltest.LocalPackage(t, filepath.Join(dir, "shared"), "shared", "0.1", map[string]string{"__init__.py": "NAME = 'world'\n"})
	t.Setenv("PIP_NO_INDEX", "1")
	t.Setenv("PIP_FIND_LINKS", wheels)
	files := map[string]string{
		"xflow.yaml": `general:
  lambda_timeout_time: 20
lambdas:
  - name: greeter
    source: greeter
    handler: handler.handle
    runtime: python3.12
  - name: counter
    source: counter
    handler: index.handler
    runtime: nodejs22.x
subscriptions:
  - event: In
    subscribers: [greeter]
  - event: Mid
    subscribers: [counter]
  - event: Out
    subscribers:
workflows:
  - id: deps
    flow: [In, Mid, Out]
`,
		"greeter/requirements.txt": "greetlib==1.2.0\n../shared\n",
		"greeter/handler.py": `import base64, json, os

import boto3, greetlib, shared

kinesis = boto3.client("kinesis")


def handle(event, context):
    for r in event["Records"]:
        e = json.loads(base64.b64decode(r["kinesis"]["data"]))
        out = {"execution_id": e["execution_id"], "greeting": greetlib.greet(shared.NAME)}
        kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_MID"], Data=json.dumps(out), PartitionKey=e["execution_id"])
`,
		"counter/index.js": `const isNumber = require("is-number");
const { KinesisClient, PutRecordCommand } = require("@aws-sdk/client-kinesis");

const kinesis = new KinesisClient({});

exports.handler = async (event) => {
  for (const r of event.Records) {
    const e = JSON.parse(Buffer.from(r.kinesis.data, "base64").toString());
    const out = { execution_id: e.execution_id, length: e.greeting.length, numeric: isNumber(e.greeting.length) };
    await kinesis.send(new PutRecordCommand({ StreamName: process.env.XFLOW_STREAM_OUT, Data: Buffer.from(JSON.stringify(out)), PartitionKey: e.execution_id }));
  }
};
`,
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		files["counter/"+name] = readFile(t, filepath.Join("..", "..", "internal", "build", "testdata", "nodefn", name))
	}
	for p, data := range files {
		writeFile(t, filepath.Join(dir, p), data)
	}
	return dir
}

// assetOf returns the cloud assembly folder of a function's package: the
// asset path the CDK records on the function in the template.
func assetOf(t *testing.T, out, template, function string) string {
	t.Helper()
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
			Metadata   map[string]any `json:"Metadata"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, template))), &tpl); err != nil {
		t.Fatal(err)
	}
	for _, r := range tpl.Resources {
		if r.Type == "AWS::Lambda::Function" && r.Properties["FunctionName"] == function {
			asset, _ := r.Metadata["aws:asset:path"].(string)
			if asset == "" {
				t.Fatalf("function %s has no asset path in %s", function, template)
			}
			return filepath.Join(out, asset)
		}
	}
	t.Fatalf("no function %s in %s", function, template)
	return ""
}

// TestDependenciesDeployedAndRunLocally: what synth packages for each
// function holds its dependencies (and no devDependency), and xflow run
// runs the same packages, the handlers importing them.
func TestDependenciesDeployedAndRunLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	for _, tool := range []string{"python3", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			needTool(t, tool, "install it", err)
		}
	}
	synthEnv(t)
	dir := dependenciesProject(t)
	out := filepath.Join(dir, "cdk.out")
	code, _, stderr := xflow(t, "", "synth", "-c", filepath.Join(dir, "xflow.yaml"), "-o", out)
	if code != 0 {
		t.Fatalf("synth: exit %d\n%s", code, stderr)
	}
	greeter := assetOf(t, out, "xflow.template.json", "greeter")
	for _, f := range []string{"handler.py", "greetlib/__init__.py", "shared/__init__.py"} {
		if _, err := os.Stat(filepath.Join(greeter, f)); err != nil {
			t.Errorf("the greeter's asset lacks %s: %v", f, err)
		}
	}
	counter := assetOf(t, out, "xflow.template.json", "counter")
	if _, err := os.Stat(filepath.Join(counter, "node_modules", "is-number", "package.json")); err != nil {
		t.Errorf("the counter's asset lacks its dependency: %v", err)
	}
	if _, err := os.Stat(filepath.Join(counter, "node_modules", "kind-of")); err == nil {
		t.Errorf("the counter's asset holds its devDependency kind-of")
	}

	// Built again from nothing (an empty build cache), the packages are
	// the same bytes: the same asset hashes in a new assembly.
	// The test's build cache: a link to the machine's (see synthEnv), or
	// its own when the machine had none yet. Either way, aside with it.
	cache, _ := os.LookupEnv("XFLOW_CACHE_DIR")
	if err := os.Rename(filepath.Join(cache, "build"), filepath.Join(cache, "build.before")); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "cdk.out.again")
	if code, _, stderr := xflow(t, "", "synth", "-c", filepath.Join(dir, "xflow.yaml"), "-o", again, "--force"); code != 0 || !strings.Contains(stderr, "xflow: built greeter") {
		t.Fatalf("synth with an empty build cache: exit %d\n%s", code, stderr)
	}
	for _, fn := range []string{"greeter", "counter"} {
		if a, b := filepath.Base(assetOf(t, out, "xflow.template.json", fn)), filepath.Base(assetOf(t, again, "xflow.template.json", fn)); a != b {
			t.Errorf("%s: asset %s, then %s from a new build", fn, a, b)
		}
	}

	// A second synth with nothing changed builds nothing.
	code, _, stderr = xflow(t, "", "synth", "-c", filepath.Join(dir, "xflow.yaml"), "-o", out)
	if code != 0 || strings.Contains(stderr, "xflow: built ") || !strings.Contains(stderr, "is up to date") {
		t.Errorf("a second synth: exit %d, want nothing built and the assembly reused:\n%s", code, stderr)
	}

	code, stdout, stderr := xflow(t, "", "run", "-c", filepath.Join(dir, "xflow.yaml"), "--state", filepath.Join(dir, "state"),
		"--publish", "In", `{"execution_id": "d1"}`, "--wait", "--timeout", "3m")
	if code != 0 || !strings.Contains(stdout, "execution d1: finished") {
		t.Errorf("run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestNoWheelStopsSynth: a requirement with no wheel for Lambda's
// platform stops synth before anything is written, naming the package.
func TestNoWheelStopsSynth(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		needTool(t, "python3", "install it", err)
	}
	synthEnv(t)
	dir := dependenciesProject(t)
	wheeltest.Wheel(t, filepath.Join(dir, "wheels"), "fastmath", "2.0", "cp311-cp311-linux_x86_64", map[string]string{"fastmath.py": ""})
	writeFile(t, filepath.Join(dir, "greeter", "requirements.txt"), "fastmath==2.0\n")
	out := filepath.Join(dir, "cdk.out")
	code, _, stderr := xflow(t, "", "synth", "-c", filepath.Join(dir, "xflow.yaml"), "-o", out)
	if code != 1 {
		t.Fatalf("synth with a package lacking a wheel: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"xflow.yaml:5:13: lambdas[0].source: lambda greeter: pip found no wheel of fastmath for Python 3.12 on Lambda's linux x86_64 (manylinux)", "PIP_FIND_LINKS"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, p := range []string{out, filepath.Join(dir, ".xflow")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a failed build wrote %s", p)
		}
	}
}

// TestOversizedPackageRefused: a function whose package would be over
// Lambda's 250 MB unzipped is refused before anything is written or
// deployed (no AWS is reached: none is configured).
func TestOversizedPackageRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "xflow.yaml"), "lambdas:\n  - name: big\n    source: big\n    handler: h.handle\n    runtime: python3.12\nsubscriptions:\n  - event: In\n    subscribers: [big]\n")
	writeFile(t, filepath.Join(dir, "big", "h.py"), "def handle(e, c): pass\n")
	f, err := os.Create(filepath.Join(dir, "big", "model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(251 << 20); err != nil { // sparse: no room taken
		t.Fatal(err)
	}
	f.Close()
	t.Setenv("XFLOW_CACHE_DIR", t.TempDir())
	for _, cmd := range []string{"deploy", "synth", "build"} {
		code, _, stderr := xflow(t, "", cmd, "-c", filepath.Join(dir, "xflow.yaml"))
		if code != 1 || !strings.Contains(stderr, "lambda big: its package is 251.0 MB unzipped, over Lambda's limit of 250 MB") || !strings.Contains(stderr, "model.bin 251.0 MB") {
			t.Errorf("%s: exit %d\n%s", cmd, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".xflow")); err == nil {
		t.Error("a refused package left .xflow behind")
	}
}
