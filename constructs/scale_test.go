package constructs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/xflowhq/xflow/internal/cfnlint"
)

// scaleSynth synthesizes a chain spec of n functions (plus extra ones) in
// an app of its own and returns its stacks by name.
func scaleSynth(t *testing.T, n int, extra ...string) map[string]*synthesized {
	t.Helper()
	requireCDK(t)
	dir := t.TempDir()
	s := chainSpec(n, extra...)
	for i := range s.Functions {
		f := &s.Functions[i]
		f.Code.Path = filepath.Join(dir, "src", f.Lambda+".py")
		writeFile(t, f.Code.Path, "# "+f.Lambda+"\ndef handle(event, context):\n    return None\n")
	}
	asset := fakeTrackerAsset(t, filepath.Join(dir, "tracker"))
	out := filepath.Join(dir, "cdk.out")

	start := time.Now()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	stacks, err := NewWorkflowApp(app, s, AppOptions{TrackerAssetDir: asset})
	if err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)
	app.Synth(nil)
	t.Logf("n=%d: %d stacks, built in %s, synthesized in %s", n+len(extra), len(stacks), built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	got := map[string]*synthesized{}
	for _, st := range stacks {
		path := filepath.Join(out, *st.TemplateFile())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sy := &synthesized{spec: s, stack: st, path: path}
		if err := json.Unmarshal(b, &sy.raw); err != nil {
			t.Fatal(err)
		}
		if len(b) >= MaxStackTemplateBytes {
			t.Errorf("%s: template of %d bytes, want < %d", *st.StackName(), len(b), MaxStackTemplateBytes)
		}
		got[*st.StackName()] = sy
	}
	return got
}

// checkScale holds the synthesized stacks of a chain spec of n functions to
// the acceptance bounds: every stack under 450 resources (and 800 KB,
// checked by scaleSynth), every function, stream and tracker exactly
// once, no export or import between stacks, and cfn-lint without error.
func checkScale(t *testing.T, n int, stacks map[string]*synthesized) {
	t.Helper()
	count := map[string]int{}
	var paths []string
	for name, st := range stacks {
		paths = append(paths, st.path)
		res := st.raw["Resources"].(object)
		if len(res) >= MaxStackResources {
			t.Errorf("%s: %d resources, want < %d", name, len(res), MaxStackResources)
		}
		for _, r := range res {
			r := r.(object)
			switch r["Type"] {
			case "AWS::Lambda::Function":
				count["function "+propsOf(r)["FunctionName"].(string)]++
			case "AWS::Kinesis::Stream":
				count["stream "+propsOf(r)["Name"].(string)]++
			}
		}
		b, _ := os.ReadFile(st.path)
		if strings.Contains(string(b), "Fn::ImportValue") || st.raw["Outputs"] != nil {
			t.Errorf("%s exports or imports values; streams are reached by name", name)
		}
	}
	s := chainSpec(n)
	for _, f := range s.Functions {
		if count["function "+f.Name] != 1 {
			t.Errorf("function %s appears %d times", f.Name, count["function "+f.Name])
		}
	}
	for _, tr := range s.Trackers {
		if count["function "+tr.Name] != 1 {
			t.Errorf("tracker %s appears %d times", tr.Name, count["function "+tr.Name])
		}
	}
	for _, st := range s.Streams {
		if count["stream "+st.Name] != 1 {
			t.Errorf("stream %s appears %d times", st.Name, count["stream "+st.Name])
		}
	}
	sort.Strings(paths)
	cfnlint.Check(t, paths...)
}

// TestScale5 is acceptance 1 for a small config: one stack, named after the
// config, as before splitting existed.
func TestScale5(t *testing.T) {
	stacks := scaleSynth(t, 5)
	if len(stacks) != 1 || stacks["bench"] == nil {
		t.Fatalf("stacks %v, want the one stack bench", keys(stacks))
	}
	checkScale(t, 5, stacks)
}

// TestScale500AddFunction is acceptances 1 and 2 for 500 functions: the
// config synthesizes into stacks within the bounds that cfn-lint accepts,
// and adding one function moves no existing resource to another stack
// and changes no logical id.
func TestScale500AddFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes 500 and 501 functions")
	}
	before := scaleSynth(t, 500)
	if len(before) < 2 {
		t.Fatalf("%d stack(s) for 500 functions, want a split", len(before))
	}
	checkScale(t, 500, before)

	after := scaleSynth(t, 500, addedFunction)
	where := map[string]string{} // logical id → stack, after
	for name, st := range after {
		for id := range st.raw["Resources"].(object) {
			where[id] = name
		}
	}
	moved := 0
	for name, st := range before {
		for id, r := range st.raw["Resources"].(object) {
			if where[id] != name {
				moved++
				if moved <= 10 {
					t.Errorf("%s %s of stack %s is in stack %q after adding a function", r.(object)["Type"], id, name, where[id])
				}
			}
		}
	}
	if moved > 0 {
		t.Errorf("%d resources changed stack or logical id", moved)
	}
	added := 0
	for _, st := range after {
		for _, r := range resourcesOf(st.raw, "AWS::Lambda::Function") {
			if propsOf(r)["FunctionName"] == addedFunction {
				added++
			}
		}
	}
	if added != 1 {
		t.Errorf("the added function appears %d times", added)
	}
}

// TestSplitCrossStackByName: in a split app, a step reads and writes the
// streams of another stack by their deterministic ARN, and its stack
// depends on theirs.
func TestSplitCrossStackByName(t *testing.T) {
	requireCDK(t)
	s := chainSpec(100)
	l, err := PlanStacks(s)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Split() {
		t.Fatal("100 functions fit one stack; the test needs a split")
	}
	dir := t.TempDir()
	for i := range s.Functions {
		s.Functions[i].Code.Path = filepath.Join(dir, s.Functions[i].Lambda+".py")
		writeFile(t, s.Functions[i].Code.Path, "def handle(e, c): pass\n")
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(dir, "cdk.out"))})
	stacks, err := NewWorkflowApp(app, s, AppOptions{TrackerAssetDir: fakeTrackerAsset(t, filepath.Join(dir, "tracker"))})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]awscdk.Stack{}
	for _, st := range stacks {
		byName[*st.StackName()] = st
	}
	f := s.Functions[0]
	home := byName[l.StackOf(s, StackFunctions, f.Lambda)]
	in := l.StackOf(s, StackStreams, f.Subscriptions[0].Event)
	tpl := templateOf(home)
	m := mappingsOf(t, tpl, f.Name)
	if len(m) != 1 {
		t.Fatalf("%s has %d mappings", f.Name, len(m))
	}
	for _, p := range m {
		want := `{"Fn::Sub":"arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/` + f.Subscriptions[0].Event + `"}`
		if got := jsonOf(p["EventSourceArn"]); got != want {
			t.Errorf("mapping reads %s, want %s", got, want)
		}
	}
	deps := map[string]bool{}
	for _, d := range *home.Dependencies() {
		deps[*d.StackName()] = true
	}
	if !deps[in] || !deps["bench"] {
		t.Errorf("%s depends on %v, want %s and bench", *home.StackName(), deps, in)
	}
}

// templateOf returns a stack's template as the assertions library renders
// it (no synth needed).
func templateOf(st awscdk.Stack) object {
	return *assertions.Template_FromStack(st, nil).ToJSON()
}
