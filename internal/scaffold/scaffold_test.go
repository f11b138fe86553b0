package scaffold_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/scaffold"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// cases are the projects the tests write: the default, and every runtime
// with the GitHub workflow.
var cases = []struct {
	name string
	opts scaffold.Options
}{
	{"default", scaffold.Options{Name: "hello"}},
	{"full", scaffold.Options{Name: "orders", Runtimes: scaffold.Runtimes, CI: "github"}},
}

// write writes a project into a temporary folder and returns it.
func write(t *testing.T, opts scaffold.Options) (string, scaffold.Files) {
	t.Helper()
	files, err := scaffold.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), opts.Name)
	if err := scaffold.Write(dir, files, false); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// TestGolden compares every file of each case with testdata/<case>/; run
// with -update to regenerate them.
func TestGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files, err := scaffold.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", tc.name)
			if *update {
				os.RemoveAll(dir)
				if err := scaffold.Write(dir, files, false); err != nil {
					t.Fatal(err)
				}
			}
			var golden []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					golden = append(golden, filepath.ToSlash(rel))
				}
				return nil
			})
			slices.Sort(golden)
			if diff := cmp.Diff(golden, files.Paths()); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			for _, p := range files.Paths() {
				want, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
				if diff := cmp.Diff(string(want), string(files[p])); diff != "" {
					t.Errorf("%s (-want +got):\n%s", p, diff)
				}
			}
		})
	}
}

// What init writes validates as it is, without a warning, and generates
// a CDK app whose functions package the handlers written beside it.
func TestValidatesAndGenerates(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := write(t, tc.opts)
			c, err := config.Load(filepath.Join(dir, "xflow.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) > 0 {
				t.Errorf("warnings:\n%v", config.Errors(c.Warnings))
			}
			app := filepath.Join(dir, ".xflow", "app")
			arts, err := build.New(build.Options{}).All(context.Background(), c, nil, build.Lambda)
			if err != nil {
				t.Fatal(err)
			}
			files, err := generator.Generate(c, generator.Options{AppDir: app, Artifacts: arts})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := files["main.go"]; !ok {
				t.Error("no main.go generated")
			}
			s, err := generator.Resolve(c, app, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(1, len(tc.opts.Runtimes)); len(s.Functions) != want || len(s.Streams) != 2 || len(s.Trackers) != 1 {
				t.Fatalf("%d functions, %d streams, %d trackers; want %d, 2, 1", len(s.Functions), len(s.Streams), len(s.Trackers), want)
			}
			for _, f := range s.Functions {
				if _, err := os.Stat(filepath.Join(app, filepath.FromSlash(f.Code.Path))); err != nil {
					t.Errorf("%s: %v", f.Name, err)
				}
				if !slices.Equal(f.Emits, []string{"TaskProcessed"}) {
					t.Errorf("%s emits %v, want TaskProcessed", f.Name, f.Emits)
				}
			}
			if got := s.Functions[0].Handler; tc.name == "default" && got != "process_task.handle" {
				t.Errorf("handler %q, want process_task.handle", got)
			}
		})
	}
}

// The generated GitHub workflow passes actionlint, with shellcheck on its
// run: scripts when shellcheck is installed.
func TestGitHubWorkflowPassesActionlint(t *testing.T) {
	dir, files := write(t, cases[1].opts)
	if _, ok := files[".github/workflows/xflow.yml"]; !ok {
		t.Fatal("no workflow written")
	}
	actionlintFile(t, filepath.Join(dir, ".github", "workflows", "xflow.yml"))
	wf := string(files[".github/workflows/xflow.yml"])
	for _, want := range []string{
		"id-token: write",
		"role-to-assume: ${{ env.AWS_DEPLOY_ROLE_ARN }}",
		"cdk deploy --app cdk.out --all --require-approval never",
		"cdk diff --app cdk.out",
		"go install \"github.com/xflowhq/xflow/cmd/xflow@${XFLOW_VERSION}\"",
		"node-version: 22",
		"~/go/pkg/mod",
		"cfn-lint --non-zero-exit-code error",
		"xflow synth -o cdk.out",
	} {
		if !strings.Contains(wf, want) {
			t.Errorf("the workflow lacks %q", want)
		}
	}
	// xflow synth builds the Go handler: no build step of its own.
	if strings.Contains(wf, "go build") {
		t.Errorf("the workflow builds a handler by hand:\n%s", wf)
	}
}

