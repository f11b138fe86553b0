package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/tracker"
)

// need skips a test when a tool is missing, and fails it on CI, where the
// tool must be there.
func need(t *testing.T, what string, check func() error) {
	t.Helper()
	if err := check(); err != nil {
		msg := "SKIP: " + what + " is not available: " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set")
		}
		t.Skip(msg)
	}
}

var (
	pythonOnce sync.Once
	pythonErr  error
)

// needPython needs python3 with boto3, which the wordcount handlers use.
func needPython(t *testing.T) {
	pythonOnce.Do(func() {
		out, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
		if err != nil {
			pythonErr = &cmdError{err, out}
		}
	})
	need(t, "python3 with boto3", func() error { return pythonErr })
}

type cmdError struct {
	err error
	out []byte
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(string(e.out)) }

// slowMachine gives the functions of a config without a timeout of its
// own a generous one, through the original xFlow's LAMBDA_TIMEOUT_TIME:
// on a loaded 2-core machine, a cold worker's first boto3 import can take
// longer than the wordcount example's 3 s, and these tests are about
// delivery, not speed. The timeout tests set theirs in their config.
var slowMachine = map[string]string{config.EnvTimeoutTime: "60"}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Parse(path, mustRead(t, path), func(k string) string { return slowMachine[k] })
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return c
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLog sends the runtime's messages to the test's log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start starts a runtime of c in a fresh state folder and stops it at
// the end of the test.
func start(t *testing.T, c *config.Config, opts local.Options) *local.Runtime {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	if opts.Log == nil {
		opts.Log = testLog(t)
	}
	rt := local.New(c, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rt.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return rt
}

// waitIdle waits for the runtime to do all it can.
func waitIdle(t *testing.T, rt *local.Runtime, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := rt.WaitIdle(ctx); err != nil {
		t.Fatalf("wait for the runtime to be idle: %v", err)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamEvents returns the JSON events of a local stream.
func streamEvents(t *testing.T, rt *local.Runtime, stream string) []map[string]any {
	t.Helper()
	recs, err := rt.Streams().Records(stream, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Data, &out[i]); err != nil {
			t.Fatalf("record %s of %s: %v", r.SequenceNumber(), stream, err)
		}
	}
	return out
}

// logEvents reads a whole log stream through GetLogEvents, as track does.
func logEvents(t *testing.T, logs *local.Logs, group, stream string) []string {
	t.Helper()
	var out []string
	var token *string
	for {
		page, err := logs.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			t.Fatalf("GetLogEvents %s %s: %v", group, stream, err)
		}
		for _, e := range page.Events {
			out = append(out, aws.ToString(e.Message))
		}
		if token != nil && *page.NextForwardToken == *token {
			return out
		}
		token = page.NextForwardToken
	}
}

// trackerEntries are the tracker's entries of an execution.
func trackerEntries(t *testing.T, logs *local.Logs, workflow, execution string) []tracker.Entry {
	t.Helper()
	var out []tracker.Entry
	for _, m := range logEvents(t, logs, "/xFlow/track/"+workflow, execution) {
		var e tracker.Entry
		if err := json.Unmarshal([]byte(m), &e); err != nil {
			t.Fatalf("tracker entry %q: %v", m, err)
		}
		out = append(out, e)
	}
	return out
}

// groupLines are all the messages of a log group, through FilterLogEvents.
func groupLines(t *testing.T, logs *local.Logs, group, pattern string) []string {
	t.Helper()
	var out []string
	var token *string
	for {
		page, err := logs.FilterLogEvents(context.Background(), &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group), FilterPattern: aws.String(pattern), NextToken: token,
		})
		if err != nil {
			t.Fatalf("FilterLogEvents %s: %v", group, err)
		}
		for _, e := range page.Events {
			out = append(out, aws.ToString(e.Message))
		}
		if page.NextToken == nil {
			return out
		}
		token = page.NextToken
	}
}

func compactJSON(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func getInput(group, stream string, token *string) *cloudwatchlogs.GetLogEventsInput {
	return &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
	}
}
