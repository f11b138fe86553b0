package testsummary

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goTestJSON runs go test -json on the fixture module with extra
// environment, and returns its stream.
func goTestJSON(t *testing.T, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = filepath.Join("testdata", "fixture")
	cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS=-mod=mod"}, env...)...)
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("go test -json: %v", err)
	}
	return out
}

// TestFilter: go test's usual output, failures with their subtests'
// lines, panics, and a closing list of every skipped test with its reason,
// from the JSON of a real go test run.
func TestFilter(t *testing.T) {
	tests := []struct {
		name          string
		env           []string
		verbose       bool
		want, notWant []string
		skips         int
	}{
		{name: "passing package with skips",
			want: []string{"ok  \tfixture\t", "\n2 tests skipped:\n",
				"SKIP fixture TestSkipsWithoutTool: fixture_test.go:15: looked for moto_server / fixture_test.go:16: SKIP: moto_server is not installed\n",
				"SKIP fixture TestSubtests/needs_chromium: fixture_test.go:21: SKIP: chromium is not installed\n"},
			notWant: []string{"a line of a passing test", "=== RUN", "PASS\n", "--- SKIP"},
			skips:   2},
		{name: "a failing subtest", env: []string{"FIXTURE_FAIL=1"},
			want:    []string{"--- FAIL: TestFails (", "--- FAIL: TestFails/broken (", "want 1, got 2", "FAIL\tfixture\t", "2 tests skipped:"},
			notWant: []string{"hidden: it passed", "a line of a passing test"},
			skips:   2},
		{name: "a panic", env: []string{"FIXTURE_PANIC=1"},
			want:  []string{"panic: boom in the fixture", "FAIL\tfixture\t"},
			skips: 2},
		{name: "verbose", verbose: true,
			want:  []string{"=== RUN   TestPasses", "a line of a passing test", "--- SKIP: TestSkipsWithoutTool", "2 tests skipped:"},
			skips: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			skips, err := Filter(bytes.NewReader(goTestJSON(t, tt.env...)), &out, Options{Verbose: tt.verbose})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output holds %q:\n%s", w, out.String())
				}
			}
			if len(skips) != tt.skips {
				t.Errorf("%d skips, want %d: %+v", len(skips), tt.skips, skips)
			}
		})
	}
}

// Lines that are not go test's JSON (a tool's message on the same
// stream) are copied as they are.
func TestFilterKeepsOtherLines(t *testing.T) {
	in := "go: downloading example.com/x v1.0.0\n" +
		`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}` + "\n" +
		`{"ImportPath":"q","Action":"build-output","Output":"q/x.go:3:1: syntax error\n"}` + "\n"
	var out bytes.Buffer
	if _, err := Filter(strings.NewReader(in), &out, Options{}); err != nil {
		t.Fatal(err)
	}
	want := "go: downloading example.com/x v1.0.0\nok  \tp\t0.1s\nq/x.go:3:1: syntax error\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
