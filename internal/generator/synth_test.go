package generator

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/cfnlint"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

func synth(t *testing.T, c *config.Config, appDir, outDir string) *Assembly {
	t.Helper()
	arts := artifacts(t, c)
	files, err := Generate(c, Options{AppDir: appDir, Artifacts: arts})
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(appDir, files, arts); err != nil {
		t.Fatal(err)
	}
	asm, err := Synth(context.Background(), SynthOptions{AppDir: appDir, OutDir: outDir, Progress: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	return asm
}

// The original xFlow's README config, with its runtime brought up to date,
// synthesizes, and its template passes cfn-lint.
func TestSynthSeedConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	data := strings.ReplaceAll(string(mustRead(t, "../config/testdata/seed.yaml")), "python2.7", "python3.12")
	c, err := config.Parse("../config/testdata/seed.yaml", []byte(data), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	asm := synth(t, c, filepath.Join(dir, "app"), filepath.Join(dir, "cdk.out"))
	if len(asm.Stacks) != 1 {
		t.Fatalf("%d stacks", len(asm.Stacks))
	}
	tmpl := readTemplate(t, asm.Stacks[0].Template)
	counts := map[string]int{}
	for _, r := range tmpl.Resources {
		counts[r.Type]++
	}
	// lambda_execution_role_name imports the role: no IAM resource at all.
	want := map[string]int{"AWS::Kinesis::Stream": 6, "AWS::Lambda::Function": 6, "AWS::Lambda::EventSourceMapping": 11, "AWS::IAM::Role": 0}
	for typ, n := range want {
		if counts[typ] != n {
			t.Errorf("%d %s, want %d", counts[typ], typ, n)
		}
	}
	cfnlint.Check(t, asm.Stacks[0].Template)
}

// `cdk synth` through the npm CDK CLI, in the generated app's folder and at
// the repository's root, gives the same template as `xflow synth`.
func TestCDKSynthMatchesXflowSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	ctx := context.Background()
	node, err := nodejs.Ensure(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	cdk, err := nodejs.EnsureCDK(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, "../../examples/wordcount/xflow.yaml")
	dir := t.TempDir()
	appDir := filepath.Join(c.Dir, ".xflow", "app") // where the root cdk.json's synth puts it
	asm := synth(t, c, appDir, filepath.Join(dir, "xflow.out"))
	want := readTemplate(t, asm.Stacks[0].Template)

	for _, tc := range []struct{ name, dir string }{
		{"generated app", appDir},
		{"repository root", "../.."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			cmd := exec.CommandContext(ctx, cdk, "synth", "--quiet", "--output", out)
			cmd.Dir = tc.dir
			cmd.Env = nodejs.Env(node)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cdk synth in %s: %v\n%s", tc.dir, err, b)
			}
			got := readTemplate(t, filepath.Join(out, filepath.Base(asm.Stacks[0].Template)))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cdk synth differs from xflow synth (-xflow +cdk):\n%s", diff)
			}
		})
	}
}

type cfnTemplate struct {
	Resources map[string]struct {
		Type       string
		Properties map[string]any
		Metadata   map[string]any
		DependsOn  any
	}
	Conditions, Parameters, Rules, Outputs map[string]any
}

func readTemplate(t *testing.T, path string) cfnTemplate {
	t.Helper()
	var tmpl cfnTemplate
	if err := json.Unmarshal(mustRead(t, path), &tmpl); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(tmpl.Resources) == 0 {
		t.Fatalf("%s has no resources", path)
	}
	return tmpl
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