// TestCIForExistingProject: the workflow of a project that exists passes
// actionlint and leaves the builds to xflow synth; a source outside the
// repository, which CI cannot build, is refused.
func TestCIForExistingProject(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"xflow.yaml": `lambdas:
  - name: resize
    source: "handlers/resize #2"
    runtime: provided.al2023
  - name: notify
    source: notify.py
    handler: handle
    runtime: python3.13
subscriptions:
  - event: Uploaded
    subscribers: [resize]
  - event: Resized
    subscribers: [notify]
`,
		"handlers/resize #2/go.mod":  "module resize\n",
		"handlers/resize #2/main.go": "package main\n",
		"notify.py":                  "def handle(event, context):\n    pass\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(filepath.Join(dir, "xflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := scaffold.CI(c, "github")
	if err != nil {
		t.Fatal(err)
	}
	if got := files.Paths(); len(got) != 1 || got[0] != scaffold.CIWorkflow {
		t.Fatalf("files %v, want only %s", got, scaffold.CIWorkflow)
	}
	if err := scaffold.Write(dir, files, false); err != nil {
		t.Fatal(err)
	}
	actionlintFile(t, filepath.Join(dir, filepath.FromSlash(scaffold.CIWorkflow)))
	wf := string(files[scaffold.CIWorkflow])
	if !strings.Contains(wf, "xflow synth -o cdk.out") || strings.Contains(wf, "go build") {
		t.Errorf("the workflow does not leave the builds to xflow synth:\n%s", wf)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "x.py"), []byte("def handle(e, c): pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Lambdas[1].Code.Path = filepath.Join(outside, "x.py")
	if _, err := scaffold.CI(c, "github"); err == nil || !strings.Contains(err.Error(), "outside the project's folder, where CI cannot build it") {
		t.Errorf("a source outside the project: %v", err)
	}
}

// actionlintFile fails the test on any problem actionlint finds in a
// workflow file (with shellcheck on its scripts when it is installed).
func actionlintFile(t *testing.T, path string) {
	t.Helper()
	opts := &actionlint.LinterOptions{Oneline: true}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck is not installed: run: scripts are not checked")
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problems in %s:\n%s", len(errs), path, out.String())
	}
}

// The Go handler builds offline, with exactly the go.mod and go.sum init
// writes: no module beyond xflow's own, no missing checksum.
func TestGoHandlerBuildsOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the AWS SDK")
	}
	dir, _ := write(t, scaffold.Options{Name: "gohandler", Runtimes: []string{"provided.al2023"}})
	fn := filepath.Join(dir, "functions", "process_task_go")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", "bootstrap", ".")
	cmd.Dir = fn
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0",
		"GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(fn, "bootstrap")); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("go", "vet", ".")
	cmd.Dir = fn
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go vet: %v\n%s", err, out)
	}
}

// The Python and Node.js handlers are valid code, checked when python3
// and node are installed.
func TestHandlersCompile(t *testing.T) {
	dir, _ := write(t, cases[1].opts)
	for _, c := range [][]string{
		{"python3", "-m", "py_compile", "functions/process_task.py"},
		{"node", "--check", "functions/process_task.mjs"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Logf("%s is not installed: %s not checked", c[0], c[len(c)-1])
			continue
		}
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONPYCACHEPREFIX="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// Write refuses to overwrite, listing every file in the way and writing
// nothing; with force it overwrites.
func TestWriteRefusesExistingFiles(t *testing.T) {
	files, err := scaffold.New(scaffold.Options{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range []string{"xflow.yaml", "README.md"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err = scaffold.Write(dir, files, false)
	var exists *scaffold.ExistsError
	if !errors.As(err, &exists) || !slices.Equal(exists.Paths, []string{"README.md", "xflow.yaml"}) {
		t.Fatalf("err = %v, want README.md and xflow.yaml listed", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a refused init wrote files: %v", entries)
	}
	if err := scaffold.Write(dir, files, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "xflow.yaml")); string(b) == "mine\n" {
		t.Error("--force did not overwrite xflow.yaml")
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, opts := range []scaffold.Options{
		{Runtimes: []string{"python2.7"}},
		{CI: "gitlab"},
	} {
		if _, err := scaffold.New(opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

// The stack name comes from the folder's name, made valid.
func TestStackName(t *testing.T) {
	for name, want := range map[string]string{
		"orders":        "orders",
		"my project.v2": "my-project-v2",
		"2026-report":   "xflow-2026-report",
		"...":           "xflow",
		"":              "xflow-app",
	} {
		files, err := scaffold.New(scaffold.Options{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(files["xflow.yaml"]), "\n  stack_name: "+want+"\n") {
			t.Errorf("%q: want stack_name %s", name, want)
		}
	}
}
