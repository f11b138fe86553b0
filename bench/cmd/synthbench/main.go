// Command synthbench measures `xflow synth` against the hand-written CDK app
// (the JavaScript yardstick in ../shared/bench/cdk-baseline) for configs of
// N functions, side by side in one run, and prints Markdown tables:
//
//	go run ./bench/cmd/synthbench -n 5,50,500,1000 -o bench/results/synth.md
//
// For each N it generates a config (bench/genconfig), then measures:
//
//   - cold: `xflow synth` with an empty Go build cache (a GOCACHE of its own)
//     and an empty xflow cache (XFLOW_CACHE_DIR of its own), so the CDK
//     app and the tracker Lambda are compiled from scratch (-cold=false
//     skips it: it costs minutes per N);
//   - warm: `xflow synth` after a config change (the app binary is cached,
//     the spec changed), the median of -runs runs, each changing the
//     config's lambda_timeout_time, which changes every function;
//   - a cache hit: `xflow synth` again with nothing changed, against a
//     forced full synth (--force) of the same inputs;
//   - `xflow synth --validate` (the CDK's built-in validation on, as in the
//     hand-written app) for N up to 100;
//   - the hand-written app with `node app.js`, as its users run it (CDK
//     defaults: built-in validation on), and with CDK_VALIDATION=false; it
//     fails from about N = 70 (500 resources in one stack), which the table
//     shows.
//
// Times are wall-clock; CPU is user+system of the process and everything it
// waited for; peak memory is the largest resident set among them
// (getrusage's ru_maxrss). The machine is shared: the load average before
// and after each table is printed with it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xflowhq/xflow/bench/genconfig"
	"github.com/xflowhq/xflow/internal/generator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "synthbench:", err)
		os.Exit(1)
	}
}

type options struct {
	sizes    []int
	work     string
	out      string
	baseline string
	runs     int
	cold     bool
	validate int
}

func run() error {
	var o options
	sizes := flag.String("n", "5,50,500,1000", "comma-separated numbers of functions")
	flag.StringVar(&o.work, "work", "", "work `folder` (default: a new temporary folder, removed at the end)")
	flag.StringVar(&o.out, "o", "", "also write the tables to this `file`")
	flag.StringVar(&o.baseline, "baseline", "../shared/bench/cdk-baseline", "the hand-written CDK app (copied, then npm-installed in the xflow cache)")
	flag.IntVar(&o.runs, "runs", 3, "runs per warm measurement (the median is shown)")
	flag.BoolVar(&o.cold, "cold", true, "measure cold synths (empty Go build cache and xflow cache): minutes per N")
	flag.IntVar(&o.validate, "validate-max", 100, "measure `xflow synth --validate` up to this N")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-n: %q is not a number of functions", s)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.work == "" {
		d, err := os.MkdirTemp("", "xflow-synthbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.work = d
	}
	b := &bench{options: o}
	if err := b.setup(); err != nil {
		return err
	}
	var report bytes.Buffer
	w := io.MultiWriter(os.Stdout, &report)
	b.header(w)
	for _, n := range o.sizes {
		if err := b.size(n); err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
	}
	b.tables(w)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(o.out, report.Bytes(), 0o644)
	}
	return nil
}

type bench struct {
	options
	xflow    string // the xflow binary
	node     string // Node.js ≥ 22
	cache    string // xflow's cache (warm runs)
	baseDir  string // the installed hand-written app
	loadFrom string
	rows     []row
}

// row is what one N measured.
type row struct {
	n                                      int
	stacks, resources, maxResources, maxKB int
	lint                                   string
	cold, warm, warmValidate, hit, forced  measure
	js, jsNoValidation                     measure
	jsCold                                 measure
}

// measure is one command's cost, or its failure.
type measure struct {
	ran      bool
	wall     time.Duration
	cpu      time.Duration
	maxRSSMB int
	failed   string
}

