package generator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/nodejs"
)

// fakeApp writes an executable that synthesizes a one-stack assembly into
// $CDK_OUTDIR, as the CDK app does, and returns its path.
func fakeApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), AppName)
	script := `#!/bin/sh
set -e
printf '%s' '{"artifacts":{"S":{"type":"aws:cloudformation:stack","properties":{"templateFile":"S.template.json"}}}}' > "$CDK_OUTDIR/manifest.json"
printf '%s' '{"Resources":{"T":{"Type":"AWS::SNS::Topic"}}}' > "$CDK_OUTDIR/S.template.json"
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// appWithModule is an app folder holding the packaged tracker's folder, as
// Generate writes it.
func appWithModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ModuleDir, "internal", "tracker", "lambda"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// replaceBuilds swaps the two builds of a synth for the test's.
func replaceBuilds(t *testing.T, app func(context.Context, string, io.Writer) (string, error), tracker func(context.Context, string, io.Writer) (string, error)) {
	t.Helper()
	origApp, origTracker := buildAppBinary, buildTracker
	buildAppBinary, buildTracker = app, tracker
	t.Cleanup(func() { buildAppBinary, buildTracker = origApp, origTracker })
}

// TestSynthBuildsAppAndTrackerAtOnce: each build waits, up to a deadline,
// for the other to start. Built one after the other, the first would wait
// in vain and fail.
func TestSynthBuildsAppAndTrackerAtOnce(t *testing.T) {
	appDir := appWithModule(t)
	bin := fakeApp(t)
	appStarted, trackerStarted := make(chan struct{}), make(chan struct{})
	await := func(ch chan struct{}, what string) error {
		select {
		case <-ch:
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s had not started 10 s later", what)
		}
	}
	var trackerModule string
	replaceBuilds(t,
		func(_ context.Context, dir string, _ io.Writer) (string, error) {
			close(appStarted)
			return bin, await(trackerStarted, "the tracker build")
		},
		func(_ context.Context, module string, _ io.Writer) (string, error) {
			trackerModule = module
			close(trackerStarted)
			return t.TempDir(), await(appStarted, "the app build")
		})

	asm, err := Synth(context.Background(), SynthOptions{AppDir: appDir, OutDir: filepath.Join(t.TempDir(), "cdk.out"), Progress: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(asm.Stacks) != 1 {
		t.Errorf("assembly has %d stacks, want the fake app's one", len(asm.Stacks))
	}
	if want := filepath.Join(appDir, ModuleDir); trackerModule != want {
		t.Errorf("the tracker was built from %s, want the app's packaged sources %s", trackerModule, want)
	}
}

// A failing tracker build fails the synth with its error at once, and
// stops the app's build rather than waiting for it.
func TestSynthTrackerFailureStopsAppBuild(t *testing.T) {
	appDir := appWithModule(t)
	broken := errors.New("build tracker: go build: undefined: x")
	replaceBuilds(t,
		func(ctx context.Context, _ string, _ io.Writer) (string, error) {
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("build the CDK app: %w", ctx.Err())
			case <-time.After(time.Minute):
				return "", errors.New("the app build was not stopped")
			}
		},
		func(context.Context, string, io.Writer) (string, error) { return "", broken })
	start := time.Now()
	_, err := Synth(context.Background(), SynthOptions{AppDir: appDir, OutDir: filepath.Join(t.TempDir(), "cdk.out")})
	if !errors.Is(err, broken) {
		t.Errorf("Synth = %v, want the tracker's error", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Synth took %s: the app build was not stopped", d)
	}
}

// An app without packaged sources (one written by hand) builds its tracker
// itself, as under the CDK CLI.
func TestSynthWithoutPackagedTracker(t *testing.T) {
	bin := fakeApp(t)
	replaceBuilds(t,
		func(context.Context, string, io.Writer) (string, error) { return bin, nil },
		func(context.Context, string, io.Writer) (string, error) {
			t.Error("the tracker was built for an app that packages no tracker")
			return "", nil
		})
	if _, err := Synth(context.Background(), SynthOptions{AppDir: t.TempDir(), OutDir: filepath.Join(t.TempDir(), "cdk.out")}); err != nil {
		t.Fatal(err)
	}
}

// lines is a progress writer that keeps its lines, safe for the builds'
// goroutines.
type lines struct {
	mu  sync.Mutex
	all []string
	t   *testing.T
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.all = append(l.all, line)
		l.t.Log(line)
	}
	return len(p), nil
}

// index is the position of the first line that starts with prefix, -1 if
// none does.
func (l *lines) index(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, line := range l.all {
		if strings.HasPrefix(line, prefix) {
			return i
		}
	}
	return -1
}

// TestColdSynthBuildsTrackerWithApp synthesizes with an empty xflow cache,
// as on a fresh machine: the app and the tracker Lambda both start
// building before either is built, and the app, when it runs, finds the
// tracker xflow built in the cache. (Go's build cache is warm: this takes
// seconds, not the minutes of a fresh machine.)
func TestColdSynthBuildsTrackerWithApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CDK app and the tracker Lambda")
	}
	// The Node.js of the shared cache, so that the empty one installs none.
	node, err := nodejs.Ensure(context.Background(), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(nodejs.EnvJSIINode, node)
	t.Setenv(nodejs.EnvCacheDir, t.TempDir())

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "step.py"), []byte("def handle(event, context):\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := `lambdas:
  - name: step
    source: step.py
    handler: handle
    runtime: python3.13
