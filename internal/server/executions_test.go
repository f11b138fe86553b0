package server

// The routes of the tracking page, GET /workflows and
// GET /workflows/{id}/executions[/{ex}], on both backends: the local
// runtime's log store and CloudWatch Logs on moto, filled with the same
// executions through the same CloudWatch Logs calls.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
	"github.com/xflowhq/xflow/internal/tracker"
)

// logsWriter writes log events as the tracker and the functions do;
// *cloudwatchlogs.Client and *local.Logs satisfy it.
type logsWriter interface {
	CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error)
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// pageConfig is the test config with a second workflow that never ran.
func pageConfig(prefix string) *config.Config {
	c := testConfig(prefix)
	c.Workflows[0].Description = "counts words"
	c.Workflows = append(c.Workflows, config.Workflow{ID: "just_upload", Flow: []string{"FileUploaded"}})
	return c
}

// tracked is one execution of the scenario: its events, one second apart
// from its start, and whether its producer logged a traceback.
type tracked struct {
	id     string
	start  int // seconds after the scenario's start
	events int // of the flow FileUploaded, FileDownloaded, FileParsed
	fails  bool
}

// scenario is five executions; newest first by last event they are e, d,
// c, b, a.
var scenario = []tracked{
	{id: "ex-a", start: 0, events: 3},              // finished, last event at 2 s
	{id: "ex-b", start: 3, events: 1},              // in progress, at 3 s
	{id: "ex-c", start: 4, events: 2, fails: true}, // stuck at FileParsed, at 5 s
	{id: "ex-d", start: 6, events: 1},              // in progress, at 6 s
	{id: "ex-e", start: 7, events: 3},              // finished, at 9 s
}

var newestFirst = []string{"ex-e", "ex-d", "ex-c", "ex-b", "ex-a"}

// writeScenario writes the scenario's tracker entries and lambda_parser's
// traceback for ex-c, as the tracker and Lambda would, an hour ago.
func writeScenario(t *testing.T, w logsWriter, c *config.Config) time.Time {
	t.Helper()
	ctx := context.Background()
	scheme := names.New(c.General.NamePrefix)
	flow := c.Workflows[0].Flow
	group := scheme.TrackerLogGroup(c.Workflows[0].ID)
	parser := names.FunctionLogGroup(scheme.Function("lambda_parser"))
	for _, g := range []string{group, parser} {
		if _, err := w.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(g)}); err != nil {
			t.Fatalf("create %s: %v", g, err)
		}
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	put := func(group, stream string, at time.Time, msg string) {
		t.Helper()
		if _, err := w.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String(stream),
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(at.UnixMilli()), Message: aws.String(msg)}},
		}); err != nil {
			t.Fatalf("put a log event in %s/%s: %v", group, stream, err)
		}
	}
	seq := 0
	for _, ex := range scenario {
		if _, err := w.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(ex.id)}); err != nil {
			t.Fatal(err)
		}
		for i := range ex.events {
			seq++
			event, _ := json.Marshal(map[string]any{"execution_id": ex.id, "step": i})
			entry, _ := json.Marshal(tracker.Entry{EventName: flow[i], SequenceNumber: fmt.Sprintf("%020d", seq), ShardID: "shardId-000000000000", Event: event})
			put(group, ex.id, start.Add(time.Duration(ex.start+i)*time.Second), string(entry))
		}
		if ex.fails {
			stream := "2026/01/01/[$LATEST]" + ex.id
			if _, err := w.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(parser), LogStreamName: aws.String(stream)}); err != nil {
				t.Fatal(err)
			}
			put(parser, stream, start.Add(time.Duration(ex.start+ex.events)*time.Second),
				"[ERROR] ValueError: execution_id="+ex.id+" cannot be parsed\rTraceback (most recent call last):\r  File \"lambda_parser.py\", line 9, in parse")
		}
	}
	return start
}

