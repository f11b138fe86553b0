// Package cfnlint runs cfn-lint, the CloudFormation linter, on the
// templates that tests synthesize, so that every test that builds a
// template also proves that CloudFormation's own rules accept it.
package cfnlint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Bits of cfn-lint's exit status.
const (
	StatusFailed  = 1 // cfn-lint itself failed (bad arguments, a crash)
	StatusError   = 2 // at least one error: CloudFormation would reject the template
	StatusWarning = 4 // at least one warning
	StatusInfo    = 8 // at least one informational finding
)

// Result is what cfn-lint said about the templates.
type Result struct {
	Ran    bool   // false when cfn-lint is not installed (outside CI)
	Status int    // the exit status, a bitmask of the Status constants
	Output string // one finding per line (parseable format)
}

// Warnings returns the warning lines of the output (rule ids W....).
func (r Result) Warnings() []string {
	var out []string
	for _, line := range strings.Split(r.Output, "\n") {
		if fields := strings.Split(line, ":"); len(fields) > 6 && strings.HasPrefix(fields[5], "W") {
			out = append(out, line)
		}
	}
	return out
}

// Check runs cfn-lint on the templates in a subtest named "cfn-lint". The
// subtest fails on any error (or when cfn-lint fails), logs warnings and
// informational findings, and is skipped, visibly, when cfn-lint is not
// installed, unless the CI environment variable is set: CI must lint.
func Check(t *testing.T, paths ...string) Result {
	t.Helper()
	var res Result
	t.Run("cfn-lint", func(t *testing.T) {
		bin, err := exec.LookPath("cfn-lint")
		if err != nil {
			msg := "cfn-lint is not installed (pip install cfn-lint); templates not linted: " + strings.Join(paths, " ")
			if os.Getenv("CI") != "" {
				t.Fatal(msg + ", and CI is set")
			}
			t.Skip("SKIP: " + msg)
		}
		var stderr string
		res, stderr, err = run(bin, paths)
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed() {
			t.Errorf("cfn-lint reports errors (exit status %d):\n%s\n%s", res.Status, res.Output, stderr)
			return
		}
		if res.Output != "" {
			t.Logf("cfn-lint (exit status %d):\n%s", res.Status, res.Output)
		}
	})
	return res
}

// Failed tells whether CloudFormation would reject a template, or cfn-lint
// could not tell.
func (r Result) Failed() bool {
	return r.Status&(StatusFailed|StatusError) != 0 || r.Status > StatusError|StatusWarning|StatusInfo || r.Status < 0
}

func run(bin string, paths []string) (res Result, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"--format", "parseable", "--"}, paths...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	res = Result{Ran: true, Output: strings.TrimSpace(out.String())}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.Status = exit.ExitCode()
	default:
		return res, "", fmt.Errorf("run cfn-lint: %w\n%s", err, errOut.String())
	}
	return res, strings.TrimSpace(errOut.String()), nil
}
