// Package testsummary turns the JSON stream of `go test -json` back into
// go test's usual output, and ends it with the list of the tests that
// were skipped and why. scripts/test pipes its go test through it: a test
// that skips because the machine lacks moto_server, Chromium or cfn-lint
// passes silently in go test's output unless -v, and a run that proves
// less than it seems must say so.
//
// It lives in its own package, with a command in cmd/testsummary, so that
// the shell script stays a shell script and the parsing is tested in Go.
package testsummary

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of `go test -json` (see `go doc cmd/test2json`), and
// of the build output go test -json also reports.
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // of a build-output event
}

// Skip is a test that was skipped, with the lines it logged.
type Skip struct {
	Package, Test string
	Reason        string
}

// Options tune Filter.
type Options struct {
	// Verbose prints every line of every test as it comes, as go test -v
	// does; the list of skips still ends the output.
	Verbose bool
}

// test is what a test printed until it ended, and its subtests.
type test struct {
	lines    []string
	children []string // full names, in the order they started
	result   string   // pass, fail, skip; "" while running
}

// filter holds the tests of the packages under way.
type filter struct {
	opts  Options
	out   io.Writer
	tests map[string]*test // by package and test name
	skips []Skip
}

func key(pkg, name string) string { return pkg + "\x00" + name }

// Filter reads `go test -json` from r and writes go test's usual output to
// w: each package's result line, and the output of the tests that failed
// (all tests' with Verbose); then, when tests were skipped, one line per
// skipped test with the reason it logged. A line that is not JSON is
// copied as it is. It returns the skips.
func Filter(r io.Reader, w io.Writer, opts Options) ([]Skip, error) {
	f := &filter{opts: opts, out: w, tests: map[string]*test{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		f.handle(e)
	}
	if err := sc.Err(); err != nil {
		return f.skips, fmt.Errorf("read the output of go test: %w", err)
	}
	f.flushAll()
	WriteSkips(w, f.skips)
	return f.skips, nil
}

func (f *filter) handle(e event) {
	switch {
	case e.Action == "build-output":
		io.WriteString(f.out, e.Output)
	case e.Test == "" && e.Action == "output":
		// The package's own lines: "ok  pkg 0.1s", "FAIL", benchmark
		// results, what TestMain prints. go test prints "PASS" only with
		// -v.
		if e.Output != "PASS\n" || f.opts.Verbose {
			io.WriteString(f.out, e.Output)
		}
	case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
		f.flushPackage(e.Package)
	case e.Test != "" && e.Action == "output":
		if f.opts.Verbose {
			io.WriteString(f.out, e.Output)
		}
		if strings.HasPrefix(e.Output, "=== ") {
			return // RUN, PAUSE, CONT, NAME: -v's framing
		}
		t := f.test(e.Package, e.Test)
		t.lines = append(t.lines, e.Output)
	case e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip" || e.Action == "bench"):
		t := f.test(e.Package, e.Test)
		t.result = e.Action
		if !strings.Contains(e.Test, "/") {
			f.finish(e.Package, e.Test)
		}
	}
}

// test returns the state of a test, registering a subtest with its parent.
func (f *filter) test(pkg, name string) *test {
	k := key(pkg, name)
	if t, ok := f.tests[k]; ok {
		return t
	}
	t := &test{}
	f.tests[k] = t
	if i := strings.LastIndex(name, "/"); i > 0 {
		parent := f.test(pkg, name[:i])
		parent.children = append(parent.children, name)
	}
	return t
}

// finish ends a top-level test and its subtests: prints what a failure
// printed, notes the skips, and forgets them.
func (f *filter) finish(pkg, name string) {
	t := f.tests[key(pkg, name)]
	if !f.opts.Verbose && (t.result == "fail" || t.result == "bench" || t.result == "") {
		f.print(pkg, name)
	}
	f.collect(pkg, name)
}

// print writes the lines of a test, then those of its subtests that did
// not pass, as go test does for a failure.
func (f *filter) print(pkg, name string) {
	t := f.tests[key(pkg, name)]
	for _, l := range t.lines {
		io.WriteString(f.out, l)
	}
	for _, c := range t.children {
		if ct := f.tests[key(pkg, c)]; ct.result != "pass" && ct.result != "skip" {
			f.print(pkg, c)
		}
	}
}

// collect notes the skips of a test tree and forgets it.
func (f *filter) collect(pkg, name string) {
	k := key(pkg, name)
	t := f.tests[k]
	if t.result == "skip" {
		f.skips = append(f.skips, Skip{Package: pkg, Test: name, Reason: reason(t.lines)})
	}
	for _, c := range t.children {
		f.collect(pkg, c)
	}
	delete(f.tests, k)
}

// flushPackage ends the tests of a package that never ended: a panic or a
// timeout stops the test binary in the middle of a test, and what that
// test printed (the panic, its stack) is the failure.
func (f *filter) flushPackage(pkg string) {
	var open []string
	for k := range f.tests {
		p, name, _ := strings.Cut(k, "\x00")
		if p == pkg && !strings.Contains(name, "/") {
			open = append(open, name)
		}
	}
	slices.Sort(open)
	for _, name := range open {
		f.finish(pkg, name)
	}
}

func (f *filter) flushAll() {
	var pkgs []string
	for k := range f.tests {
		p, _, _ := strings.Cut(k, "\x00")
		if !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	slices.Sort(pkgs)
	for _, p := range pkgs {
		f.flushPackage(p)
	}
}

// reason is what a skipped test logged, on one line: its t.Skip message
// and what it logged before, without the "--- SKIP" header.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		parts = append(parts, l)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	s := strings.Join(parts, " / ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// WriteSkips writes the list of skipped tests, if any.
func WriteSkips(w io.Writer, skips []Skip) {
	if len(skips) == 0 {
		return
	}
	plural := "s"
	if len(skips) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "\n%d test%s skipped:\n", len(skips), plural)
	for _, s := range skips {
		fmt.Fprintf(w, "SKIP %s %s: %s\n", s.Package, s.Test, s.Reason)
	}
}