func (b *bench) setup() error {
	b.loadFrom = loadavg()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run synthbench from the repository's root (no go.mod in %s)", root)
	}
	b.xflow = filepath.Join(b.work, "xflow")
	fmt.Fprintln(os.Stderr, "synthbench: building xflow")
	if out, err := exec.Command("go", "build", "-o", b.xflow, "./cmd/xflow").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/xflow: %w\n%s", err, out)
	}
	out, err := exec.Command("go", "run", "./internal/nodejs/cmd/ensure-node").Output()
	if err != nil {
		return fmt.Errorf("ensure Node.js: %w", err)
	}
	b.node = strings.TrimSpace(string(out))
	b.cache = os.Getenv("XFLOW_CACHE_DIR")
	if b.cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return err
		}
		b.cache = filepath.Join(d, "xflow")
	}
	// The hand-written app, installed once in the cache.
	b.baseDir = filepath.Join(b.cache, "bench", "cdk-baseline")
	if _, err := os.Stat(filepath.Join(b.baseDir, "node_modules", "aws-cdk-lib")); err != nil {
		fmt.Fprintln(os.Stderr, "synthbench: installing the hand-written CDK app (npm install)")
		if err := os.MkdirAll(b.baseDir, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"app.js", "package.json", "handler/handler.py"} {
			data, err := os.ReadFile(filepath.Join(b.baseline, f))
			if err != nil {
				return fmt.Errorf("the hand-written app: %w (set -baseline)", err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(b.baseDir, f)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(b.baseDir, f), data, 0o644); err != nil {
				return err
			}
		}
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund")
		cmd.Dir = b.baseDir
		cmd.Env = b.env(nil)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("npm install in %s: %w\n%s", b.baseDir, err, out)
		}
	}
	return nil
}

// env is the environment of a measured command: Node.js ≥ 22 first on
// PATH and named by JSII_NODE, plus extra.
func (b *bench) env(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "JSII_NODE=") && !strings.HasPrefix(kv, "CDK_VALIDATION=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+filepath.Dir(b.node)+string(os.PathListSeparator)+os.Getenv("PATH"), "JSII_NODE="+b.node)
	return append(env, extra...)
}

// time runs a command and measures it.
func (b *bench) time(dir string, extraEnv []string, name string, args ...string) measure {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = b.env(extraEnv)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	m := measure{ran: true, wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		m.maxRSSMB = int(ru.Maxrss / 1024) // KiB on Linux
	}
	if err != nil {
		m.failed = failure(out.String(), err)
		fmt.Fprintf(os.Stderr, "synthbench: %s %s failed after %s: %s\n", filepath.Base(name), strings.Join(args, " "), m.wall.Round(time.Millisecond), m.failed)
	} else {
		fmt.Fprintf(os.Stderr, "synthbench: %s %s: %s\n", filepath.Base(name), strings.Join(args, " "), m.wall.Round(time.Millisecond))
	}
	return m
}

var tooMany = regexp.MustCompile(`Number of resources in stack '[^']+': (\d+) is greater than allowed maximum of (\d+)`)