subscriptions:
  - event: Started
    subscribers: [step]
  - event: Done
workflows:
  - id: job
    flow: [Started, Done]
`
	path := filepath.Join(dir, "xflow.yaml")
	c, err := config.Parse(path, []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(dir, "app")
	arts := artifacts(t, c)
	files, err := Generate(c, Options{AppDir: appDir, Artifacts: arts})
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(appDir, files, arts); err != nil {
		t.Fatal(err)
	}
	progress := &lines{t: t}
	if _, err := Synth(context.Background(), SynthOptions{AppDir: appDir, OutDir: filepath.Join(dir, "cdk.out"), Progress: progress}); err != nil {
		t.Fatal(err)
	}

	startApp, startTracker := progress.index("xflow: building the CDK app"), progress.index("xflow: building the tracker Lambda")
	builtApp, builtTracker := progress.index("xflow: built the CDK app in"), progress.index("xflow: built the tracker Lambda in")
	if startApp < 0 || startTracker < 0 || builtApp < 0 || builtTracker < 0 {
		t.Fatalf("progress lacks a build's first or last line (app %d..%d, tracker %d..%d)", startApp, builtApp, startTracker, builtTracker)
	}
	if lastStart, firstBuilt := max(startApp, startTracker), min(builtApp, builtTracker); lastStart > firstBuilt {
		t.Errorf("one build finished (line %d) before the other started (line %d): they ran one after the other", firstBuilt, lastStart)
	}
	synthesizing := progress.index("xflow: synthesizing")
	if hit := progress.index("xflow: tracker Lambda is up to date"); hit < synthesizing {
		t.Errorf("the app did not find the tracker in the cache when it ran (line %d, synthesizing at line %d)", hit, synthesizing)
	}
}

// A long build says every tickEvery which build it is and how long it has
// run, and says nothing once stopped.
func TestTicker(t *testing.T) {
	orig := tickEvery
	tickEvery = 10 * time.Millisecond
	t.Cleanup(func() { tickEvery = orig })
	progress := &lines{t: t}
	stop := ticker(progress, "the CDK app", time.Now().Add(-90*time.Second))
	time.Sleep(50 * time.Millisecond)
	stop()
	n := len(progress.all)
	if n == 0 || progress.index("xflow: still building the CDK app (1m30s)") != 0 {
		t.Fatalf("ticks = %q, want lines saying the CDK app is still building, 1m30s in", progress.all)
	}
	time.Sleep(50 * time.Millisecond)
	if len(progress.all) != n {
		t.Errorf("ticks after stop: %q", progress.all[n:])
	}
}
