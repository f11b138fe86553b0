package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/gittest"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// synthEnv gives xflow an empty git cache for the test, and the rest of
// the tests' cache (Node.js, the CDK CLI, the tracker build) through links,
// so that synth downloads and rebuilds nothing.
func synthEnv(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	node, err := nodejs.Ensure(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := nodejs.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	cache := gittest.CacheDir(t)
	entries, _ := os.ReadDir(shared)
	for _, e := range entries {
		if e.Name() != "git" {
			if err := os.Symlink(filepath.Join(shared, e.Name()), filepath.Join(cache, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv(nodejs.EnvJSIINode, node)
	t.Setenv(nodejs.EnvCacheDir, cache)
}

// A source pinned at a tag stays pinned when the tag moves (the testscript
// git_sources.txtar shows it in detail), and `xflow synth --update-sources`
// packages the tag's new commit into the
// cloud assembly and moves the pin in xflow.lock.
func TestSynthUpdateSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the CDK app")
	}
	repo := gittest.New(t)
	first := repo.Commit(map[string]string{"fn/handler.py": "# first\ndef handle(event, context):\n    pass\n"})
	repo.Tag("v1")
	synthEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "xflow.yaml")
	writeFile(t, cfg, `lambdas:
  - name: greeter
    source: `+repo.URL+`//fn/handler.py?ref=v1
    handler: handle
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [greeter]
`)
	lock := filepath.Join(dir, "xflow.lock")

	if code, _, stderr := xflow(t, "", "generate", "-c", cfg); code != 0 {
		t.Fatalf("generate: exit %d\n%s", code, stderr)
	}
	if got := readFile(t, lock); !strings.Contains(got, "commit: "+first) {
		t.Fatalf("xflow.lock does not pin %s:\n%s", first, got)
	}
	second := repo.Commit(map[string]string{"fn/handler.py": "# second\ndef handle(event, context):\n    pass\n"})
	repo.Tag("v1")

	if code, _, stderr := xflow(t, "", "generate", "-c", cfg); code != 0 || strings.Contains(stderr, "fetching") {
		t.Fatalf("generate: exit %d, fetched although pinned\n%s", code, stderr)
	}
	if got := readFile(t, lock); !strings.Contains(got, "commit: "+first) {
		t.Fatalf("the moved tag changed xflow.lock:\n%s", got)
	}
	out := filepath.Join(dir, "cdk.out")
	if code, _, stderr := xflow(t, "", "synth", "-c", cfg, "-o", out, "--update-sources"); code != 0 {
		t.Fatalf("synth --update-sources: exit %d\n%s", code, stderr)
	}
	if got := packagedHandlers(t, out); got != "# second" {
		t.Errorf("synth --update-sources packaged %q, want the second commit's handler", got)
	}
	if got := readFile(t, lock); !strings.Contains(got, "commit: "+second) || strings.Contains(got, first) {
		t.Errorf("xflow.lock does not pin %s alone:\n%s", second, got)
	}
}

// packagedHandlers returns the first line of every handler.py among the
// cloud assembly's assets, joined by commas.
func packagedHandlers(t *testing.T, out string) string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "handler.py" {
			first, _, _ := strings.Cut(readFile(t, p), "\n")
			got = append(got, first)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, ",")
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServerLocalGitSource: `xflow server --local` fetches and pins git
// sources as `xflow run` does, and runs the handler of the pinned commit.
func TestServerLocalGitSource(t *testing.T) {
	_, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the handler publishes with it", err)
	repo := gittest.New(t)
	commit := repo.Commit(map[string]string{"fn/greeter.py": `import base64, json, os
import boto3

_kinesis = boto3.client("kinesis")


def handle(event, context):
    for record in event["Records"]:
        data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        data["greeting"] = "hello from git"
        _kinesis.put_record(StreamName=os.environ["XFLOW_STREAM_GREETED"],
                            Data=json.dumps(data).encode(), PartitionKey=data["execution_id"])
`})
	repo.Tag("v1")
	t.Setenv("XFLOW_CACHE_DIR", gittest.CacheDir(t))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "xflow.yaml")
	writeFile(t, cfg, `lambdas:
  - name: greeter
    source: `+repo.URL+`//fn/greeter.py?ref=v1
    handler: handle
    runtime: python3.13
    emits: [Greeted]
subscriptions:
  - event: Started
    subscribers: [greeter]
  - event: Greeted
workflows:
  - id: hello
    flow: [Started, Greeted]
`)
	url, serverLog := startPageServer(t, cfg, "", "--state", filepath.Join(dir, "state"))
	if got := readFile(t, filepath.Join(dir, "xflow.lock")); !strings.Contains(got, "commit: "+commit) {
		t.Errorf("xflow.lock does not pin %s:\n%s", commit, got)
	}
	publishAndWait(t, url, "hello", "Started", `{"execution_id": "ex-1"}`, time.Now().Add(time.Minute), serverLog)

}
