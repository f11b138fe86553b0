package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// TestRedriveRoute: POST .../redrive hands the backend the execution and
// the dry run, and answers its report; bad input is a 4xx that says what
// is wrong, never a 500; the token and the same-origin rule apply as for
// publish.
func TestRedriveRoute(t *testing.T) {
	type call struct {
		wf, ex string
		dry    bool
	}
	var calls []call
	backend := &fakeBackend{redrive: func(_ context.Context, wf, ex string, dry bool) (*redrive.ExecutionReport, error) {
		calls = append(calls, call{wf, ex, dry})
		return &redrive.ExecutionReport{WorkflowID: wf, ExecutionID: ex, DryRun: dry, Batches: 1, Redriven: 1, Reports: []*redrive.Report{},
			Message: "Execution " + ex + ": 1 batch redriven."}, nil
	}}
	ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer ts.Close()
	url := ts.URL + "/workflows/compute_word_count/executions/ex1/redrive"

	cases := []struct {
		name, method, target, token, body string
		headers                           []string
		status                            int
		code, field                       string
		wantCall                          *call
	}{
		{name: "no body", body: "", status: 200, wantCall: &call{"compute_word_count", "ex1", false}},
		{name: "empty object", body: "{}", status: 200, wantCall: &call{"compute_word_count", "ex1", false}},
		{name: "dry run", body: `{"dry_run": true}`, status: 200, wantCall: &call{"compute_word_count", "ex1", true}},
		{name: "not JSON", body: `{"dry_run": tru`, status: 400, code: codeInvalidJSON},
		{name: "not an object", body: `[true]`, status: 400, code: codeInvalidJSON},
		{name: "a typo", body: `{"dryrun": true}`, status: 400, code: codeUnknownField, field: "dryrun"},
		{name: "not a boolean", body: `{"dry_run": "yes"}`, status: 400, code: codeInvalidField, field: "dry_run"},
		{name: "twice", body: `{"dry_run": true, "dry_run": false}`, status: 400, code: codeInvalidField, field: "dry_run"},
		{name: "too large", body: `{"dry_run": true, "x": "` + strings.Repeat("x", 8<<10) + `"}`, status: 413, code: codeTooLarge},
		{name: "unknown workflow", target: ts.URL + "/workflows/nope/executions/ex1/redrive", status: 404, code: codeUnknownWorkflow},
		{name: "bad execution id", target: ts.URL + "/workflows/compute_word_count/executions/a*b/redrive", status: 400, code: codeInvalidExecutionID},
		{name: "no token", token: "-", status: 401, code: codeUnauthorized},
		{name: "cross-origin", headers: []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, status: 403, code: codeCrossOrigin},
		{name: "GET", method: http.MethodGet, status: 405, code: codeMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls = nil
			method, target, token := c.method, c.target, c.token
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = url
			}
			switch token {
			case "":
				token = testToken
			case "-":
				token = ""
			}
			a := do(t, http.DefaultClient, method, target, token, strings.NewReader(c.body), c.headers...)
			if a.Status != c.status || a.Error.Code != c.code || a.Error.Field != c.field {
				t.Fatalf("status %d, code %q, field %q; want %d %q %q\n%s", a.Status, a.Error.Code, a.Error.Field, c.status, c.code, c.field, a.Body)
			}
			if c.wantCall == nil {
				if len(calls) > 0 {
					t.Errorf("the backend was called: %v", calls)
				}
				return
			}
			if len(calls) != 1 || calls[0] != *c.wantCall {
				t.Errorf("backend calls %v, want %v", calls, *c.wantCall)
			}
			var rep redrive.ExecutionReport
			if err := json.Unmarshal(a.Body, &rep); err != nil || rep.Redriven != 1 || rep.ExecutionID != "ex1" || rep.Message == "" {
				t.Errorf("answer %s (%v)", a.Body, err)
			}
		})
	}
}

