package constructs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/internal/nodejs"
)

// nodeErr is why the CDK cannot run here, if it cannot; synthesizing tests
// fail with it.
var nodeErr error

// envNodeReady marks the test process that runs with a suitable Node.js.
const envNodeReady = "XFLOW_TEST_NODE_READY"

func TestMain(m *testing.M) {
	// The CDK runs in Node.js through jsii, which refuses Node.js releases
	// out of support. jsii reads JSII_NODE and PATH when the CDK packages
	// are initialized, before TestMain runs, so setting them here is too
	// late: when the Node.js to use is not the one the process started
	// with, run the tests again in a child process that starts with it.
	if os.Getenv(envNodeReady) == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		node, err := nodejs.Ensure(ctx, os.Stderr)
		cancel()
		switch {
		case err != nil:
			nodeErr = fmt.Errorf("no Node.js for the CDK: %w", err)
		case !startedWith(node):
			code := rerun(node)
			jsii.Close() // removes the runtime that init prepared, never started
			os.Exit(code)
		}
	}
	code := m.Run()
	jsii.Close()
	cleanupShared()
	os.Exit(code)
}

// startedWith tells whether jsii will run node: JSII_NODE names it, or it
// is the first node on PATH.
func startedWith(node string) bool {
	if os.Getenv(nodejs.EnvJSIINode) != "" {
		return true // nodejs.Ensure accepted it
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return false
	}
	a, errA := filepath.EvalSymlinks(p)
	b, errB := filepath.EvalSymlinks(node)
	return errA == nil && errB == nil && a == b
}

// rerun runs this test binary again with node and returns its exit status.
func rerun(node string) int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(nodejs.Env(node), envNodeReady+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "run the tests with %s: %v\n", node, err)
		return 1
	}
}

// requireCDK fails the test when the CDK cannot run.
func requireCDK(t *testing.T) {
	t.Helper()
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
}