// pageServer serves the scenario with a backend, with a token.
func pageServer(t *testing.T, c *config.Config, backend Backend) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(New(Options{Config: c, Backend: backend, Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestExecutionsLocal runs the routes on the local backend, the state
// folder written through the local log store.
func TestExecutionsLocal(t *testing.T) {
	c := pageConfig("")
	state := t.TempDir()
	logs, err := local.OpenLogs(state)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	start := writeScenario(t, logs, c)
	backend, err := OpenLocal(c, state)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	ts := pageServer(t, c, backend)
	checkPageRoutes(t, ts, c, start, []int{1, 2, 3, 4, 5, 6, 50})

	// A cursor whose page token the log store refuses is a 400 too.
	bogus := base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"w":"compute_word_count","t":"not-a-token"}`))
	a := do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions?cursor="+bogus, testToken, nil)
	if a.Status != 400 || a.Error.Code != "invalid_cursor" || a.Error.Field != "cursor" {
		t.Errorf("a cursor with a bogus token: %d %s", a.Status, a.Body)
	}
}

// TestExecutionsOnMoto runs the routes on the AWS backend, the log groups
// made on moto with the SDK under a unique prefix.
func TestExecutionsOnMoto(t *testing.T) {
	cfg := awstest.Config(t) // skips without AWS_ENDPOINT_URL
	c := pageConfig(awstest.Unique("srvexec") + "-")
	logs := cloudwatchlogs.NewFromConfig(cfg)
	scheme := names.New(c.General.NamePrefix)
	t.Cleanup(func() {
		for _, g := range []string{scheme.TrackerLogGroup("compute_word_count"), names.FunctionLogGroup(scheme.Function("lambda_parser"))} {
			_, _ = logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(g)})
		}
	})
	start := writeScenario(t, logs, c)
	// Fewer page sizes than locally: CloudWatch Logs' reads are paced at
	// 5 a second, on moto too.
	checkPageRoutes(t, pageServer(t, c, NewAWS(cfg, c)), c, start, []int{2, 5, 50})
}

// executionsPage is the answer of GET /workflows/{id}/executions.
type executionsPage struct {
	WorkflowID string             `json:"workflow_id"`
	Executions []ExecutionSummary `json:"executions"`
	NextCursor *string            `json:"next_cursor"`
}

func getPage(t *testing.T, ts *httptest.Server, path string) executionsPage {
	t.Helper()
	a := do(t, ts.Client(), "GET", ts.URL+path, testToken, nil)
	if a.Status != 200 {
		t.Fatalf("GET %s: %d %s", path, a.Status, a.Body)
	}
	var p executionsPage
	if err := json.Unmarshal(a.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func ids(p executionsPage) []string {
	out := []string{}
	for _, e := range p.Executions {
		out = append(out, e.ExecutionID)
	}
	return out
}

// checkPageRoutes is what both backends must answer for the scenario,
// paged by each of limits.
func checkPageRoutes(t *testing.T, ts *httptest.Server, c *config.Config, start time.Time, limits []int) {
	scheme := names.New(c.General.NamePrefix)
	at := func(s int) *track.Time { return &track.Time{Time: start.Add(time.Duration(s) * time.Second).UTC()} }
	str := func(s string) *string { return &s }

	t.Run("workflows", func(t *testing.T) {
		a := do(t, ts.Client(), "GET", ts.URL+"/workflows", testToken, nil)
		if a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		var got Workflows
		if err := json.Unmarshal(a.Body, &got); err != nil {
			t.Fatal(err)
		}
		want := Workflows{Workflows: []Workflow{
			{ID: "compute_word_count", Description: "counts words", LogGroup: scheme.TrackerLogGroup("compute_word_count"), Flow: []FlowEvent{
				{Event: "FileUploaded", Stream: scheme.Stream("FileUploaded"), Subscribers: []string{"lambda_reader"}, Producers: []string{}},
				{Event: "FileDownloaded", Stream: scheme.Stream("FileDownloaded"), Subscribers: []string{"lambda_parser"}, Producers: []string{"lambda_reader"}},
				{Event: "FileParsed", Stream: scheme.Stream("FileParsed"), Subscribers: []string{}, Producers: []string{"lambda_parser"}},
			}},
			{ID: "just_upload", LogGroup: scheme.TrackerLogGroup("just_upload"), Flow: []FlowEvent{
				{Event: "FileUploaded", Stream: scheme.Stream("FileUploaded"), Subscribers: []string{"lambda_reader"}, Producers: []string{}},
			}},
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET /workflows (-want +got):\n%s", diff)
		}
	})

	t.Run("all executions", func(t *testing.T) {
		got := getPage(t, ts, "/workflows/compute_word_count/executions")
		want := executionsPage{WorkflowID: "compute_word_count", Executions: []ExecutionSummary{
			{ExecutionID: "ex-e", Status: track.StatusFinished, StartedAt: at(7), LastEventAt: at(9), LastEvent: str("FileParsed"),
				FurthestEvent: str("FileParsed"), EventsReceived: 3, EventsTotal: 3, FailingFunctions: []string{}},
			{ExecutionID: "ex-d", Status: track.StatusInProgress, StartedAt: at(6), LastEventAt: at(6), LastEvent: str("FileUploaded"),
				FurthestEvent: str("FileUploaded"), NextExpectedEvent: str("FileDownloaded"), EventsReceived: 1, EventsTotal: 3, FailingFunctions: []string{}},
			{ExecutionID: "ex-c", Status: track.StatusFailed, StartedAt: at(4), LastEventAt: at(5), LastEvent: str("FileDownloaded"),
				FurthestEvent: str("FileDownloaded"), NextExpectedEvent: str("FileParsed"), EventsReceived: 2, EventsTotal: 3, FailingFunctions: []string{"lambda_parser"}},
			{ExecutionID: "ex-b", Status: track.StatusInProgress, StartedAt: at(3), LastEventAt: at(3), LastEvent: str("FileUploaded"),
				FurthestEvent: str("FileUploaded"), NextExpectedEvent: str("FileDownloaded"), EventsReceived: 1, EventsTotal: 3, FailingFunctions: []string{}},
			{ExecutionID: "ex-a", Status: track.StatusFinished, StartedAt: at(0), LastEventAt: at(2), LastEvent: str("FileParsed"),
				FurthestEvent: str("FileParsed"), EventsReceived: 3, EventsTotal: 3, FailingFunctions: []string{}},
		}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET executions (-want +got):\n%s", diff)
		}
		// Again: the finished ones come from the cache, the same.
		if diff := cmp.Diff(want, getPage(t, ts, "/workflows/compute_word_count/executions")); diff != "" {
			t.Errorf("GET executions again (-want +got):\n%s", diff)
		}
	})

	t.Run("paging", func(t *testing.T) {
		for _, limit := range limits {
			var seen []string
			var pages []int
			path := fmt.Sprintf("/workflows/compute_word_count/executions?limit=%d", limit)
			for range 10 {
				p := getPage(t, ts, path)
				if len(p.Executions) > limit {
					t.Errorf("limit %d: a page of %d", limit, len(p.Executions))
				}
				seen = append(seen, ids(p)...)
				pages = append(pages, len(p.Executions))
				if p.NextCursor == nil {
					break
				}
				path = fmt.Sprintf("/workflows/compute_word_count/executions?limit=%d&cursor=%s", limit, url.QueryEscape(*p.NextCursor))
			}
			if !slices.Equal(seen, newestFirst) {
				t.Errorf("limit %d: executions %v, want %v", limit, seen, newestFirst)
			}
			// Every page is full but the last, and the last is not empty:
			// a full last page says it is the last.
			wantPages := []int{}
			for n := len(newestFirst); n > 0; n -= limit {
				wantPages = append(wantPages, min(n, limit))
			}
			if !slices.Equal(pages, wantPages) {
				t.Errorf("limit %d: pages of %v, want %v", limit, pages, wantPages)
			}
		}
	})

	t.Run("a workflow that never ran", func(t *testing.T) {
		p := getPage(t, ts, "/workflows/just_upload/executions")
		if len(p.Executions) != 0 || p.NextCursor != nil || p.WorkflowID != "just_upload" {
			t.Errorf("%+v", p)
		}
	})

	t.Run("one execution", func(t *testing.T) {
		a := do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions/ex-c", testToken, nil)
		if a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
		var rep track.Report
		if err := json.Unmarshal(a.Body, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status != track.StatusFailed || len(rep.Producers) != 1 || !rep.Producers[0].Failed ||
			len(rep.Producers[0].Lines) != 1 || !strings.Contains(rep.Producers[0].Lines[0].Message, "Traceback (most recent call last)") {
			t.Errorf("report of ex-c: %s", a.Body)
		}
		// The same as GET /track/...
		b := do(t, ts.Client(), "GET", ts.URL+"/track/workflows/compute_word_count/executions/ex-c", testToken, nil)
		var other track.Report
		if err := json.Unmarshal(b.Body, &other); err != nil {
			t.Fatal(err)
		}
		rep.CheckedAt, other.CheckedAt = track.Time{}, track.Time{}
		rep.Producers[0].Until, other.Producers[0].Until = track.Time{}, track.Time{}
		if diff := cmp.Diff(other, rep); diff != "" {
			t.Errorf("/workflows/… and /track/… differ (-track +workflows):\n%s", diff)
		}
		a = do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions/ex-never", testToken, nil)
		if a.Status != 200 || !strings.Contains(string(a.Body), `"status": "not_found"`) {
			t.Errorf("an execution nobody saw: %d %s", a.Status, a.Body)
		}
	})

	otherCursor := encodeCursor("just_upload", "x")
	for _, tc := range []struct {
		name, path, token string
		status            int
		code, field, want string
	}{
		{"workflows without token", "/workflows", "", 401, "unauthorized", "", ""},
		{"executions without token", "/workflows/compute_word_count/executions", "", 401, "unauthorized", "", ""},
		{"execution without token", "/workflows/compute_word_count/executions/ex-a", "", 401, "unauthorized", "", ""},
		{"unknown workflow", "/workflows/compute_wordcount/executions", testToken, 404, "unknown_workflow", "", `did you mean \"compute_word_count\"?`},
		{"unknown workflow, one execution", "/workflows/nope/executions/ex-a", testToken, 404, "unknown_workflow", "", ""},
		{"invalid execution id", "/workflows/compute_word_count/executions/a*b", testToken, 400, "invalid_execution_id", "", ""},
		{"limit 0", "/workflows/compute_word_count/executions?limit=0", testToken, 400, "invalid_limit", "limit", "from 1 to 50"},
		{"limit 51", "/workflows/compute_word_count/executions?limit=51", testToken, 400, "invalid_limit", "limit", ""},
		{"limit not a number", "/workflows/compute_word_count/executions?limit=ten", testToken, 400, "invalid_limit", "limit", ""},
		{"limit empty", "/workflows/compute_word_count/executions?limit=", testToken, 400, "invalid_limit", "limit", ""},
		{"limit negative", "/workflows/compute_word_count/executions?limit=-1", testToken, 400, "invalid_limit", "limit", ""},
		{"cursor garbage", "/workflows/compute_word_count/executions?cursor=%25%25%25", testToken, 400, "invalid_cursor", "cursor", "not one this server gave"},
		{"cursor empty", "/workflows/compute_word_count/executions?cursor=", testToken, 400, "invalid_cursor", "cursor", ""},
		{"cursor not JSON", "/workflows/compute_word_count/executions?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("nope")), testToken, 400, "invalid_cursor", "cursor", ""},
		{"cursor of another workflow", "/workflows/compute_word_count/executions?cursor=" + otherCursor, testToken, 400, "invalid_cursor", "cursor", `of workflow \"just_upload\"`},
		{"cursor too long", "/workflows/compute_word_count/executions?cursor=" + strings.Repeat("A", maxCursorBytes+1), testToken, 400, "invalid_cursor", "cursor", ""},
		{"POST executions", "/workflows/compute_word_count/executions", testToken, 405, "method_not_allowed", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if strings.HasPrefix(tc.name, "POST") {
				method = "POST"
			}
			a := do(t, ts.Client(), method, ts.URL+tc.path, tc.token, nil)
			if a.Status != tc.status || a.Error.Code != tc.code || a.Error.Field != tc.field {
				t.Errorf("%d %q %q, want %d %q %q: %s", a.Status, a.Error.Code, a.Error.Field, tc.status, tc.code, tc.field, a.Body)
			}
			if !strings.Contains(string(a.Body), tc.want) {
				t.Errorf("the answer lacks %q: %s", tc.want, a.Body)
			}
		})
	}
}

// fakeStreams answers DescribeLogStreams from a script of pages, as AWS
// may: short pages and empty ones with a token, a token on the last page.
type fakeStreams struct {
	pages map[string]fakeStreamsPage // by token, "" the first
	calls []string                   // "token/limit"
	err   error
}

type fakeStreamsPage struct {
	names []string
	next  string
}

func (f *fakeStreams) DescribeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error) {
	tok := aws.ToString(in.NextToken)
	f.calls = append(f.calls, fmt.Sprintf("%s/%d", tok, aws.ToInt32(in.Limit)))
	if in.OrderBy != types.OrderByLastEventTime || !aws.ToBool(in.Descending) {
		return nil, errors.New("not ordered by last event time, newest first")
	}
	if f.err != nil {
		return nil, f.err
	}
	p, ok := f.pages[tok]
	if !ok {
		return nil, &types.InvalidParameterException{Message: aws.String("The specified nextToken is invalid.")}
	}
	out := &cloudwatchlogs.DescribeLogStreamsOutput{}
	for i, n := range p.names {
		if i == int(aws.ToInt32(in.Limit)) {
			break // the script's pages are at most the limit asked
		}
		out.LogStreams = append(out.LogStreams, types.LogStream{LogStreamName: aws.String(n), LastEventTimestamp: aws.Int64(int64(1000 * (10 - i)))})
	}
	if p.next != "" {
		out.NextToken = aws.String(p.next)
	}
	return out, nil
}

