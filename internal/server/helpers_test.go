package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// testConfig is the start of the wordcount workflow under a prefix.
func testConfig(prefix string) *config.Config {
	return &config.Config{
		File:    "xflow.yaml",
		General: config.General{NamePrefix: prefix},
		Lambdas: []config.Lambda{{Name: "lambda_reader"}, {Name: "lambda_parser"}},
		Subscriptions: []config.Subscription{
			{Event: "FileUploaded", Subscribers: []config.Subscriber{{Lambda: "lambda_reader"}}},
			{Event: "FileDownloaded", Subscribers: []config.Subscriber{{Lambda: "lambda_parser"}}},
			{Event: "FileParsed"},
		},
		Workflows: []config.Workflow{
			{ID: "compute_word_count", Flow: []string{"FileUploaded", "FileDownloaded", "FileParsed"}},
		},
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger logs JSON lines into a buffer.
func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// logLines decodes the JSON log lines of a buffer.
func logLines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// answer is a decoded API answer.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	}
}

// do sends a request and decodes the answer; every answer must be JSON.
func do(t *testing.T, client *http.Client, method, url, token string, body io.Reader, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	if a.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, url, err)
	}
	if method == http.MethodHead {
		return a
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON; body %.200s", method, url, ct, a.Body)
	}
	if !json.Valid(a.Body) {
		t.Errorf("%s %s: the answer is not JSON: %.200s", method, url, a.Body)
	}
	if a.Status >= 400 {
		var e struct {
			Error *json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(a.Body, &e); err != nil || e.Error == nil {
			t.Errorf("%s %s: status %d without an error object: %.200s", method, url, a.Status, a.Body)
		} else {
			_ = json.Unmarshal(*e.Error, &a.Error)
			if a.Error.Code == "" || a.Error.Message == "" {
				t.Errorf("%s %s: error without code or message: %s", method, url, a.Body)
			}
		}
	}
	return a
}

// fakeBackend answers with functions; nil ones fail the test.
type fakeBackend struct {
	publish    func(ctx context.Context, rec *publish.Record) (publish.Result, error)
	track      func(ctx context.Context, workflowID, executionID string) (*track.Report, error)
	executions func(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error)
	// checkTracker may be nil: the tracker is healthy.
	checkTracker func(ctx context.Context, rep *track.Report) error
	redrive      func(ctx context.Context, workflowID, executionID string, dryRun bool) (*redrive.ExecutionReport, error)
}

func (f *fakeBackend) CheckTracker(ctx context.Context, rep *track.Report) error {
	if f.checkTracker == nil {
		return nil
	}
	return f.checkTracker(ctx, rep)
}

func (f *fakeBackend) Redrive(ctx context.Context, workflowID, executionID string, dryRun bool) (*redrive.ExecutionReport, error) {
	return f.redrive(ctx, workflowID, executionID, dryRun)
}

func (f *fakeBackend) Executions(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error) {
	return f.executions(ctx, workflowID, limit, token)
}

func (f *fakeBackend) Publish(ctx context.Context, rec *publish.Record) (publish.Result, error) {
	return f.publish(ctx, rec)
}

func (f *fakeBackend) Track(ctx context.Context, workflowID, executionID string) (*track.Report, error) {
	return f.track(ctx, workflowID, executionID)
}

func published(rec *publish.Record) publish.Result {
	return publish.Result{Stream: rec.Stream, ShardID: "shardId-000000000000", SequenceNumber: "1", ExecutionID: rec.ExecutionID}
}
