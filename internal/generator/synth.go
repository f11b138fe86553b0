package generator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/nodejs"
	"github.com/xflowhq/xflow/internal/trackerbuild"
)

// SynthOptions say how to synthesize a generated app.
type SynthOptions struct {
	// AppDir holds the generated app.
	AppDir string
	// OutDir receives the cloud assembly. Unless Direct is set it is
	// replaced all at once, after the app succeeded.
	OutDir string
	// Direct writes straight into OutDir, for when the CDK CLI runs xflow
	// as its app and owns the folder.
	Direct bool
	// Context is the CDK context. Nil means the CDK CLI's defaults plus
	// xflow's, so that `xflow synth` and `cdk synth` give the same template.
	Context map[string]any
	// Progress receives progress lines and the app's own output.
	Progress io.Writer
	// Inputs, when set, make the synth cacheable: when the assembly in
	// OutDir was synthesized from the same inputs (see cache.go), it is
	// returned as it is, without building or running the app.
	Inputs *SynthInputs
	// Force synthesizes even when the assembly is up to date.
	Force bool
	// Validate runs the CDK's built-in CloudFormation validation, which
	// costs seconds per synth (a WebAssembly engine starts in the app's
	// Node.js process) and checks templates that xflow's own tests already
	// hold to cfn-lint. Without it the app runs with CDK_VALIDATION=false,
	// as `cdk synth --no-validation` does, unless CDK_VALIDATION is set in
	// the environment.
	Validate bool
}

// DefaultContext is what the CDK CLI gives an app from a generated
// cdk.json, so that `xflow synth` and `cdk synth` agree.
func DefaultContext() map[string]any {
	return map[string]any{
		"aws:cdk:enable-path-metadata":   true,
		"aws:cdk:enable-asset-metadata":  true,
		"aws:cdk:version-reporting":      false,
		"aws:cdk:bundling-stacks":        []string{"**"},
		spec.ContextBootstrapVersionRule: true,
	}
}

// Assembly describes a synthesized cloud assembly.
type Assembly struct {
	Dir    string
	Stacks []Stack
	// Cached is true when the assembly was up to date and reused.
	Cached bool
	// Key is the synth cache key, when the synth had Inputs.
	Key string
}

// UpToDate says that a cached assembly was reused, and why, for people.
func (a *Assembly) UpToDate() string {
	return fmt.Sprintf("%s is up to date (config, sources, xflow and context unchanged since the last synth; --force synthesizes again)", a.Dir)
}

// Stack is one synthesized stack.
type Stack struct {
	Name      string `json:"name"`
	Template  string `json:"template"` // path of its template
	Resources int    `json:"resources"`
	Bytes     int    `json:"bytes"`
}

// Synth builds the app (reusing a cached binary when its Go sources are
// unchanged) and runs it to write the cloud assembly.
func Synth(ctx context.Context, opts SynthOptions) (*Assembly, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	// The context the app will see: given, or the defaults unless the CDK
	// CLI passes its own.
	var contextEnv []byte
	if opts.Context != nil || os.Getenv("CDK_CONTEXT_JSON") == "" {
		c := opts.Context
		if c == nil {
			c = DefaultContext()
		}
		b, err := contextJSON(c)
		if err != nil {
			return nil, err
		}
		contextEnv = b
	}
	key := ""
	if opts.Inputs != nil {
		ctxKey := contextEnv
		if ctxKey == nil {
			ctxKey = []byte(os.Getenv("CDK_CONTEXT_JSON"))
		}
		var err error
		if key, err = synthKey(opts.Inputs, opts.AppDir, ctxKey, opts.Validate); err != nil {
			return nil, err
		}
		if !opts.Force {
			if a := cachedAssembly(opts.OutDir, key); a != nil {
				return a, nil
			}
		}
	}

	node, err := nodejs.Ensure(ctx, progress)
	if err != nil {
		return nil, err
	}
	bin, err := buildAppAndTracker(ctx, opts.AppDir, progress)
	if err != nil {
		return nil, err
	}

	out := opts.OutDir
	if opts.Direct {
		// The app writes over the assembly: it is no longer what the key
		// says until the app has finished.
		if err := removeSynthKey(out); err != nil {
			return nil, err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(opts.OutDir), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(opts.OutDir), err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(opts.OutDir), "."+filepath.Base(opts.OutDir)+".new-")
		if err != nil {
			return nil, fmt.Errorf("create temporary folder: %w", err)
		}
		defer os.RemoveAll(tmp)
		out = tmp
	}
	env := nodejs.Env(node)
	env = append(env, "CDK_OUTDIR="+absOr(out))
	if contextEnv != nil {
		env = append(env, "CDK_CONTEXT_JSON="+string(contextEnv))
	}
	if _, set := os.LookupEnv("CDK_VALIDATION"); !set && !opts.Validate {
		env = append(env, "CDK_VALIDATION=false")
	}
	fmt.Fprintln(progress, "xflow: synthesizing")
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = opts.AppDir
	cmd.Env = env
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(progress, &tail)
	cmd.Stderr = io.MultiWriter(progress, &tail)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("run the CDK app in %s: %w\n%s", opts.AppDir, err, tail.String())
	}
	asm, err := ReadAssembly(out)
	if err != nil {
		return nil, err
	}
	for _, st := range asm.Stacks {
		if st.Resources >= 450 || st.Bytes >= 800_000 {
			fmt.Fprintf(progress, "xflow: warning: stack %s has %d resources and a template of %d KB, above xflow's bounds (450 resources, 800 KB)\n", st.Name, st.Resources, st.Bytes/1000)
		}
	}
	if key != "" {
		if err := writeSynthKey(out, key, asm); err != nil {
			return nil, err
		}
		asm.Key = key
	}
	if !opts.Direct {
		if err := replaceDir(out, opts.OutDir); err != nil {
			return nil, err
		}
		for i := range asm.Stacks {
			rel, err := filepath.Rel(out, asm.Stacks[i].Template)
			if err != nil {
				return nil, err
			}
			asm.Stacks[i].Template = filepath.Join(opts.OutDir, rel)
		}
		asm.Dir = opts.OutDir
	}
	return asm, nil
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// The two builds of a synth; tests replace them.
var (
	buildAppBinary = buildApp
	buildTracker   = trackerbuild.Build
)

