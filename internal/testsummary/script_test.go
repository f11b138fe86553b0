package testsummary

import (
	"os/exec"
	"strings"
	"testing"
)

// TestScriptsTestListsSkips runs scripts/test, the command that runs
// xflow's tests, on a test that skips: its output ends with the skipped
// test and its reason, and its exit status is still 0. It starts the
// script's own moto_server and Node.js check, so it takes some seconds.
func TestScriptsTestListsSkips(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: runs scripts/test")
	}
	cmd := exec.Command("../../scripts/test", "-count=1", "-tags", "testsummary_fixture", "-run", "^TestFixture", "./internal/testsummary")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/test: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ok  \tgithub.com/xflowhq/xflow/internal/testsummary\t",
		"\n1 test skipped:\nSKIP github.com/xflowhq/xflow/internal/testsummary TestFixtureSkips: fixture_tagged_test.go:14: SKIP: the fixture's tool is not installed\n",
		"scripts/test: ok\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("scripts/test's output lacks %q:\n%s", want, out)
		}
	}
}
