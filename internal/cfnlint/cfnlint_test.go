package cfnlint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("SKIP: cfn-lint is not installed")
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`)
	// An unused parameter is a warning (W2001).
	warning := write("warning.json", `{"Parameters": {"P": {"Type": "String"}}, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`)
	bad := write("bad.json", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": "forever"}}}}`)

	// One run for the three templates: cfn-lint takes seconds to start.
	res, stderr, err := run(bin, []string{good, warning, bad})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusError|StatusWarning || !res.Failed() {
		t.Errorf("status %d (failed %v), want %d: an error and a warning", res.Status, res.Failed(), StatusError|StatusWarning)
	}
	w := res.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], warning+":") {
		t.Errorf("warnings %q, want one, in %s", w, warning)
	}
	if strings.Contains(res.Output, good) || !strings.Contains(res.Output, bad+":") {
		t.Errorf("output does not blame bad.json alone:\n%s\n%s", res.Output, stderr)
	}

	res, _, err = run(bin, []string{good})
	if err != nil || res.Status != 0 || res.Failed() || res.Output != "" {
		t.Errorf("good template: %+v, %v", res, err)
	}
}
