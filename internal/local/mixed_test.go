package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/track"
)

var (
	nodeOnce sync.Once
	nodeErr  error
	goErr    error
)

// needMixed needs what the mixed fixture runs on: python3 with boto3,
// node (PATH or xflow's cache) and go.
func needMixed(t *testing.T) {
	needPython(t)
	nodeOnce.Do(func() {
		if _, err := exec.LookPath("node"); err != nil {
			nodeErr = err
		}
		if _, err := exec.LookPath("go"); err != nil {
			goErr = err
		}
	})
	need(t, "node", func() error { return nodeErr })
	need(t, "go", func() error { return goErr })
}

// startMixed runs the mixed fixture from a copy in a temporary folder, so
// that nothing is written beside the fixture.
func startMixed(t *testing.T) *local.Runtime {
	t.Helper()
	needMixed(t)
	c := loadConfig(t, "testdata/mixed/xflow.yaml")
	return start(t, c, local.Options{})
}

func publishAll(t *testing.T, rt *local.Runtime, event string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := rt.Publish(context.Background(), event, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
}

// finished returns the Finished events by execution id.
func finished(t *testing.T, rt *local.Runtime) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, e := range streamEvents(t, rt, "Finished") {
		out[e["execution_id"].(string)] = e
	}
	return out
}