// TestDescribeExecutions: short and empty pages with a token are filled
// from the next ones; a token on the last page is dropped after a look
// ahead; a refused token is ErrInvalidPageToken; a group that does not
// exist has no executions.
func TestDescribeExecutions(t *testing.T) {
	ctx := context.Background()
	f := &fakeStreams{pages: map[string]fakeStreamsPage{
		"":   {names: []string{"a"}, next: "t1"},      // short, with a token
		"t1": {names: []string{}, next: "t2"},         // empty, with a token
		"t2": {names: []string{"b", "c"}, next: "t3"}, // fills the page
		"t3": {names: []string{"d"}, next: "t4"},
		"t4": {names: []string{}, next: "t4"}, // the end: the same token again
	}}
	page, err := describeExecutions(ctx, f, "/xFlow/track/w", 3, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Executions {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) || page.Next != "t3" {
		t.Errorf("first page %v next %q, want [a b c] t3", got, page.Next)
	}
	if want := []string{"/3", "t1/2", "t2/2", "t3/1"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v (the last one looks ahead)", f.calls, want)
	}
	f.calls = nil
	page, err = describeExecutions(ctx, f, "/xFlow/track/w", 3, "t3")
	if err != nil || len(page.Executions) != 1 || page.Executions[0].ID != "d" || page.Next != "" {
		t.Errorf("last page %+v %v, want [d] and no token", page, err)
	}
	if page.Executions[0].LastEventAt.UnixMilli() != 10_000 {
		t.Errorf("last event time %v", page.Executions[0].LastEventAt)
	}

	// A full last page with a token (AWS may give one): the look ahead
	// finds nothing.
	f = &fakeStreams{pages: map[string]fakeStreamsPage{"": {names: []string{"a", "b"}, next: "t1"}, "t1": {}}}
	page, err = describeExecutions(ctx, f, "/xFlow/track/w", 2, "")
	if err != nil || len(page.Executions) != 2 || page.Next != "" {
		t.Errorf("full last page: %+v %v, want no token", page, err)
	}

	if _, err := describeExecutions(ctx, f, "/xFlow/track/w", 2, "forged"); !errors.Is(err, ErrInvalidPageToken) {
		t.Errorf("a refused token: %v, want ErrInvalidPageToken", err)
	}
	f.err = &types.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
	if page, err := describeExecutions(ctx, f, "/xFlow/track/w", 2, ""); err != nil || len(page.Executions) != 0 || page.Next != "" {
		t.Errorf("no log group: %+v %v, want no execution", page, err)
	}
	f.err = &types.ServiceUnavailableException{Message: aws.String("down")}
	if _, err := describeExecutions(ctx, f, "/xFlow/track/w", 2, ""); err == nil || errors.Is(err, ErrInvalidPageToken) {
		t.Errorf("AWS down: %v", err)
	}

	// Pages that never fill stop after a bounded number of calls, with a
	// token to go on.
	endless := &fakeStreams{pages: map[string]fakeStreamsPage{"": {next: "t"}, "t": {next: "t2"}}}
	for i := 2; i < 20; i++ {
		endless.pages[fmt.Sprintf("t%d", i)] = fakeStreamsPage{next: fmt.Sprintf("t%d", i+1)}
	}
	page, err = describeExecutions(ctx, endless, "/xFlow/track/w", 5, "")
	if err != nil || len(endless.calls) != maxDescribeCalls || page.Next == "" {
		t.Errorf("endless empty pages: %d calls, next %q, err %v", len(endless.calls), page.Next, err)
	}
}

// TestExecutionsCache: a finished execution's summary is reused while its
// log stream does not change; an unfinished one is tracked each time.
func TestExecutionsCache(t *testing.T) {
	var last atomic.Int64 // the log streams' last event, in ms
	last.Store(time.Now().Add(-time.Minute).UnixMilli())
	var tracks atomic.Int64
	backend := &fakeBackend{
		executions: func(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error) {
			at := time.UnixMilli(last.Load())
			return ExecutionsPage{Executions: []ExecutionRef{{ID: "done", LastEventAt: at}, {ID: "going", LastEventAt: at}}}, nil
		},
		track: func(ctx context.Context, workflowID, executionID string) (*track.Report, error) {
			tracks.Add(1)
			rep := &track.Report{ExecutionID: executionID, Status: track.StatusInProgress}
			if executionID == "done" {
				rep.Status = track.StatusFinished
			}
			return rep, nil
		},
		publish: func(ctx context.Context, rec *publish.Record) (publish.Result, error) { return published(rec), nil },
	}
	ts := httptest.NewServer(New(Options{Config: testConfig(""), Backend: backend, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer ts.Close()
	for range 3 {
		a := do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions", "", nil)
		if a.Status != 200 || !strings.Contains(string(a.Body), `"status":"finished"`) {
			t.Fatalf("%d %s", a.Status, a.Body)
		}
	}
	if n := tracks.Load(); n != 4 { // done once, going three times
		t.Errorf("%d track reports for 3 listings, want 4", n)
	}
	last.Add(1000) // the finished execution's stream moved on
	do(t, ts.Client(), "GET", ts.URL+"/workflows/compute_word_count/executions", "", nil)
	if n := tracks.Load(); n != 6 {
		t.Errorf("%d track reports after the stream changed, want 6", n)
	}
}
