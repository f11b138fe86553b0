package local_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/track"
)

var reportRe = regexp.MustCompile(`^REPORT RequestId: \S+\tDuration: (-?[0-9.]+) ms\tBilled Duration: (-?\d+) ms`)

// TestReportOfFailedInit: a runtime that dies before its first /next, or
// a Python module that raises at import, gets REPORT lines with a
// Duration and a Billed Duration of zero or more, never negative (the
// init time, which began before the invocation, was subtracted from the
// invocation's). A runtime that exits says why: the failure that track
// shows ends with its last line of output, not only Runtime.ExitError.
func TestReportOfFailedInit(t *testing.T) {
	tests := []struct {
		name, runtime, source, handler string
		files                          map[string]string
		python                         bool
		wantError                      string // in the dead letter and in track's report
	}{
		{name: "exits before next", runtime: "provided.al2023", source: "fn",
			files:     map[string]string{"fn/bootstrap": "#!/bin/sh\necho 'starting'\necho 'bootstrap: 3: [[: not found' >&2\nexit 127\n"},
			wantError: "Runtime.ExitError: RequestId: %s Error: Runtime exited with error: exit status 127; its last output: bootstrap: 3: [[: not found"},
		{name: "raises at import", runtime: "python3.12", source: "step.py", handler: "handle", python: true,
			files:     map[string]string{"step.py": "def handle(e, c):\n    pass\nraise RuntimeError('no config')\n"},
			wantError: "RuntimeError: no config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.python {
				needPython(t)
			}
			yaml := `
lambdas:
  - name: step
    source: ` + tt.source + `
    handler: ` + tt.handler + `
    runtime: ` + tt.runtime + `
subscriptions:
  - event: In
    subscribers: [step]
    retry_attempts: 1
  - event: Out
    subscribers:
workflows:
  - id: wf
    flow: [In, Out]
`
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "xflow.yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			c := loadConfig(t, path)
			rt := start(t, c, local.Options{})
			publishAll(t, rt, "In", `{"execution_id": "init-1"}`)
			waitIdle(t, rt, 3*time.Minute)

			reports := 0
			var requestID string
			for _, l := range groupLines(t, rt.Logs(), "/aws/lambda/step", "") {
				if id, ok := strings.CutPrefix(l, "START RequestId: "); ok {
					requestID, _, _ = strings.Cut(id, " ")
				}
				m := reportRe.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				reports++
				d, _ := strconv.ParseFloat(m[1], 64)
				billed, _ := strconv.Atoi(m[2])
				if d < 0 || billed < 1 {
					t.Errorf("%q: Duration %v ms, Billed Duration %d ms; want them at least 0 and 1", l, d, billed)
				}
			}
			if reports != 2 { // the first attempt and one retry
				t.Errorf("%d REPORT lines, want 2", reports)
			}

			want := tt.wantError
			if strings.Contains(want, "%s") {
				want = strings.Replace(want, "%s", requestID, 1)
			}
			rep, err := track.Track(context.Background(), rt.Logs(), rt.Config(), "wf", "init-1", local.TrackOptions(rt.StateDir()))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.DeadLetters) != 1 || !strings.Contains(rep.DeadLetters[0].Error, want) {
				t.Fatalf("dead letters %+v, want one whose error holds %q", rep.DeadLetters, want)
			}
			var text strings.Builder
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), want) {
				t.Errorf("track's report does not show %q:\n%s", want, text.String())
			}
		})
	}
}

// TestTrackUnparsableRecord: a record whose payload is not JSON (base64
// sent by mistake) cannot be tracked, and its subscriber gives up on it;
// track --local finds the execution by the record's partition key in the
// failures file and shows it failed at its first event, with the error,
// rather than "not found".
func TestTrackUnparsableRecord(t *testing.T) {
	needPython(t)
	step := "import base64, json\ndef handle(event, context):\n    for r in event['Records']:\n        json.loads(base64.b64decode(r['kinesis']['data']))\n"
	c := writeConfig(t, oneStep("python3.12"), map[string]string{"step.py": step})
	rt := start(t, c, local.Options{})
	// What a client that base64-encodes the data itself sends: the SDK
	// encodes it again, and the record holds base64 text.
	_, err := rt.Streams().PutRecord(context.Background(), &kinesis.PutRecordInput{
		StreamName: aws.String("In"), PartitionKey: aws.String("raw-1"),
		Data: []byte(base64.StdEncoding.EncodeToString([]byte(`{"execution_id": "raw-1"}`))),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, rt, 3*time.Minute)
	rep, err := track.Track(context.Background(), rt.Logs(), rt.Config(), "wf", "raw-1", local.TrackOptions(rt.StateDir()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != track.StatusFailed || len(rep.DeadLetters) != 1 || !strings.Contains(rep.DeadLetters[0].Error, "JSONDecodeError") {
		t.Fatalf("status %s, dead letters %+v; want failed, with the step's JSONDecodeError", rep.Status, rep.DeadLetters)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"execution raw-1: failed, 0 of 2 events received", "partition key is raw-1", "step gave up on the In batch"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("track's report lacks %q:\n%s", want, text.String())
		}
	}
}
