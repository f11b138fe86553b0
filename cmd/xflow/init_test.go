package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/cfnlint"
)

// What `xflow init` writes, with every runtime, synthesizes as it is
// through `xflow synth` run from the project's folder, the way its
// cdk.json runs it, and cfn-lint finds no error in the template.
func TestInitSynthesizes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	synthEnv(t)
	dir := filepath.Join(t.TempDir(), "orders")
	if code, _, stderr := xflow(t, "", "init", "--runtime", "python3.13,nodejs22.x,provided.al2023", "--ci", "github", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	t.Chdir(dir)
	code, stdout, stderr := xflow(t, "", "synth")
	if code != 0 {
		t.Fatalf("synth: exit %d\n%s", code, stderr)
	}
	template := filepath.Join(dir, "cdk.out", "orders.template.json")
	if !strings.Contains(stdout, "stack orders: ") {
		t.Errorf("synth output %q does not name the stack orders", stdout)
	}
	b, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Runtime": "python3.13"`, `"Runtime": "nodejs22.x"`, `"Runtime": "provided.al2023"`, `"Handler": "process_task.handle"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the template lacks %s", want)
		}
	}
	cfnlint.Check(t, template)
}

// What `xflow init` writes runs on this machine as it is: its Python,
// Node.js and Go handlers each take the task and publish the next event
// (the Node.js one with the AWS SDK, which Lambda's runtime includes and
// local mode provides), and none gives up on a record.
func TestInitRunsLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go handler and installs the AWS SDK for Node.js")
	}
	_, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the Python handler publishes with it", err)
	synthEnv(t)
	dir := filepath.Join(t.TempDir(), "tasks")
	if code, _, stderr := xflow(t, "", "init", "--runtime", "python3.13,nodejs22.x,provided.al2023", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := xflow(t, "", "run", "-c", filepath.Join(dir, "xflow.yaml"),
		"--publish", "TaskSubmitted", `{"execution_id": "t1", "task": "first"}`, "--wait")
	if code != 0 || !strings.Contains(stdout, "execution t1: finished, all 2 events received") {
		t.Fatalf("run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Three functions each published TaskProcessed once.
	code, stdout, stderr = xflow(t, "", "track", "--local", "--json", "-c", filepath.Join(dir, "xflow.yaml"), "tasks", "t1")
	if code != 0 || !strings.Contains(stdout, `"records": 3`) {
		t.Errorf("track: exit %d, want TaskProcessed received 3 times\n%s\n%s", code, stdout, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".xflow", "failures")); len(entries) > 0 || strings.Contains(stderr, "gave up") {
		t.Errorf("a function gave up on records: %v\n%s", entries, stderr)
	}
	// The runtime stopped the Go worker as Lambda would, not by closing
	// the API under it (aws-lambda-go logs that as a failure).
	logs, _ := filepath.Glob(filepath.Join(dir, ".xflow", "logs", "aws", "lambda", "process_task_go", "*"))
	for _, l := range logs {
		if strings.Contains(readFile(t, l), "failed to get the next invoke") {
			t.Errorf("the Go worker logged a failure at stop:\n%s", readFile(t, l))
		}
	}
	if len(logs) == 0 {
		t.Errorf("no log of process_task_go")
	}
}

// A Node.js handler that imports a part of the AWS SDK local mode does not
// provide fails at init; the report names the function as failed, with
// the dead letter, the import error and how to provide the package.
func TestInitMissingSDKPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the AWS SDK for Node.js")
	}
	synthEnv(t)
	dir := filepath.Join(t.TempDir(), "tasks")
	if code, _, stderr := xflow(t, "", "init", "--runtime", "nodejs22.x", dir); code != 0 {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	handler := filepath.Join(dir, "functions", "process_task.mjs")
	writeFile(t, handler, "import { S3Client } from \"@aws-sdk/client-s3\";\n"+readFile(t, handler))
	code, stdout, stderr := xflow(t, "", "run", "-c", filepath.Join(dir, "xflow.yaml"),
		"--publish", "TaskSubmitted", `{"execution_id": "t1"}`, "--wait")
	if code == 0 {
		t.Fatalf("run: exit 0, want the execution stuck\n%s", stdout)
	}
	for _, want := range []string{
		"execution t1: failed, 1 of 2 events received",
		"produced by: process_task (FAILED)",
		"gave up on the TaskSubmitted batch",
		"Runtime.ImportModuleError",
		"npm install --save-dev @aws-sdk/client-s3",
		filepath.Join(dir, ".xflow", "failures", "process_task.jsonl"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s\n%s", want, stdout, stderr)
		}
	}
}
