// Package wordcount_test runs the Python tests of the wordcount example's
// functions from `go test ./...`, so that the README's one test command
// covers the example too.
package wordcount_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/awstest"
)

// python returns the python3 to run the tests with, or skips.
func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		msg := "SKIP: python3 is not on PATH; the wordcount example's Python tests did not run (install Python 3.12)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set")
		}
		t.Skip(msg)
	}
	return p
}

// unittest runs `python3 -m unittest -v names...` in this folder.
func unittest(t *testing.T, env []string, names ...string) {
	t.Helper()
	cmd := exec.Command(python(t), append([]string{"-m", "unittest", "-v"}, names...)...)
	// No __pycache__ in the source tree.
	cmd.Env = append(os.Environ(), append([]string{"PYTHONDONTWRITEBYTECODE=1"}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest %s: %v\n%s", strings.Join(names, " "), err, out)
	}
	t.Logf("python3 -m unittest %s:\n%s", strings.Join(names, " "), out)
	if strings.Contains(string(out), "skipped") {
		t.Errorf("a Python test skipped; each test's skipping is decided here:\n%s", out)
	}
}

// TestFunctions checks each step of the example, no network needed.
func TestFunctions(t *testing.T) {
	unittest(t, nil,
		"test_wordcount.StepsTest", "test_wordcount.HandlersTest", "test_wordcount.ClientTest")
}

// TestWorkflowOnMoto runs the five functions in order on moto's Kinesis.
func TestWorkflowOnMoto(t *testing.T) {
	awstest.Config(t) // skips without an endpoint; sets dummy credentials and region
	py := python(t)
	if out, err := exec.Command(py, "-c", "import boto3").CombinedOutput(); err != nil {
		msg := "SKIP: boto3 is not importable by python3 (pip install boto3): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set")
		}
		t.Skip(msg)
	}
	region := os.Getenv("AWS_REGION")
	env := []string{"XFLOW_REQUIRE_MOTO=1"}
	if os.Getenv("AWS_DEFAULT_REGION") == "" {
		env = append(env, "AWS_DEFAULT_REGION="+region) // boto3 reads this one
	}
	unittest(t, env, "test_wordcount.MotoEndToEndTest")
}
