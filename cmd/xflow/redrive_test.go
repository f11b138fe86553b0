package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// heard counts, in notify's local log, the deliveries of each execution:
// notify logs one line per record it is given.
func heard(t *testing.T, state string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(state, "logs", "aws", "lambda", "notify", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			var ev struct {
				M string `json:"m"`
			}
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(ev.M), "notify execution_id="); ok {
				id, _, _ := strings.Cut(rest, " ")
				out[id]++
			}
		}
	}
	return out
}

// statusOf is the status of an execution, as xflow track --local --json
// reports it.
func statusOf(t *testing.T, cfg, execution string) string {
	t.Helper()
	code, out, errOut := xflow(t, "", "track", "--local", "-c", cfg, "shipping", execution, "--json")
	if code != 0 {
		t.Fatalf("track %s: exit %d\n%s", execution, code, errOut)
	}
	var rep struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("track %s --json: %v\n%s", execution, err, out)
	}
	return rep.Status
}

// TestRedriveLocal is acceptance 1 of redrive: a handler that fails for
// one kind of input (a fragile order) fails 3 executions; the bug is
// fixed (its environment switch); a dry run changes nothing; xflow
// redrive --local delivers those 3 batches to that function only (notify,
// the other subscriber of the same event, does not hear of them again),
// and the 3 executions finish. Bad arguments are usage errors.
func TestRedriveLocal(t *testing.T) {
	if _, err := exec.Command("python3", "-c", "import boto3").CombinedOutput(); err != nil {
		needTool(t, "python3 with boto3", "the fixture's handlers need it", err)
	}
	dir := copyFiles(t, "testdata/redrive")
	cfg := filepath.Join(dir, "xflow.yaml")
	state := filepath.Join(dir, ".xflow")
	fragile := []string{"order-1", "order-2", "order-3"}

	// Five orders, three of them fragile, all delivered by one run of the
	// runtime: --wait returns once every mapping has delivered all it can.
	for i, ex := range []string{"order-1", "order-2", "order-3", "order-4"} {
		payload := `{"execution_id": "` + ex + `", "fragile": ` + map[bool]string{true: "true", false: "false"}[i < 3] + `}`
		if code, _, errOut := xflow(t, "", "publish", "--local", "-c", cfg, "OrderPlaced", payload); code != 0 {
			t.Fatalf("publish %s: exit %d\n%s", ex, code, errOut)
		}
	}
	if code, out, errOut := xflow(t, "", "run", "-c", cfg, "--publish", "OrderPlaced", `{"execution_id": "order-5"}`, "--wait", "--timeout", "3m"); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, ex := range fragile {
		if got := statusOf(t, cfg, ex); got != "failed" {
			t.Fatalf("%s is %s after the run, want failed (pack raises for a fragile order)", ex, got)
		}
	}
	if got := statusOf(t, cfg, "order-4"); got != "finished" {
		t.Fatalf("order-4 is %s, want finished", got)
	}
	before := heard(t, state)
	for _, ex := range append(fragile, "order-4", "order-5") {
		if before[ex] != 1 {
			t.Fatalf("notify heard of %s %d times before the redrive, want 1: %v", ex, before[ex], before)
		}
	}

	// The fix: the bug's environment switch.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.Replace(string(data), `PACK_BROKEN: "1"`, `PACK_BROKEN: "0"`, 1)
	if fixed == string(data) {
		t.Fatal("the fixture has no PACK_BROKEN switch")
	}
	if err := os.WriteFile(cfg, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}

	// A dry run lists the 3 batches and changes nothing.
	code, out, errOut := xflow(t, "", "redrive", "--local", "-c", cfg, "pack", "--dry-run")
	if code != 0 {
		t.Fatalf("redrive --dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"dry run, nothing is delivered or removed; 3 batches would be redriven", "execution order-1)", "execution order-3)", "3 batches would be redriven, 0 lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run says:\n%s\nwithout %q", out, want)
		}
	}
	if strings.Contains(out, "order-4") {
		t.Errorf("the dry run lists order-4, which did not fail:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(state, "failures", "redriven")); !os.IsNotExist(err) {
		t.Errorf("the dry run marked batches: %v", err)
	}
	for _, ex := range fragile {
		if got := statusOf(t, cfg, ex); got != "failed" {
			t.Errorf("%s is %s after the dry run, want failed still", ex, got)
		}
	}

	// The redrive: no runtime runs, so it starts one, delivers the 3
	// batches to pack, and waits until the executions are done.
	start := time.Now()
	code, out, errOut = xflow(t, "", "redrive", "--local", "-c", cfg, "pack")
	if code != 0 {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("redrive of 3 batches, with a runtime started for it, took %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"pack: 3 batches:", "3 redriven, 0 failed again, 0 lost, 0 not attempted",
		"execution order-1 of workflow shipping: finished", "execution order-2 of workflow shipping: finished", "execution order-3 of workflow shipping: finished"} {
		if !strings.Contains(out, want) {
			t.Errorf("the redrive says:\n%s\nwithout %q", out, want)
		}
	}
	for _, ex := range append(fragile, "order-4", "order-5") {
		if got := statusOf(t, cfg, ex); got != "finished" {
			t.Errorf("%s is %s after the redrive, want finished", ex, got)
		}
	}
	after := heard(t, state)
	for _, ex := range append(fragile, "order-4", "order-5") {
		if after[ex] != 1 {
			t.Errorf("notify heard of %s %d times after the redrive, want 1 still: the redrive went to pack only", ex, after[ex])
		}
	}

	// Nothing is left, and what was given up is marked, not deleted.
	code, out, _ = xflow(t, "", "redrive", "--local", "-c", cfg, "pack")
	if code != 0 || !strings.Contains(out, "pack: nothing to redrive") {
		t.Errorf("a second redrive: exit %d\n%s", code, out)
	}
	lines, err := os.ReadFile(filepath.Join(state, "failures", "pack.jsonl"))
	if err != nil || strings.Count(string(lines), "\n") != 3 {
		t.Errorf("failures/pack.jsonl (%v):\n%s\nwant its 3 lines kept", err, lines)
	}

	// Bad arguments say what is wrong, with exit status 2.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"packk"}, `lambda "packk" is not in ` + cfg + ` (did you mean "pack"?)`},
		{[]string{"ship"}, `lambda "ship" is not in ` + cfg + ` (its lambdas are: pack, notify)`},
		{[]string{"pack", "--since", "yesterday"}, `--since "yesterday" is neither a time`},
		{[]string{"pack", "--execution", "a*b"}, `--execution "a*b"`},
		{[]string{}, "takes the name of one lambda of the config, got 0 arguments"},
		{[]string{"pack", "--state", "x"}, "--state and --strict-runtimes go with --local"},
	} {
		code, _, errOut := xflow(t, "", append([]string{"redrive", "-c", cfg}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("redrive %v: exit %d, want 2\n%s\nwant %q", c.args, code, errOut, c.want)
		}
	}
}

// TestParseSince reads --since: a time, or a duration ago.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-05-01T10:00:00Z": time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		"90m":                  now.Add(-90 * time.Minute),
		"2h":                   now.Add(-2 * time.Hour),
		"3d":                   now.Add(-72 * time.Hour),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-2h", "3x", "2026-05-01"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) took it", in)
		}
	}
}
