package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/redrive"
)

// TestRedriveThroughRunningRuntime: a redrive asked by another process
// (local.Redrive on a state folder a runtime runs) goes to that runtime's
// control route, which delivers the batch to that function's workers
// only, marks it redriven, and refuses requests without its token or from
// a browser.
func TestRedriveThroughRunningRuntime(t *testing.T) {
	needPython(t)
	fix := filepath.Join(t.TempDir(), "fixed")
	c := writeConfig(t, `
lambdas:
  - name: worker
    source: worker.py
    handler: handle
    runtime: python3.12
    environment:
      FIX_FILE: `+fix+`
  - name: bystander
    source: bystander.py
    handler: handle
    runtime: python3.12
subscriptions:
  - event: In
    subscribers: [worker, bystander]
    batch_size: 1
    retry_attempts: 0
workflows:
  - id: wf
    flow: [In]
`, map[string]string{
		"worker.py": `import base64, json, os
def handle(event, context):
    for r in event["Records"]:
        d = json.loads(base64.b64decode(r["kinesis"]["data"]))
        print("worker execution_id=" + d["execution_id"])
        if d.get("bad") and not os.path.exists(os.environ["FIX_FILE"]):
            raise ValueError("execution_id=" + d["execution_id"] + " is bad")
`,
		"bystander.py": `import base64, json
def handle(event, context):
    for r in event["Records"]:
        print("bystander execution_id=" + json.loads(base64.b64decode(r["kinesis"]["data"]))["execution_id"])
`,
	})
	state := t.TempDir()
	rt := start(t, c, local.Options{StateDir: state})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, ev := range []string{`{"execution_id": "good"}`, `{"execution_id": "bad", "bad": true}`} {
		if _, err := rt.Publish(ctx, "In", []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	dls, err := local.DeadLetters(state)
	if err != nil || len(dls) != 1 || dls[0].Function != "worker" || !dls[0].Redriven.IsZero() {
		t.Fatalf("dead letters %+v, %v; want worker's one, not redriven", dls, err)
	}

	if err := os.WriteFile(fix, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, running := local.Running(state); !running {
		t.Fatal("the runtime does not show as running")
	}
	rep, err := local.Redrive(ctx, state, c, redrive.Options{Lambda: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 1 || len(rep.Batches) != 1 || strings.Join(rep.Batches[0].ExecutionIDs, ",") != "bad" {
		t.Fatalf("report %+v", rep)
	}
	if err := rt.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(group, line string) int {
		n := 0
		files, _ := filepath.Glob(filepath.Join(state, "logs", "aws", "lambda", group, "*.jsonl"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += strings.Count(string(b), line)
		}
		return n
	}
	if got := count("worker", "worker execution_id=bad"); got != 2 {
		t.Errorf("worker was given bad %d times, want 2 (the failure, the redrive)", got)
	}
	if got := count("bystander", "bystander execution_id=bad"); got != 1 {
		t.Errorf("bystander was given bad %d times, want 1: the redrive is worker's alone", got)
	}
	dls, err = local.DeadLetters(state)
	if err != nil || len(dls) != 1 || dls[0].Redriven.IsZero() {
		t.Errorf("dead letters after the redrive %+v, %v; want it marked redriven", dls, err)
	}
	tdl, err := local.TrackDeadLetters(state)(ctx, "bad")
	if err != nil || len(tdl) != 0 {
		t.Errorf("track still sees %d dead letters of bad (%v)", len(tdl), err)
	}
	if rep, err := local.Redrive(ctx, state, c, redrive.Options{Lambda: "worker"}); err != nil || len(rep.Batches) != 0 {
		t.Errorf("a second redrive: %+v, %v; want nothing to do", rep, err)
	}
	if _, err := local.Redrive(ctx, state, c, redrive.Options{Lambda: "nobody"}); !errors.Is(err, redrive.ErrUnknownLambda) {
		t.Errorf("an unknown lambda: %v", err)
	}

	// The control route: the token, and no browser.
	var info struct {
		KinesisEndpoint string `json:"kinesis_endpoint"`
	}
	b, err := os.ReadFile(filepath.Join(state, "runtime.json"))
	if err != nil || json.Unmarshal(b, &info) != nil {
		t.Fatalf("runtime.json: %v", err)
	}
	token, err := os.ReadFile(filepath.Join(state, "runtime.token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(state, "runtime.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("runtime.token: %v, mode %v; want 0600", err, fi.Mode())
	}
	for _, c := range []struct {
		name    string
		headers map[string]string
		body    string
		want    int
	}{
		{"no token", nil, `{"lambda":"worker"}`, http.StatusForbidden},
		{"a wrong token", map[string]string{"X-Xflow-Control": "nope"}, `{"lambda":"worker"}`, http.StatusForbidden},
		{"a browser", map[string]string{"X-Xflow-Control": strings.TrimSpace(string(token)), "Origin": "http://evil.example"}, `{"lambda":"worker"}`, http.StatusForbidden},
		{"an unknown field", map[string]string{"X-Xflow-Control": strings.TrimSpace(string(token))}, `{"lambda":"worker","force":true}`, http.StatusBadRequest},
		{"an unknown lambda", map[string]string{"X-Xflow-Control": strings.TrimSpace(string(token))}, `{"lambda":"nobody"}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, info.KinesisEndpoint+"/xflow/redrive", strings.NewReader(c.body))
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}