// TestTrackChecksTracker: the report of one execution goes through the
// backend's tracker check, and its verdict is in the JSON; the list of
// executions does not check trackers (one per execution would be costly).
func TestTrackChecksTracker(t *testing.T) {
	checked := 0
	backend := &fakeBackend{
		track: func(_ context.Context, wf, ex string) (*track.Report, error) {
			return &track.Report{WorkflowID: wf, ExecutionID: ex, Status: track.StatusNotFound, LogGroupFound: true}, nil
		},
		checkTracker: func(_ context.Context, rep *track.Report) error {
			checked++
			rep.Status = track.StatusTrackerFailing
			rep.Tracker = &track.TrackerHealth{Function: "p-tracker_compute_word_count", Failing: true, Reason: "error running docker"}
			return nil
		},
		executions: func(context.Context, string, int, string) (ExecutionsPage, error) {
			return ExecutionsPage{Executions: []ExecutionRef{{ID: "ex1"}}}, nil
		},
	}
	ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer ts.Close()
	for _, path := range []string{"/track/workflows/compute_word_count/executions/ex1", "/workflows/compute_word_count/executions/ex1"} {
		a := do(t, http.DefaultClient, http.MethodGet, ts.URL+path, "", nil)
		var rep struct {
			Status  string `json:"status"`
			Tracker struct {
				Reason string `json:"reason"`
			} `json:"tracker"`
		}
		if err := json.Unmarshal(a.Body, &rep); err != nil || rep.Status != "tracker_failing" || rep.Tracker.Reason != "error running docker" {
			t.Errorf("GET %s: %s", path, a.Body)
		}
	}
	if checked != 2 {
		t.Errorf("the tracker was checked %d times, want 2", checked)
	}
	do(t, http.DefaultClient, http.MethodGet, ts.URL+"/workflows/compute_word_count/executions", "", nil)
	if checked != 2 {
		t.Errorf("listing the executions checked the tracker")
	}
}

// TestExecutionsStatusFilter: ?status=failed keeps the failed executions,
// reading on through pages of executions up to the limit, and a cursor
// reads on from where it stopped; a bad status is a 400 naming it.
func TestExecutionsStatusFilter(t *testing.T) {
	// Twelve executions, every third failed, served two at a time.
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("ex%02d", i))
	}
	backend := &fakeBackend{
		executions: func(_ context.Context, _ string, limit int, token string) (ExecutionsPage, error) {
			from := 0
			fmt.Sscan(token, &from)
			to := min(from+min(limit, 2), len(ids))
			page := ExecutionsPage{}
			for _, id := range ids[from:to] {
				page.Executions = append(page.Executions, ExecutionRef{ID: id})
			}
			if to < len(ids) {
				page.Next = fmt.Sprint(to)
			}
			return page, nil
		},
		track: func(_ context.Context, wf, ex string) (*track.Report, error) {
			st := track.StatusInProgress
			var n int
			fmt.Sscanf(ex, "ex%d", &n)
			if n%3 == 0 {
				st = track.StatusFailed
			}
			return &track.Report{WorkflowID: wf, ExecutionID: ex, Status: st, Events: []track.Event{}, Producers: []track.Producer{}}, nil
		},
	}
	ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer ts.Close()
	get := func(query string) (Executions, answer) {
		a := do(t, http.DefaultClient, http.MethodGet, ts.URL+"/workflows/compute_word_count/executions?"+query, "", nil)
		var e Executions
		if a.Status == 200 {
			if err := json.Unmarshal(a.Body, &e); err != nil {
				t.Fatal(err)
			}
		}
		return e, a
	}
	var got []string
	e, _ := get("status=failed&limit=3")
	for _, x := range e.Executions {
		got = append(got, x.ExecutionID)
	}
	if strings.Join(got, ",") != "ex00,ex03,ex06" || e.NextCursor == nil {
		t.Fatalf("first page of failed: %v, cursor %v", got, e.NextCursor)
	}
	e, _ = get("status=failed&limit=3&cursor=" + *e.NextCursor)
	got = nil
	for _, x := range e.Executions {
		got = append(got, x.ExecutionID)
	}
	if strings.Join(got, ",") != "ex09" || e.NextCursor != nil {
		t.Errorf("second page of failed: %v, cursor %v; want ex09 and the end", got, e.NextCursor)
	}
	if e, _ := get("limit=5"); len(e.Executions) != 2 {
		t.Errorf("without status, a page is one page of the backend: %d executions", len(e.Executions))
	}
	if _, a := get("status=broken"); a.Status != 400 || a.Error.Code != codeInvalidStatus || a.Error.Field != "status" || !strings.Contains(a.Error.Message, `"broken"`) {
		t.Errorf("a bad status: %d %+v", a.Status, a.Error)
	}
}
