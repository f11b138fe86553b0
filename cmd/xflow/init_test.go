package main

import (
	"os"
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
