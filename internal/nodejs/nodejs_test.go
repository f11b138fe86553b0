package nodejs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "v22.12.0\n", want: Version{22, 12, 0}},
		{in: "v20.20.2", want: Version{20, 20, 2}},
		{in: "22.1.3", want: Version{22, 1, 3}},
		{in: "v23.0.0-nightly20241010abc", want: Version{23, 0, 0}},
		{in: "v24", want: Version{24, 0, 0}},
		{in: "v18.7", want: Version{18, 7, 0}},
		{in: "2.1148.1 (build fcf5e34)\n", want: Version{2, 1148, 1}},
		{in: "  v100.2.3  ", want: Version{100, 2, 3}},
		{in: "", wantErr: true},
		{in: "node: not found", wantErr: true},
		{in: "vX.1.2", wantErr: true},
		{in: "v22.1.2.3", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseVersion(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b Version
		want bool
	}{
		{Version{2, 1148, 1}, Version{2, 1148, 1}, false},
		{Version{2, 1147, 9}, Version{2, 1148, 0}, true},
		{Version{2, 1148, 0}, Version{2, 1148, 1}, true},
		{Version{3, 0, 0}, Version{2, 1148, 1}, false},
		{Version{1, 999, 0}, Version{2, 0, 0}, true},
	}
	for _, tt := range tests {
		if got := tt.a.Less(tt.b); got != tt.want {
			t.Errorf("%v.Less(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCDKVersionParses(t *testing.T) {
	if _, err := ParseVersion(CDKVersion); err != nil {
		t.Fatalf("CDKVersion %q: %v", CDKVersion, err)
	}
}

// The tests below stand fake node, cdk and npm programs (shell scripts) in
// for the real ones, so that every path of Ensure runs without network.

func needSh(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("SKIP: the fake node/npm programs are shell scripts")
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nPATH=/usr/bin:/bin\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// fakeNode writes a node that reports version v.
func fakeNode(t *testing.T, path, v string) string {
	writeScript(t, path, fmt.Sprintf("echo %s", v))
	return path
}

// fakeNPM writes an npm that installs a fake node reporting v (for the
// node@22 package) or a fake cdk reporting cdkV (for aws-cdk), the way the
// real npm lays them out under --prefix, and appends one line per call to a
// log file.
func fakeNPM(t *testing.T, dir, nodeV, cdkV string) (logFile string) {
	logFile = filepath.Join(t.TempDir(), "npm.log")
	writeScript(t, filepath.Join(dir, "npm"), fmt.Sprintf(`
echo "$*" >> %q
prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift ;;
    node@*) pkg=node ;;
    aws-cdk@*) pkg=cdk ;;
  esac
  shift
done
sleep 0.2
mkdir -p "$prefix/node_modules/.bin"
if [ "$pkg" = node ]; then
  printf '#!/bin/sh\necho %s\n' > "$prefix/node_modules/.bin/node"
  chmod +x "$prefix/node_modules/.bin/node"
else
  printf '#!/bin/sh\necho "%s (build 1234567)"\n' > "$prefix/node_modules/.bin/cdk"
  chmod +x "$prefix/node_modules/.bin/cdk"
fi
echo "added 1 package"
`, logFile, nodeV, cdkV))
	return logFile
}

// isolate gives the test an empty PATH folder, an empty cache and no
// JSII_NODE, and returns the PATH folder.
func isolate(t *testing.T) (pathDir, cache string) {
	t.Helper()
	needSh(t)
	pathDir, cache = t.TempDir(), t.TempDir()
	t.Setenv("PATH", pathDir)
	t.Setenv(EnvCacheDir, cache)
	t.Setenv(EnvJSIINode, "")
	os.Unsetenv(EnvJSIINode)
	return pathDir, cache
}

func TestEnsureHonoursJSIINode(t *testing.T) {
	pathDir, _ := isolate(t)
	fakeNode(t, filepath.Join(pathDir, "node"), "v24.0.0") // must not be used
	want := fakeNode(t, filepath.Join(t.TempDir(), "mynode"), "v22.3.0")
	t.Setenv(EnvJSIINode, want)

	got, err := Ensure(context.Background(), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Ensure() = %s, want JSII_NODE %s", got, want)
	}
}

func TestEnsureTooOldJSIINodeIsAnError(t *testing.T) {
	pathDir, _ := isolate(t)
	fakeNode(t, filepath.Join(pathDir, "node"), "v24.0.0")
	old := fakeNode(t, filepath.Join(t.TempDir(), "node20"), "v20.11.1")
	t.Setenv(EnvJSIINode, old)

	_, err := Ensure(context.Background(), new(bytes.Buffer))
	if err == nil {
		t.Fatal("Ensure() with a Node 20 JSII_NODE succeeded, want an error")
	}
	for _, want := range []string{"JSII_NODE=" + old, "v20.11.1", "22 or newer", "unset it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestEnsureMissingJSIINodeIsAnError(t *testing.T) {
	isolate(t)
	t.Setenv(EnvJSIINode, filepath.Join(t.TempDir(), "no-such-node"))
	_, err := Ensure(context.Background(), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Fatalf("Ensure() error = %v, want one saying JSII_NODE does not run", err)
	}
}

func TestEnsureUsesRecentNodeOnPath(t *testing.T) {
	pathDir, _ := isolate(t)
	want := fakeNode(t, filepath.Join(pathDir, "node"), "v22.0.0")
	var progress bytes.Buffer
	got, err := Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Ensure() = %s, want the node on PATH %s", got, want)
	}
	if progress.Len() != 0 {
		t.Errorf("Ensure() printed %q; it should be silent when nothing is installed", progress.String())
	}
}

func TestEnsureUsesCachedNode(t *testing.T) {
	pathDir, cache := isolate(t)
	fakeNode(t, filepath.Join(pathDir, "node"), "v20.20.2")
	want := fakeNode(t, filepath.Join(cache, "node22", "node_modules", ".bin", "node"), "v22.9.0")
	log := fakeNPM(t, pathDir, "v22.1.0", "")

	got, err := Ensure(context.Background(), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Ensure() = %s, want the cached %s", got, want)
	}
	if _, err := os.Stat(log); err == nil {
		t.Errorf("npm ran although the cache had a node")
	}
}

func TestEnsureInstallsWithNPM(t *testing.T) {
	pathDir, cache := isolate(t)
	fakeNode(t, filepath.Join(pathDir, "node"), "v20.20.2")
	log := fakeNPM(t, pathDir, "v22.23.3", "")

	var progress bytes.Buffer
	got, err := Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "node22")
	if want := filepath.Join(dir, "node_modules", ".bin", "node"); got != want {
		t.Errorf("Ensure() = %s, want %s", got, want)
	}
	wantLine := "xflow: the CDK needs Node.js ≥ 22 and found v20.20.2; installing node@22 from npm into " + dir + "\n"
	if first, _, _ := strings.Cut(progress.String(), "\n"); first+"\n" != wantLine {
		t.Errorf("first progress line = %q, want %q", first, wantLine)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "install --prefix "+dir+".tmp-") || !strings.Contains(string(calls), "--no-audit --no-fund") || !strings.Contains(string(calls), "node@22") {
		t.Errorf("npm was called as %q, want an install of node@22 into a temporary folder beside %s", calls, dir)
	}
	assertNoTempDirs(t, cache)

	// A second call finds the installed copy and does not run npm again.
	os.Remove(log)
	progress.Reset()
	if again, err := Ensure(context.Background(), &progress); err != nil || again != got {
		t.Errorf("second Ensure() = %s, %v; want %s", again, err, got)
	}
	if _, err := os.Stat(log); err == nil || progress.Len() != 0 {
		t.Errorf("second Ensure() ran npm or printed %q", progress.String())
	}
}

func TestEnsureConcurrentInstallsAgree(t *testing.T) {
	pathDir, cache := isolate(t)
	fakeNPM(t, pathDir, "v22.23.3", "")

	const n = 6
	var wg sync.WaitGroup
	paths, errs := make([]string, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = Ensure(context.Background(), new(bytes.Buffer))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Ensure #%d: %v", i, errs[i])
		} else if paths[i] != paths[0] {
			t.Errorf("Ensure #%d = %s, want %s like #0", i, paths[i], paths[0])
		}
	}
	if v, err := nodeVersion(context.Background(), paths[0]); err != nil || v.Major != 22 {
		t.Errorf("installed node: %v, %v", v, err)
	}
	assertNoTempDirs(t, cache)
}

func TestEnsureReplacesBrokenInstall(t *testing.T) {
	pathDir, cache := isolate(t)
	fakeNPM(t, pathDir, "v22.23.3", "")
	// A folder from an earlier install whose binary was deleted.
	if err := os.MkdirAll(filepath.Join(cache, "node22", "node_modules", "node"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Ensure(context.Background(), new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := nodeVersion(context.Background(), got); err != nil || v.Major != 22 {
		t.Errorf("node after repair: %v, %v", v, err)
	}
	assertNoTempDirs(t, cache)
}

func TestEnsureWithoutNPM(t *testing.T) {
	pathDir, _ := isolate(t)
	fakeNode(t, filepath.Join(pathDir, "node"), "v18.19.0")
	var progress bytes.Buffer
	_, err := Ensure(context.Background(), &progress)
	if err == nil {
		t.Fatal("Ensure() without npm succeeded")
	}
	for _, want := range []string{"npm is not on PATH", "install Node.js", "JSII_NODE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !strings.Contains(progress.String(), "found v18.19.0") {
		t.Errorf("progress %q does not name the node found", progress.String())
	}
}

func TestEnsureNPMFailure(t *testing.T) {
	pathDir, cache := isolate(t)
	writeScript(t, filepath.Join(pathDir, "npm"), `echo "npm error code E404" >&2; echo "npm error 404 Not Found - GET https://registry.npmjs.org/node" >&2; exit 1`)
	_, err := Ensure(context.Background(), new(bytes.Buffer))
	if err == nil {
		t.Fatal("Ensure() with a failing npm succeeded")
	}
	for _, want := range []string{"npm install node@22", "E404", "registry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	assertNoTempDirs(t, cache)
	if _, err := os.Stat(filepath.Join(cache, "node22")); err == nil {
		t.Errorf("a failed install left %s behind", filepath.Join(cache, "node22"))
	}
}

func TestEnsureCDK(t *testing.T) {
	t.Run("recent cdk on PATH", func(t *testing.T) {
		pathDir, _ := isolate(t)
		fakeNode(t, filepath.Join(pathDir, "node"), "v22.0.0")
		want := filepath.Join(pathDir, "cdk")
		writeScript(t, want, `echo "9.0.0 (build abc)"`)
		got, err := EnsureCDK(context.Background(), new(bytes.Buffer))
		if err != nil || got != want {
			t.Errorf("EnsureCDK() = %s, %v; want %s", got, err, want)
		}
	})
	t.Run("old cdk on PATH is replaced by the pinned one", func(t *testing.T) {
		pathDir, cache := isolate(t)
		fakeNode(t, filepath.Join(pathDir, "node"), "v22.0.0")
		writeScript(t, filepath.Join(pathDir, "cdk"), `echo "2.100.0 (build abc)"`)
		log := fakeNPM(t, pathDir, "", CDKVersion)
		var progress bytes.Buffer
		got, err := EnsureCDK(context.Background(), &progress)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(cache, "aws-cdk-"+CDKVersion, "node_modules", ".bin", "cdk"); got != want {
			t.Errorf("EnsureCDK() = %s, want %s", got, want)
		}
		if calls, _ := os.ReadFile(log); !strings.Contains(string(calls), "aws-cdk@"+CDKVersion) {
			t.Errorf("npm calls %q do not install aws-cdk@%s", calls, CDKVersion)
		}
		if !strings.Contains(progress.String(), "found cdk 2.100.0 on PATH") {
			t.Errorf("progress %q does not name the old cdk", progress.String())
		}
		assertNoTempDirs(t, cache)
	})
}

func TestEnv(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv(EnvJSIINode, "/old/node")
	env := Env("/cache/node22/node_modules/.bin/node")

	got := map[string][]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = append(got[k], v)
	}
	want := map[string][]string{
		"PATH":      {"/cache/node22/node_modules/.bin:/usr/bin:/bin"},
		EnvJSIINode: {"/cache/node22/node_modules/.bin/node"},
	}
	for k, w := range want {
		if diff := cmp.Diff(w, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCacheDir, dir)
	if got, err := CacheDir(); err != nil || got != dir {
		t.Errorf("CacheDir() = %s, %v; want %s", got, err, dir)
	}
	t.Setenv(EnvCacheDir, "")
	got, err := CacheDir()
	if err != nil {
		t.Skipf("SKIP: no user cache folder here: %v", err)
	}
	if filepath.Base(got) != "xflow" {
		t.Errorf("CacheDir() = %s, want a folder named xflow", got)
	}
}

func assertNoTempDirs(t *testing.T, cache string) {
	t.Helper()
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || strings.Contains(e.Name(), ".old-") {
			t.Errorf("temporary folder %s left in the cache", e.Name())
		}
	}
}

// TestInstallFromNPM really installs node@22 and the CDK CLI from the npm
// registry into an empty cache. It needs npm and the registry.
func TestInstallFromNPM(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: not installing node@22 and aws-cdk from npm")
	}
	needSh(t)
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm is not on PATH, and CI is set: install Node.js with npm")
		}
		t.Skip("SKIP: npm is not on PATH")
	}
	cache := t.TempDir()
	t.Setenv(EnvCacheDir, cache)
	t.Setenv(EnvJSIINode, "")
	os.Unsetenv(EnvJSIINode)
	if node, err := exec.LookPath("node"); err == nil {
		if v, err := nodeVersion(context.Background(), node); err == nil && v.Major >= MinNodeMajor {
			t.Logf("the machine's node %s is recent enough: Ensure uses it and only the CDK CLI is installed", v)
		}
	}

	ctx := context.Background()
	var progress bytes.Buffer
	nodePath, err := Ensure(ctx, &progress)
	if err != nil {
		t.Fatalf("Ensure: %v\nprogress:\n%s", err, progress.String())
	}
	v, err := nodeVersion(ctx, nodePath)
	if err != nil || v.Major < MinNodeMajor {
		t.Fatalf("Ensure() = %s, version %v, %v", nodePath, v, err)
	}
	cdk, err := EnsureCDK(ctx, &progress)
	if err != nil {
		t.Fatalf("EnsureCDK: %v\nprogress:\n%s", err, progress.String())
	}
	cmd := exec.Command(cdk, "--version")
	cmd.Env = Env(nodePath)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --version: %v", cdk, commandError(err))
	}
	t.Logf("progress:\n%snode %s, cdk %s", progress.String(), v, strings.TrimSpace(string(out)))
	assertNoTempDirs(t, cache)
}