// TestMixedRuntimes runs Python, Node.js (CommonJS callback, ES module
// async) and Go (aws-lambda-go built from source) handlers in one
// workflow, and a second subscriber of one event beside the first.
func TestMixedRuntimes(t *testing.T) {
	t.Parallel()
	rt := startMixed(t)
	publishAll(t, rt, "Started", `{"execution_id": "m-1"}`, `{"execution_id": "m-2"}`)
	waitIdle(t, rt, 3*time.Minute)

	got := finished(t, rt)
	if len(got) != 2 {
		t.Fatalf("Finished holds %d executions, want m-1 and m-2: %v", len(got), got)
	}
	e := got["m-1"]
	for key, fn := range map[string]string{"py": "py_check", "cjs": "node_cjs", "go": "go_step", "esm": "node_esm"} {
		step, ok := e[key].(map[string]any)
		if !ok {
			t.Errorf("m-1 did not go through %s: %v", fn, e)
			continue
		}
		if step["function"] != fn {
			t.Errorf("%s's context names function %v", fn, step["function"])
		}
		if step["pid"] == float64(os.Getpid()) {
			t.Errorf("%s ran in the test's process", fn)
		}
	}
	if v, _ := e["go"].(map[string]any)["version"].(string); !strings.HasPrefix(v, "go1.") {
		t.Errorf("go_step's runtime.Version() = %q", v)
	}
	if v, _ := e["cjs"].(map[string]any)["version"].(string); !strings.HasPrefix(v, "v") {
		t.Errorf("node_cjs's process.version = %q", v)
	}
	if e["py"].(map[string]any)["memory"] != "128" {
		t.Errorf("py_check's context.memory_limit_in_mb = %v, want \"128\" as Lambda gives it", e["py"].(map[string]any)["memory"])
	}
	if e["esm"].(map[string]any)["remaining"] != true {
		t.Errorf("node_esm's context.getRemainingTimeInMillis() was not positive")
	}

	// Both subscribers of Checked got every record.
	audit := strings.Join(groupLines(t, rt.Logs(), "/aws/lambda/py_audit", "audit"), "\n")
	for _, ex := range []string{"m-1", "m-2"} {
		if !strings.Contains(audit, "audit execution_id="+ex+" ") {
			t.Errorf("py_audit did not see %s:\n%s", ex, audit)
		}
	}

	// Node's console lines have Lambda's shape: time, request id, level.
	nodeLines := groupLines(t, rt.Logs(), "/aws/lambda/node_esm", `"node_esm pid="`)
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\tINFO\texecution_id=m-\d node_esm pid=`)
	if len(nodeLines) == 0 {
		t.Error("node_esm logged nothing")
	}
	for _, l := range nodeLines {
		if !re.MatchString(l) {
			t.Errorf("node_esm's console line %q is not <time>\\t<request id>\\tINFO\\t<message>", l)
		}
	}
	// Go's output and Lambda's lines are in go_step's log group.
	goLines := strings.Join(groupLines(t, rt.Logs(), "/aws/lambda/go_step", ""), "\n")
	for _, s := range []string{"INIT_START Runtime Version: provided.al2023", "execution_id=m-1 go_step pid=", "REPORT RequestId: "} {
		if !strings.Contains(goLines, s) {
			t.Errorf("go_step's log lacks %q:\n%s", s, goLines)
		}
	}
}

// TestFailingHandler: a handler raises for one execution's event. Its
// traceback is in the function's log group, in one log event naming that
// execution only; track names the function and shows the traceback; the
// other executions finish; bisect and retries leave one dead letter.
func TestFailingHandler(t *testing.T) {
	t.Parallel()
	rt := startMixed(t)
	publishAll(t, rt, "Started",
		`{"execution_id": "ok-1"}`, `{"execution_id": "bad-1", "fail": true}`, `{"execution_id": "ok-2"}`, `{"execution_id": "ok-3"}`)
	waitIdle(t, rt, 3*time.Minute)

	got := finished(t, rt)
	for _, ex := range []string{"ok-1", "ok-2", "ok-3"} {
		if _, ok := got[ex]; !ok {
			t.Errorf("%s did not finish", ex)
		}
	}
	if _, ok := got["bad-1"]; ok {
		t.Error("bad-1 finished")
	}

	// The traceback is one log event, as Lambda's Python runtime makes it.
	var tracebacks []string
	for _, l := range groupLines(t, rt.Logs(), "/aws/lambda/py_check", `"Traceback"`) {
		tracebacks = append(tracebacks, l)
		if !strings.HasPrefix(l, "[ERROR] ValueError: execution_id=bad-1 cannot be checked") ||
			!strings.Contains(l, "\nTraceback (most recent call last):\n") || !strings.Contains(l, `py_check.py", line `) {
			t.Errorf("traceback event:\n%s", l)
		}
	}
	// Once alone after bisect isolated it, then retried once
	// (retry_attempts: 1); before that, once per batch it was part of.
	if len(tracebacks) < 2 {
		t.Errorf("%d tracebacks, want at least 2 (the attempt alone and its one retry)", len(tracebacks))
	}
	for _, ex := range []string{"ok-1", "ok-2", "ok-3"} {
		for _, l := range groupLines(t, rt.Logs(), "/aws/lambda/py_check", `"execution_id=`+ex+` "`) {
			if strings.Contains(l, "Traceback") || strings.Contains(l, "[ERROR]") {
				t.Errorf("a line of %s holds an error: %s", ex, l)
			}
		}
	}

	rep, err := track.Track(context.Background(), rt.Logs(), rt.Config(), "mixed", "bad-1", track.Options{Limiter: track.NewLimiter(0)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != track.StatusFailed || rep.NextExpectedEvent == nil || *rep.NextExpectedEvent != "Checked" {
		t.Fatalf("track bad-1: status %s, next %v; want failed at Checked", rep.Status, rep.NextExpectedEvent)
	}
	var text strings.Builder
	rep.WriteText(&text)
	if len(rep.Producers) != 1 || rep.Producers[0].Lambda != "py_check" || !rep.Producers[0].Failed {
		t.Errorf("track bad-1 producers: %+v\n%s", rep.Producers, text.String())
	}
	if !strings.Contains(text.String(), "Traceback (most recent call last)") || strings.Contains(text.String(), "ok-") {
		t.Errorf("track bad-1 does not show its traceback alone:\n%s", text.String())
	}
	for _, ex := range []string{"ok-1", "ok-2", "ok-3"} {
		rep, err := track.Track(context.Background(), rt.Logs(), rt.Config(), "mixed", ex, track.Options{Limiter: track.NewLimiter(0)})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status != track.StatusFinished {
			t.Errorf("track %s: %s", ex, rep.Status)
		}
	}

	// One dead letter, for the bad record alone, in Lambda's shape.
	data, err := os.ReadFile(filepath.Join(rt.StateDir(), "failures", "py_check.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d on-failure records, want 1:\n%s", len(lines), data)
	}
	var dl struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
			FunctionARN            string `json:"functionArn"`
		} `json:"requestContext"`
		KinesisBatchInfo struct {
			StartSequenceNumber, EndSequenceNumber, StreamARN, ShardID string
			BatchSize                                                  int
		} `json:"KinesisBatchInfo"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &dl); err != nil {
		t.Fatal(err)
	}
	recs, _ := rt.Streams().Records("Started", 0, 10)
	badSeq := recs[1].SequenceNumber()
	if dl.RequestContext.Condition != "RetryAttemptsExhausted" || dl.RequestContext.ApproximateInvokeCount != 2 ||
		dl.KinesisBatchInfo.BatchSize != 1 || dl.KinesisBatchInfo.StartSequenceNumber != badSeq || dl.KinesisBatchInfo.EndSequenceNumber != badSeq ||
		!strings.HasSuffix(dl.KinesisBatchInfo.StreamARN, ":stream/Started") || dl.RequestContext.FunctionARN == "" {
		t.Errorf("on-failure record:\n%s\nwant RetryAttemptsExhausted after 2 invocations, for record %s alone", lines[0], badSeq)
	}
}

// TestWarmWorkers: one worker process serves many invocations, keeping
// its module state, as a Lambda execution environment does.
func TestWarmWorkers(t *testing.T) {
	t.Parallel()
	rt := startMixed(t)
	const n = 4
	for i := range n {
		// One at a time, so that each is an invocation of its own.
		publishAll(t, rt, "Started", fmt.Sprintf(`{"execution_id": "w-%d"}`, i))
		waitIdle(t, rt, 3*time.Minute)
	}
	got := finished(t, rt)
	if len(got) != n {
		t.Fatalf("%d executions finished, want %d", len(got), n)
	}
	for _, step := range []string{"py", "cjs", "go", "esm"} {
		pids := map[float64]bool{}
		var invocations []float64
		for i := range n {
			s := got[fmt.Sprintf("w-%d", i)][step].(map[string]any)
			pids[s["pid"].(float64)] = true
			invocations = append(invocations, s["invocation"].(float64))
		}
		if len(pids) != 1 {
			t.Errorf("%s ran in %d processes, want 1: %v", step, len(pids), pids)
		}
		if !slices.Equal(invocations, []float64{1, 2, 3, 4}) {
			t.Errorf("%s's module counter went %v, want 1 2 3 4", step, invocations)
		}
	}
	// Init happened once: one INIT_START and one Init Duration per function.
	for _, fn := range []string{"py_check", "node_cjs", "go_step", "node_esm"} {
		lines := groupLines(t, rt.Logs(), "/aws/lambda/"+fn, "")
		inits, reports, cold := 0, 0, 0
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "INIT_START"):
				inits++
			case strings.HasPrefix(l, "REPORT"):
				reports++
				if strings.Contains(l, "Init Duration") {
					cold++
				}
			}
		}
		if inits != 1 || cold != 1 || reports != n {
			t.Errorf("%s: %d INIT_START, %d REPORT, %d with Init Duration; want 1, %d, 1", fn, inits, reports, cold, n)
		}
	}
}
