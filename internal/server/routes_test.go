package server

// These tests serve the API over HTTP with the AWS backend on moto_server.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/tracker"
)

const testToken = "t0ken-for-tests"

// onMoto is a config under a unique prefix whose first two streams exist
// on moto (FileParsed's does not: the workflow is partly deployed) and
// whose tracking log group exists, with the AWS backend serving it.
type onMoto struct {
	cfg     aws.Config
	c       *config.Config
	scheme  names.Scheme
	kinesis *kinesis.Client
	logs    *cloudwatchlogs.Client
	backend *AWS
}

func newOnMoto(t *testing.T, base string) *onMoto {
	t.Helper()
	cfg := awstest.Config(t) // skips without AWS_ENDPOINT_URL
	m := &onMoto{cfg: cfg, c: testConfig(awstest.Unique(base) + "-"), kinesis: kinesis.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg)}
	m.scheme = names.New(m.c.General.NamePrefix)
	kinesistest.CreateStreams(t, m.kinesis, m.scheme.Stream("FileUploaded"), m.scheme.Stream("FileDownloaded"))
	group := m.scheme.TrackerLogGroup("compute_word_count")
	if _, err := m.logs.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = m.logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	m.backend = NewAWS(cfg, m.c)
	return m
}

// runTracker does what the tracker Lambda does for the records of a
// stream.
func (m *onMoto) runTracker(t *testing.T, event string) {
	t.Helper()
	h := &tracker.Handler{Logs: m.logs, LogGroup: m.scheme.TrackerLogGroup("compute_word_count"), Names: m.scheme,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	recs := kinesistest.Read(t, m.kinesis, m.scheme.Stream(event))
	resp, err := h.Handle(context.Background(), kinesistest.Event(t, m.cfg.Region, recs))
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("tracker: %v %+v", err, resp.BatchItemFailures)
	}
}