// failure summarizes why a command failed.
func failure(out string, err error) string {
	if m := tooMany.FindStringSubmatch(out); m != nil {
		return fmt.Sprintf("%s resources > %s in one stack", m[1], m[2])
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return fmt.Sprintf("%v: %s", err, lines[len(lines)-1])
}

func median(ms []measure) measure {
	if len(ms) == 0 {
		return measure{}
	}
	for _, m := range ms {
		if m.failed != "" {
			return m
		}
	}
	slices.SortFunc(ms, func(a, b measure) int { return int(a.wall - b.wall) })
	return ms[len(ms)/2]
}

func (b *bench) size(n int) error {
	dir := filepath.Join(b.work, fmt.Sprintf("n%d", n))
	cfg, err := genconfig.Write(dir, genconfig.Options{Functions: n})
	if err != nil {
		return err
	}
	r := row{n: n}
	synth := func(env []string, extra ...string) measure {
		args := append([]string{"synth", "-c", cfg, "-o", filepath.Join(dir, "cdk.out")}, extra...)
		return b.time(dir, env, b.xflow, args...)
	}
	timeout := 10
	change := func() error { // every function's timeout changes
		timeout = 21 - timeout // 10, 11, 10, ...
		data, err := os.ReadFile(cfg)
		if err != nil {
			return err
		}
		s := regexp.MustCompile(`(?m)^  lambda_timeout_time: \d+\n`).ReplaceAllString(string(data), "")
		s = strings.Replace(s, "general:\n", fmt.Sprintf("general:\n  lambda_timeout_time: %d\n", timeout), 1)
		return os.WriteFile(cfg, []byte(s), 0o644)
	}

	if b.cold {
		gocache := filepath.Join(b.work, "cold-gocache")
		xcache := filepath.Join(b.work, "cold-xflow-cache")
		os.RemoveAll(gocache)
		os.RemoveAll(xcache)
		r.cold = synth([]string{"GOCACHE=" + gocache, "XFLOW_CACHE_DIR=" + xcache}, "--force")
		os.RemoveAll(gocache)
		os.RemoveAll(xcache)
	}
	// Warm: the binary is cached; each run follows a config change.
	if m := synth(nil, "--force"); m.failed != "" {
		return fmt.Errorf("xflow synth: %s", m.failed)
	}
	var warm, hits, forced []measure
	for i := 0; i < b.runs; i++ {
		if err := change(); err != nil {
			return err
		}
		warm = append(warm, synth(nil))
		hits = append(hits, synth(nil))
		forced = append(forced, synth(nil, "--force"))
	}
	r.warm, r.hit, r.forced = median(warm), median(hits), median(forced)
	if n <= b.validate {
		var v []measure
		for i := 0; i < b.runs; i++ {
			if err := change(); err != nil {
				return err
			}
			v = append(v, synth(nil, "--validate"))
		}
		r.warmValidate = median(v)
	}
	asm, err := generator.ReadAssembly(filepath.Join(dir, "cdk.out"))
	if err != nil {
		return err
	}
	r.stacks = len(asm.Stacks)
	var templates []string
	for _, st := range asm.Stacks {
		r.resources += st.Resources
		r.maxResources = max(r.maxResources, st.Resources)
		r.maxKB = max(r.maxKB, (st.Bytes+999)/1000)
		templates = append(templates, st.Template)
	}
	r.lint = lint(templates)

	// The hand-written app.
	js := func(extra ...string) measure {
		out := filepath.Join(dir, "baseline.out")
		os.RemoveAll(out)
		return b.time(b.baseDir, append([]string{"N=" + strconv.Itoa(n), "OUT=" + out}, extra...), b.node, "app.js")
	}
	r.jsCold = js() // the first run of this N: files not yet in the page cache
	var def, noval []measure
	for i := 0; i < b.runs; i++ {
		def = append(def, js())
		noval = append(noval, js("CDK_VALIDATION=false"))
	}
	r.js, r.jsNoValidation = median(def), median(noval)
	b.rows = append(b.rows, r)
	return nil
}

func (b *bench) header(w io.Writer) {
	fmt.Fprintf(w, "Machine: %d cores (nproc), %s memory, CPU %s; %s/%s, %s, Node.js %s.\n",
		runtime.NumCPU(), memTotal(), cpuModel(), runtime.GOOS, runtime.GOARCH, goVersion(), nodeVersion(b.node))
	fmt.Fprintf(w, "Date: %s. Load average (1, 5, 15 min) at the start: %s.\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), b.loadFrom)
	fmt.Fprintf(w, "Command: `go run ./bench/cmd/synthbench %s`.\n\n", strings.Join(os.Args[1:], " "))
}

func (b *bench) tables(w io.Writer) {
	fmt.Fprintf(w, "Load average at the end: %s.\n\n", loadavg())
	fmt.Fprintln(w, "**Synth time**, wall clock (CPU user+system), peak memory. xflow: warm = after a config change, app binary cached; cold = empty Go build cache and xflow cache. Hand-written: `node app.js` with the CDK's defaults (built-in validation on) and with `CDK_VALIDATION=false`; cold = first run of that N.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | xflow warm | xflow warm --validate | hand-written | hand-written, no validation | warm ratio xflow / hand-written | xflow cold | hand-written cold |")
	fmt.Fprintln(w, "|---:|---|---|---|---|---|---|---|")
	for _, r := range b.rows {
		ratio := "—"
		if r.js.failed == "" && r.js.ran {
			ratio = fmt.Sprintf("%.2f (%.2f without validation on either side)", r.warm.wall.Seconds()/r.js.wall.Seconds(), r.warm.wall.Seconds()/r.jsNoValidation.wall.Seconds())
			if r.warmValidate.ran {
				ratio = fmt.Sprintf("%.2f; like for like: %.2f with validation, %.2f without", r.warm.wall.Seconds()/r.js.wall.Seconds(),
					r.warmValidate.wall.Seconds()/r.js.wall.Seconds(), r.warm.wall.Seconds()/r.jsNoValidation.wall.Seconds())
			}
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", r.n, r.warm, r.warmValidate, r.js, r.jsNoValidation, ratio, r.cold, r.jsCold)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**Synth cache**: `xflow synth` with nothing changed (a hit: no app run) against `xflow synth --force` of the same inputs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | cache hit | full synth (--force) | speed-up |")
	fmt.Fprintln(w, "|---:|---|---|---:|")
	for _, r := range b.rows {
		fmt.Fprintf(w, "| %d | %s | %s | %.0f× |\n", r.n, r.hit, r.forced, r.forced.wall.Seconds()/r.hit.wall.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "**What xflow synthesized**: stacks, resources in all, the largest stack's resources and template, and what cfn-lint says of every template.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | stacks | resources | largest stack | largest template | cfn-lint |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---|")
	for _, r := range b.rows {
		fmt.Fprintf(w, "| %d | %d | %d | %d | %d KB | %s |\n", r.n, r.stacks, r.resources, r.maxResources, r.maxKB, r.lint)
	}
	fmt.Fprintln(w)
}

func (m measure) String() string {
	switch {
	case !m.ran:
		return "—"
	case m.failed != "":
		return fmt.Sprintf("**fails** after %.1f s: %s", m.wall.Seconds(), m.failed)
	case m.wall < time.Second:
		return fmt.Sprintf("%.3f s (%.2f s CPU), %d MB", m.wall.Seconds(), m.cpu.Seconds(), m.maxRSSMB)
	}
	return fmt.Sprintf("%.1f s (%.1f s CPU), %d MB", m.wall.Seconds(), m.cpu.Seconds(), m.maxRSSMB)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
		}
	}
	return "unknown"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func nodeVersion(node string) string {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// lint runs cfn-lint on the templates and says what it found. Its exit
// status is a bitmask: 2 errors, 4 warnings, 8 informational.
func lint(templates []string) string {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		return "not run (cfn-lint is not installed)"
	}
	fmt.Fprintf(os.Stderr, "synthbench: cfn-lint on %d templates\n", len(templates))
	start := time.Now()
	out, err := exec.Command(bin, append([]string{"--format", "parseable", "--"}, templates...)...).Output()
	took := time.Since(start).Round(time.Second)
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		return "failed to run: " + err.Error()
	}
	lines := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines++
		}
	}
	switch {
	case status&^14 != 0:
		return fmt.Sprintf("cfn-lint failed (exit status %d)", status)
	case status&2 != 0:
		return fmt.Sprintf("**errors** (%d findings) in %d templates", lines, len(templates))
	case status&4 != 0:
		return fmt.Sprintf("no error, %d warnings, %d templates (%s)", lines, len(templates), took)
	}
	return fmt.Sprintf("no error or warning, %d templates (%s)", len(templates), took)
}