// buildAppAndTracker compiles the app and, at the same time, the tracker
// Lambda that the app would otherwise build itself when it runs, from the
// sources packaged in the app, into the cache that the app's own
// constructs.BuildTracker call then hits. On a fresh machine both are long
// cold builds (the CDK's Go bindings; the AWS SDK for linux/arm64), and one
// after the other they leave cores idle while each links or compiles one
// large package. An app without packaged sources builds the tracker
// itself, as it does when the CDK CLI runs it. The first failure stops the
// other build.
func buildAppAndTracker(ctx context.Context, appDir string, progress io.Writer) (string, error) {
	progress = &syncWriter{w: progress}
	module := filepath.Join(appDir, ModuleDir)
	if !trackerbuild.HasSources(module) {
		return buildAppBinary(ctx, appDir, progress)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
	)
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	trackerDone := make(chan struct{})
	go func() {
		defer close(trackerDone)
		if _, err := buildTracker(ctx, module, progress); err != nil {
			fail(err)
		}
	}()
	bin, err := buildAppBinary(ctx, appDir, progress)
	if err != nil {
		fail(err)
	}
	<-trackerDone
	if first != nil {
		return "", first
	}
	return bin, nil
}

// syncWriter serializes the progress lines of builds that run at once.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// buildApp compiles the app unless a binary built from the same Go
// sources and toolchain is cached. Only the spec changes when the config
// does, and it is read at run time, so a config change costs no build.
func buildApp(ctx context.Context, appDir string, progress io.Writer) (string, error) {
	key, err := appKey(ctx, appDir)
	if err != nil {
		return "", err
	}
	cache, err := nodejs.CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "app", key, AppName)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("create app cache: %w", err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	fmt.Fprintln(progress, "xflow: building the CDK app (the first build of the CDK Go bindings takes minutes; later builds are cached)")
	start := time.Now()
	stop := ticker(progress, "the CDK app", start)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, ".")
	cmd.Dir = appDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	stop()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build the CDK app in %s: %w\n%s", appDir, err, strings.TrimSpace(out.String()))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("cache the CDK app: %w", err)
	}
	fmt.Fprintf(progress, "xflow: built the CDK app in %s\n", time.Since(start).Round(100*time.Millisecond))
	return bin, nil
}

// tickEvery is how often a long build says it is still under way; tests
// shorten it.
var tickEvery = 15 * time.Second

// ticker writes "xflow: still building WHAT (elapsed)" every tickEvery
// until stopped.
func ticker(w io.Writer, what string, start time.Time) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(stopped)
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "xflow: still building %s (%s)\n", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-stopped // no tick after the build's last line
	}
}

// appKey hashes what the app binary depends on: its Go sources, go.mod,
// go.sum, and the toolchain and build settings.
func appKey(ctx context.Context, appDir string) (string, error) {
	h := sha256.New()
	goEnv, err := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT").Output()
	if err != nil {
		return "", fmt.Errorf("run go env (is Go installed? the CDK app is built with it): %w", err)
	}
	h.Write(goEnv)
	var paths []string
	err = filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// The packages under artifacts/ are not the app's Go code.
		if d.IsDir() && p != appDir && (d.Name() == "cdk.out" || filepath.Dir(p) == appDir && d.Name() == "artifacts" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash the CDK app: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("hash the CDK app: %w", err)
		}
		rel, _ := filepath.Rel(appDir, p)
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	fmt.Fprint(h, runtime.Version())
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// ReadAssembly lists the stacks of a cloud assembly.
func ReadAssembly(dir string) (*Assembly, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("read cloud assembly: %w", err)
	}
	var m struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				TemplateFile string `json:"templateFile"`
				StackName    string `json:"stackName"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse cloud assembly manifest: %w", err)
	}
	a := &Assembly{Dir: dir}
	for id, art := range m.Artifacts {
		if art.Type != "aws:cloudformation:stack" {
			continue
		}
		tpath := filepath.Join(dir, art.Properties.TemplateFile)
		tb, err := os.ReadFile(tpath)
		if err != nil {
			return nil, fmt.Errorf("read template of %s: %w", id, err)
		}
		var t struct {
			Resources map[string]json.RawMessage `json:"Resources"`
		}
		if err := json.Unmarshal(tb, &t); err != nil {
			return nil, fmt.Errorf("parse template of %s: %w", id, err)
		}
		name := art.Properties.StackName
		if name == "" {
			name = id
		}
		a.Stacks = append(a.Stacks, Stack{Name: name, Template: tpath, Resources: len(t.Resources), Bytes: len(tb)})
	}
	if len(a.Stacks) == 0 {
		return nil, errors.New("the cloud assembly has no stack")
	}
	sort.Slice(a.Stacks, func(i, j int) bool { return a.Stacks[i].Name < a.Stacks[j].Name })
	return a, nil
}

// tailBuffer keeps the last 8 KiB written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8192 {
		t.buf = t.buf[len(t.buf)-8192:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