// TestRoutes sends every kind of request to a server with a token and the
// AWS backend on moto, and checks the status, the error code and field,
// the headers, and what landed on the streams.
func TestRoutes(t *testing.T) {
	m := newOnMoto(t, "srv")
	log, _ := testLogger()
	srv := New(Options{Config: m.c, Backend: m.backend, Token: testToken, Version: "1.2.3", Logger: log})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := ts.Client()

	// An execution the tracker has seen: its first event, published through
	// the API.
	a := do(t, client, "POST", ts.URL+"/publish", testToken, strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-tracked", "file": "a.txt"}}`))
	if a.Status != 200 {
		t.Fatalf("publish: %d %s", a.Status, a.Body)
	}
	m.runTracker(t, "FileUploaded")

	huge := `{"stream": "FileUploaded", "event": {"execution_id": "ex-huge", "pad": "` + strings.Repeat("x", spec.MaxRecordBytes) + `"}}`
	tooLong := `{"stream": "FileUploaded", "event": {"execution_id": "ex-long", "pad": "` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	trackPath := "/track/workflows/compute_word_count/executions/"

	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         string
		headers      []string
		chunked      bool // no Content-Length
		status       int
		code, field  string
		header       [2]string // a header the answer must have
		want         string    // a substring of the answer
		lands        string    // the execution id that must be on FileUploaded's stream
	}{
		// /ping
		{name: "ping without token", method: "GET", path: "/ping", status: 200, want: `{"name":"xflow","version":"1.2.3"}`},
		{name: "ping HEAD", method: "HEAD", path: "/ping", status: 200},
		{name: "ping POST", method: "POST", path: "/ping", status: 405, code: "method_not_allowed", header: [2]string{"Allow", "GET, HEAD"}},

		// /publish: auth
		{name: "publish without token", method: "POST", path: "/publish", body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-no"}}`,
			status: 401, code: "unauthorized", header: [2]string{"WWW-Authenticate", `Bearer realm="xflow"`}},
		{name: "publish wrong token", method: "POST", path: "/publish", token: "nope", body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-no"}}`,
			status: 401, code: "unauthorized", header: [2]string{"WWW-Authenticate", `Bearer realm="xflow", error="invalid_token"`}},
		{name: "publish token as a prefix", method: "POST", path: "/publish", token: testToken[:5], body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-no"}}`,
			status: 401, code: "unauthorized"},
		{name: "publish basic auth", method: "POST", path: "/publish", headers: []string{"Authorization", "Basic dXNlcjpwYXNz"}, body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-no"}}`,
			status: 401, code: "unauthorized"},

		// /publish: success, as the seed's curl sends it (form content type)
		{name: "publish", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-1", "message": "Test with ccc"}}`,
			headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 200, want: `"execution_id":"ex-1"`, lands: "ex-1"},
		{name: "publish lower-case scheme", method: "POST", path: "/publish", headers: []string{"Authorization", "bearer " + testToken},
			body: `{"event": {"execution_id": "ex-2"}, "stream": "FileUploaded"}`, status: 200, lands: "ex-2"},

		// /publish: refused bodies
		{name: "publish GET", method: "GET", path: "/publish", token: testToken, status: 405, code: "method_not_allowed", header: [2]string{"Allow", "POST"}},
		{name: "empty body", method: "POST", path: "/publish", token: testToken, body: "", status: 400, code: "invalid_json", want: "the body is empty"},
		{name: "malformed JSON", method: "POST", path: "/publish", token: testToken, body: "{\"stream\": \"FileUploaded\",\n \"event\": {\"execution_id\": \"ex-x\"}", status: 400, code: "invalid_json", want: "line 2"},
		{name: "not UTF-8", method: "POST", path: "/publish", token: testToken, body: "{\"stream\": \"File\xffUploaded\"}", status: 400, code: "invalid_json", want: "not valid UTF-8"},
		{name: "two objects", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded"} {}`, status: 400, code: "invalid_json", want: "more follows"},
		{name: "array body", method: "POST", path: "/publish", token: testToken, body: `[{"stream": "FileUploaded"}]`, status: 400, code: "invalid_json", want: "an array, not a JSON object"},
		{name: "missing stream", method: "POST", path: "/publish", token: testToken, body: `{"event": {"execution_id": "ex-x"}}`, status: 400, code: "missing_field", field: "stream"},
		{name: "missing event", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded"}`, status: 400, code: "missing_field", field: "event"},
		{name: "stream not a string", method: "POST", path: "/publish", token: testToken, body: `{"stream": 7, "event": {"execution_id": "ex-x"}}`, status: 400, code: "invalid_field", field: "stream", want: "a number, not a string"},
		{name: "empty stream", method: "POST", path: "/publish", token: testToken, body: `{"stream": "", "event": {"execution_id": "ex-x"}}`, status: 400, code: "invalid_field", field: "stream"},
		{name: "unknown field", method: "POST", path: "/publish", token: testToken, body: `{"steam": "FileUploaded", "event": {"execution_id": "ex-x"}}`, status: 400, code: "unknown_field", field: "steam", want: `did you mean \"stream\"?`},
		{name: "field in other case", method: "POST", path: "/publish", token: testToken, body: `{"Stream": "FileUploaded", "event": {"execution_id": "ex-x"}}`, status: 400, code: "unknown_field", field: "Stream"},
		{name: "repeated field", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "stream": "FileParsed", "event": {"execution_id": "ex-x"}}`, status: 400, code: "invalid_field", field: "stream", want: "twice"},
		{name: "event not an object", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": "ex-x"}`, status: 400, code: "invalid_event", field: "event", want: "a string, not a JSON object"},
		{name: "event null", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": null}`, status: 400, code: "invalid_event", field: "event"},
		{name: "no execution_id", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"id": "ex-x"}}`, status: 400, code: "invalid_event", field: "event", want: `has no \"execution_id\"`},
		{name: "execution_id a number", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"execution_id": 7}}`, status: 400, code: "invalid_event", field: "event"},
		{name: "execution_id with a star", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"execution_id": "a*b"}}`, status: 400, code: "invalid_event", field: "event"},
		{name: "unknown event", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUplaoded", "event": {"execution_id": "ex-x"}}`, status: 404, code: "unknown_event", field: "stream", want: `did you mean \"FileUploaded\"?`},
		{name: "event over 1 MiB", method: "POST", path: "/publish", token: testToken, body: huge, status: 413, code: "too_large", field: "event", want: "1 MiB"},
		{name: "body over the limit", method: "POST", path: "/publish", token: testToken, body: tooLong, status: 413, code: "too_large", field: "event", want: fmt.Sprintf("more than %d bytes", MaxBodyBytes)},
		{name: "chunked body over the limit", method: "POST", path: "/publish", token: testToken, body: tooLong, chunked: true, status: 413, code: "too_large", field: "event", want: fmt.Sprintf("more than %d bytes", MaxBodyBytes)},
		{name: "chunked body", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-3"}}`, chunked: true, status: 200, lands: "ex-3"},
		{name: "stream not deployed", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileParsed", "event": {"execution_id": "ex-x"}}`, status: 503, code: "stream_not_found", want: "FileParsed does not exist"},
		{name: "cross-site browser", method: "POST", path: "/publish", token: testToken, body: `{"stream": "FileUploaded", "event": {"execution_id": "ex-csrf"}}`,
			headers: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, status: 403, code: "cross_origin"},

		// /track
		{name: "track", method: "GET", path: trackPath + "ex-tracked", token: testToken, status: 200, want: `"status": "in_progress"`},
		{name: "track not found", method: "GET", path: trackPath + "ex-never", token: testToken, status: 200, want: `"status": "not_found"`},
		{name: "track escaped slash", method: "GET", path: trackPath + "a%2Fb", token: testToken, status: 200, want: `"execution_id": "a/b"`},
		{name: "track without token", method: "GET", path: trackPath + "ex-tracked", status: 401, code: "unauthorized"},
		{name: "track unknown workflow", method: "GET", path: "/track/workflows/compute_wordcount/executions/ex-1", token: testToken, status: 404, code: "unknown_workflow", want: `did you mean \"compute_word_count\"?`},
		{name: "track invalid execution id", method: "GET", path: trackPath + "a*b", token: testToken, status: 400, code: "invalid_execution_id"},
		{name: "track escaped colon", method: "GET", path: trackPath + "run%3A1", token: testToken, status: 400, code: "invalid_execution_id"},
		{name: "track DELETE", method: "DELETE", path: trackPath + "ex-1", token: testToken, status: 405, code: "method_not_allowed", header: [2]string{"Allow", "GET, HEAD"}},

		// the page's routes (more in executions_test.go)
		{name: "workflows", method: "GET", path: "/workflows", token: testToken, status: 200, want: `"id":"compute_word_count"`},
		{name: "workflows without token", method: "GET", path: "/workflows", status: 401, code: "unauthorized"},
		{name: "workflows POST", method: "POST", path: "/workflows", token: testToken, status: 405, code: "method_not_allowed", header: [2]string{"Allow", "GET, HEAD"}},
		{name: "executions", method: "GET", path: "/workflows/compute_word_count/executions", token: testToken, status: 200, want: `{"execution_id":"ex-tracked","status":"in_progress"`},
		{name: "executions without token", method: "GET", path: "/workflows/compute_word_count/executions", status: 401, code: "unauthorized"},
		{name: "executions unknown workflow", method: "GET", path: "/workflows/compute_wordcount/executions", token: testToken, status: 404, code: "unknown_workflow"},
		{name: "executions bad limit", method: "GET", path: "/workflows/compute_word_count/executions?limit=100", token: testToken, status: 400, code: "invalid_limit", field: "limit"},
		{name: "executions bad cursor", method: "GET", path: "/workflows/compute_word_count/executions?cursor=x", token: testToken, status: 400, code: "invalid_cursor", field: "cursor"},
		{name: "executions DELETE", method: "DELETE", path: "/workflows/compute_word_count/executions", token: testToken, status: 405, code: "method_not_allowed", header: [2]string{"Allow", "GET, HEAD"}},
		{name: "execution", method: "GET", path: "/workflows/compute_word_count/executions/ex-tracked", token: testToken, status: 200, want: `"status": "in_progress"`},
		{name: "execution without token", method: "GET", path: "/workflows/compute_word_count/executions/ex-tracked", status: 401, code: "unauthorized"},
		{name: "execution invalid id", method: "GET", path: "/workflows/compute_word_count/executions/a*b", token: testToken, status: 400, code: "invalid_execution_id"},
		{name: "page asset POST", method: "POST", path: "/assets/app.js", status: 405, code: "method_not_allowed", header: [2]string{"Allow", "GET, HEAD"}},
		{name: "no page asset", method: "GET", path: "/assets/nope.js", status: 404, code: "not_found"},

		// elsewhere
		{name: "no route", method: "GET", path: "/nope", token: testToken, status: 404, code: "not_found"},
		{name: "no route without token", method: "GET", path: "/nope", status: 401, code: "unauthorized"},
		{name: "publish GET without token", method: "GET", path: "/publish", status: 401, code: "unauthorized"},
		{name: "no execution", method: "GET", path: "/track/workflows/compute_word_count", token: testToken, status: 404, code: "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // hides the length from the client
				}
			}
			a := do(t, client, tc.method, ts.URL+tc.path, tc.token, body, tc.headers...)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", a.Status, tc.status, a.Body)
			}
			if a.Error.Code != tc.code || a.Error.Field != tc.field {
				t.Errorf("error code %q field %q, want %q %q: %.300s", a.Error.Code, a.Error.Field, tc.code, tc.field, a.Body)
			}
			if tc.header[0] != "" && a.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], a.Header.Get(tc.header[0]), tc.header[1])
			}
			if !strings.Contains(string(a.Body), tc.want) {
				t.Errorf("answer lacks %q: %.500s", tc.want, a.Body)
			}
			if tc.lands != "" {
				var res publish.Result
				if err := json.Unmarshal(a.Body, &res); err != nil {
					t.Fatal(err)
				}
				if res.Stream != m.scheme.Stream("FileUploaded") || res.ShardID == "" || res.SequenceNumber == "" || res.ExecutionID != tc.lands {
					t.Errorf("result %+v", res)
				}
			}
		})
	}

	// Exactly the accepted events landed, as sent, under their sequence
	// numbers: ex-tracked, ex-1, ex-2 and ex-3.
	var got []string
	for _, r := range kinesistest.Read(t, m.kinesis, m.scheme.Stream("FileUploaded")) {
		got = append(got, aws.ToString(r.PartitionKey)+" "+string(r.Data))
	}
	want := []string{
		`ex-tracked {"execution_id": "ex-tracked", "file": "a.txt"}`,
		`ex-1 {"execution_id": "ex-1", "message": "Test with ccc"}`,
		`ex-2 {"execution_id": "ex-2"}`,
		`ex-3 {"execution_id": "ex-3"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records on the stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(kinesistest.Read(t, m.kinesis, m.scheme.Stream("FileDownloaded"))); n != 0 {
		t.Errorf("FileDownloaded holds %d records, want 0", n)
	}
}

// TestTrackReport checks that GET /track answers exactly the report of
// `xflow track --json` for the same execution.
func TestTrackReport(t *testing.T) {
	m := newOnMoto(t, "srvtrack")
	srv := New(Options{Config: m.c, Backend: m.backend, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, ev := range []string{"FileUploaded", "FileDownloaded"} {
		a := do(t, ts.Client(), "POST", ts.URL+"/publish", "", strings.NewReader(`{"stream": "`+ev+`", "event": {"execution_id": "ex-r"}}`))
		if a.Status != 200 {
			t.Fatalf("publish %s: %d %s", ev, a.Status, a.Body)
		}
		m.runTracker(t, ev)
	}
	a := do(t, ts.Client(), "GET", ts.URL+"/track/workflows/compute_word_count/executions/ex-r", "", nil)
	if a.Status != 200 {
		t.Fatalf("track: %d %s", a.Status, a.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(a.Body, &got); err != nil {
		t.Fatal(err)
	}
	// What xflow track --json does: the report, then the tracker check.
	rep, err := m.backend.Track(context.Background(), "compute_word_count", "ex-r")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.backend.CheckTracker(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(buf.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	// The reports were made at different times.
	for _, r := range []map[string]any{got, want} {
		delete(r, "checked_at")
		for _, p := range r["producers"].([]any) {
			delete(p.(map[string]any), "until")
		}
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("GET /track:\n%s\nxflow track --json:\n%s", g, w)
	}
	if got["status"] != "in_progress" || got["next_expected_event"] != "FileParsed" || len(got["events_received"].([]any)) != 2 {
		t.Errorf("report: status %v, next %v, %d received", got["status"], got["next_expected_event"], len(got["events_received"].([]any)))
	}
}

// TestCheckStreams names the missing streams of a partly deployed
// workflow, and passes once they exist.
func TestCheckStreams(t *testing.T) {
	m := newOnMoto(t, "srvcheck")
	err := m.backend.CheckStreams(context.Background())
	mse, ok := err.(*MissingStreamsError)
	if !ok {
		t.Fatalf("err = %v, want *MissingStreamsError", err)
	}
	if len(mse.Missing) != 1 || mse.Missing[0].Event != "FileParsed" || mse.Total != 3 {
		t.Errorf("missing %+v of %d", mse.Missing, mse.Total)
	}
	for _, want := range []string{
		"1 of the 3 streams of xflow.yaml do not exist in us-east-1:\n  " + m.scheme.Stream("FileParsed") + " (event FileParsed)\n",
		"xflow deploy -c xflow.yaml", "--deploy",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	kinesistest.CreateStreams(t, m.kinesis, m.scheme.Stream("FileParsed"))
	if err := m.backend.CheckStreams(context.Background()); err != nil {
		t.Errorf("every stream exists: %v", err)
	}
}

// TestAWSUnreachable points the backend at a port nobody listens on:
// 502, never a 500, and the startup check fails without naming streams
// as missing.
func TestAWSUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	cfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  aws.AnonymousCredentials{},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
	c := testConfig("srvdead-")
	backend := NewAWS(cfg, c)
	log, logs := testLogger()
	ts := httptest.NewServer(New(Options{Config: c, Backend: backend, Logger: log}).Handler())
	defer ts.Close()

	a := do(t, ts.Client(), "POST", ts.URL+"/publish", "", strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-1"}}`))
	if a.Status != 502 || a.Error.Code != "aws_unreachable" {
		t.Errorf("publish: %d %s", a.Status, a.Body)
	}
	a = do(t, ts.Client(), "GET", ts.URL+"/track/workflows/compute_word_count/executions/ex-1", "", nil)
	if a.Status != 502 || a.Error.Code != "aws_unreachable" {
		t.Errorf("track: %d %s", a.Status, a.Body)
	}
	a = do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions", "", nil)
	if a.Status != 502 || a.Error.Code != "aws_unreachable" {
		t.Errorf("executions: %d %s", a.Status, a.Body)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the log lacks the cause:\n%s", logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := backend.CheckStreams(ctx)
	if _, missing := err.(*MissingStreamsError); err == nil || missing {
		t.Errorf("CheckStreams = %v, want an error that is not about missing streams", err)
	}
}
