package track

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
)

func TestHasToken(t *testing.T) {
	for _, tc := range []struct {
		s, tok string
		want   bool
	}{
		{"execution ex1 failed", "ex1", true},
		{"ex1", "ex1", true},
		{`{"execution_id": "ex1"}`, "ex1", true},
		{"id=ex1,", "ex1", true},
		{"[ex1]", "ex1", true},
		{"ex10 failed", "ex1", false},
		{"aex1", "ex1", false},
		{"ex1-b", "ex1", false},
		{"run_ex1", "ex1", false},
		{"ex10 then ex1.", "ex1", true}, // the second occurrence counts
		{"éex1", "ex1", false},          // a letter outside ASCII
		{"ex1é", "ex1", false},
		{"exé ok", "exé", true},
		{"anything", "", false},
	} {
		if got := hasToken(tc.s, tc.tok); got != tc.want {
			t.Errorf("hasToken(%q, %q) = %v, want %v", tc.s, tc.tok, got, tc.want)
		}
	}
}

func TestIsFailure(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"[ERROR]\t2026-05-01T10:00:03.000Z\treq\tfailed ex1", true},
		{"Traceback (most recent call last):\n  File \"/var/task/f.py\"", true},
		{"2026-05-01T10:00:03.000Z 8f5f8a3c-7c38-4b4e-9a4b-1d2e3f405060 Task timed out after 3.00 seconds", true},
		{`{"errorMessage": "boom ex1", "errorType": "ValueError"}`, true},
		{"2026-05-01T10:00:03.000Z\treq\tERROR\tInvoke Error ex1", true},
		{"REPORT RequestId: r Duration: 3000 ms Status: timeout", true},
		{`{"time":"...","level":"ERROR","msg":"ex1 failed"}`, true},
		{"panic: runtime error: index out of range", true},
		{"[INFO]\t2026-05-01T10:00:02.000Z\treq\tfiltering ex1", false},
		{"processed ex1 without errors", false},
	} {
		if got := isFailure(tc.msg); got != tc.want {
			t.Errorf("isFailure(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}

func TestFilterPattern(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"ex1", `?"ex1" ?"Task timed out"`},
		{`a"bcd"e`, `?"bcd" ?"Task timed out"`},
		{`"`, ``},
	} {
		if got := filterPattern(tc.id); got != tc.want {
			t.Errorf("filterPattern(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// TestSelectLines keeps the lines that name the execution as a word, and
// the timeout lines of the same invocations; another execution whose id
// starts the same way stays out.
func TestSelectLines(t *testing.T) {
	const (
		r1 = "11111111-1111-4111-8111-111111111111"
		r2 = "22222222-2222-4222-8222-222222222222"
		ex = "ex1"
	)
	in := []Line{
		{Message: "[INFO]\tT\t" + r1 + "\tfiltering ex1"},
		{Message: "[INFO]\tT\t" + r2 + "\tfiltering ex10"},
		{Message: "T " + r2 + " Task timed out after 3.00 seconds"},
		{Message: "T " + r1 + " Task timed out after 3.00 seconds"},
		{Message: "[ERROR] ValueError: ex1 has no words\nTraceback (most recent call last):"},
	}
	want := []Line{
		{Message: in[0].Message},
		{Message: in[3].Message, Failure: true},
		{Message: in[4].Message, Failure: true},
	}
	if diff := cmp.Diff(want, selectLines(in, ex)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	// An execution id that is a UUID is not mistaken for a request id.
	uuidEx := "33333333-3333-4333-8333-333333333333"
	in = []Line{
		{Message: "[INFO]\tT\t" + r1 + "\tstart " + uuidEx},
		{Message: "T " + r2 + " Task timed out after 3.00 seconds"},
	}
	if got := selectLines(in, uuidEx); len(got) != 1 {
		t.Errorf("UUID execution id: kept %d lines, want 1: %+v", len(got), got)
	}
}

// flowState is the part of a report that TestTrackStates compares.
type flowState struct {
	Status     Status
	States     []string // "event state records duplicates"
	Unexpected []string
	Furthest   string
	Next       string
	Producers  []string // "function log-group failed lines"
	Last       string
	Subs       []string
	Path       string
	Defined    map[string]string
}

func stateOf(r *Report) flowState {
	s := flowState{
		Status: r.Status, Path: r.TrackingSummary.ExecutionPath, Subs: r.TrackingSummary.Subscribers,
		Defined: r.EventsDefined,
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	s.Furthest, s.Next, s.Last = str(r.FurthestEvent), str(r.NextExpectedEvent), str(r.TrackingSummary.LastReceivedEvent)
	for _, e := range r.Events {
		s.States = append(s.States, strings.Join([]string{e.Name, string(e.State), itoa(e.Records), itoa(e.DuplicatesDropped)}, " "))
	}
	for _, e := range r.UnexpectedEvents {
		s.Unexpected = append(s.Unexpected, strings.Join([]string{e.Name, itoa(e.Records), itoa(e.DuplicatesDropped)}, " "))
	}
	for _, p := range r.Producers {
		failed := "ok"
		if p.Failed {
			failed = "FAILED"
		}
		s.Producers = append(s.Producers, strings.Join([]string{p.Function, p.LogGroup, failed, itoa(len(p.Lines))}, " "))
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestTrackStates runs Track on the fake for the shapes an execution can
// take.
func TestTrackStates(t *testing.T) {
	const group = "/xFlow/track/p-compute_word_count"
	const filterGroup = "/aws/lambda/p-lambda_filter"
	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	states := func(n int, extra map[int]string) []string {
		var out []string
		for i, e := range flow {
			s := e + " not_received 0 0"
			if i < n {
				s = e + " received 1 0"
			}
			if x, ok := extra[i]; ok {
				s = e + " " + x
			}
			out = append(out, s)
		}
		return out
	}
	defined := func(n int) map[string]string {
		m := map[string]string{}
		for i, e := range flow {
			m[e] = "uknown_state"
			if i < n {
				m[e] = "received"
			}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		setup func(f *fakeLogs)
		want  flowState
		// probe: the tracking log group is checked (it does not exist).
		probe bool
	}{
		{
			name:  "log group missing",
			probe: true,
			setup: func(f *fakeLogs) {},
			want: flowState{Status: StatusNotFound, States: states(0, nil), Furthest: "<nil>", Next: "<nil>", Last: "<nil>",
				Subs: []string{}, Path: "X - - -> " + strings.Join(flow, " - - - > "), Defined: defined(0)},
		},
		{
			name: "finished, with a retried record",
			setup: func(f *fakeLogs) {
				for i, e := range flow {
					f.entry(group, "ex1", at(i), e, "seq"+itoa(i))
				}
				f.entry(group, "ex1", at(9), "FileParsed", "seq2") // Lambda retried the batch
			},
			want: flowState{Status: StatusFinished, States: states(6, map[int]string{2: "received 1 1"}),
				Furthest: "FileSummarized", Next: "<nil>", Last: "FileSummarized", Subs: []string{},
				Path: strings.Join(flow, " ---> "), Defined: defined(6)},
		},
		{
			name: "failed at lambda_filter",
			setup: func(f *fakeLogs) {
				for i, e := range flow[:3] {
					f.entry(group, "ex1", at(i), e, "seq"+itoa(i))
				}
				f.put(filterGroup, "s1", at(3), "[INFO] filtering ex1")
				f.put(filterGroup, "s1", at(4), "[ERROR] ValueError: ex1\nTraceback (most recent call last):")
				f.put(filterGroup, "s1", at(4), "[ERROR] ValueError: ex10\nTraceback (most recent call last):")
				f.put(filterGroup, "s1", at(-120), "[ERROR] before the window: ex1")
			},
			want: flowState{Status: StatusFailed, States: states(3, nil), Furthest: "FileParsed", Next: "FileFiltered",
				Producers: []string{"p-lambda_filter " + filterGroup + " FAILED 2"},
				Last:      "FileParsed", Subs: []string{"lambda_filter"},
				Path:    "FileUploaded ---> FileDownloaded ---> FileParsed ---> X - - -> FileFiltered - - - > FileAggregated - - - > FileSummarized",
				Defined: defined(3)},
		},
		{
			name: "in progress, producer never logged",
			setup: func(f *fakeLogs) {
				f.entry(group, "ex1", at(0), "FileUploaded", "s0")
			},
			want: flowState{Status: StatusInProgress, States: states(1, nil), Furthest: "FileUploaded", Next: "FileDownloaded",
				Producers: []string{"p-lambda_reader /aws/lambda/p-lambda_reader ok 0"},
				Last:      "FileUploaded", Subs: []string{"lambda_reader"},
				Path:    "FileUploaded ---> X - - -> FileDownloaded - - - > FileParsed - - - > FileFiltered - - - > FileAggregated - - - > FileSummarized",
				Defined: defined(1)},
		},
		{
			name: "unexpected event last, published twice",
			setup: func(f *fakeLogs) {
				f.entry(group, "ex1", at(0), "FileUploaded", "s0")
				f.entry(group, "ex1", at(1), "FileArchived", "a1")
				f.entry(group, "ex1", at(2), "FileArchived", "a2")
				f.entry(group, "ex1", at(3), "FileArchived", "a2")
				f.put(group, "ex1", at(4), "not json")
			},
			want: flowState{Status: StatusInProgress, States: states(1, nil), Unexpected: []string{"FileArchived 2 1"},
				Furthest: "FileUploaded", Next: "FileDownloaded",
				Producers: []string{"p-lambda_reader /aws/lambda/p-lambda_reader ok 0"},
				Last:      "FileArchived", Subs: []string{},
				Path: "FileUploaded ---> X - - -> FileDownloaded - - - > FileParsed - - - > FileFiltered - - - > FileAggregated - - - > FileSummarized",
				Defined: func() map[string]string {
					m := defined(1)
					m["FileArchived"] = "received_but_unexpected"
					return m
				}()},
		},
		{
			name: "last event received, one before it missing",
			setup: func(f *fakeLogs) {
				for i, e := range flow {
					if e != "FileFiltered" {
						f.entry(group, "ex1", at(i), e, "s"+itoa(i))
					}
				}
			},
			want: flowState{Status: StatusInProgress, States: states(6, map[int]string{3: "not_received 0 0"}),
				Furthest: "FileSummarized", Next: "FileFiltered",
				Producers: []string{"p-lambda_filter " + filterGroup + " ok 0"},
				Last:      "FileSummarized", Subs: []string{},
				Path: "FileUploaded ---> FileDownloaded ---> FileParsed ---> FileAggregated ---> FileSummarized ---> X - - -> FileFiltered",
				Defined: func() map[string]string {
					m := defined(6)
					m["FileFiltered"] = "uknown_state"
					return m
				}()},
		},
		{
			name: "only an unexpected event",
			setup: func(f *fakeLogs) {
				f.entry(group, "ex1", at(0), "FileArchived", "a1")
			},
			want: flowState{Status: StatusInProgress, States: states(0, nil), Unexpected: []string{"FileArchived 1 0"},
				Furthest: "<nil>", Next: "FileUploaded", Last: "FileArchived", Subs: []string{},
				Path: "X - - -> " + strings.Join(flow, " - - - > "),
				Defined: func() map[string]string {
					m := defined(0)
					m["FileArchived"] = "received_but_unexpected"
					return m
				}()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLogs()
			f.put("/aws/lambda/p-lambda_reader", "s", at(-3600), "an old line")
			tc.setup(f)
			var in instant
			rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "ex1",
				Options{Now: func() time.Time { return now }, Limiter: in.limiter()})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, stateOf(rep)); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			probes := 0
			if tc.probe {
				probes = 1
			}
			if n := f.count("FilterLogEvents"); n != len(rep.Producers)+probes {
				t.Errorf("%d FilterLogEvents calls for %d producers and %d log group checks", n, len(rep.Producers), probes)
			}
			if rep.LogGroupFound == tc.probe {
				t.Errorf("log group found: %v, want %v", rep.LogGroupFound, !tc.probe)
			}
			for _, p := range rep.Producers {
				prev := rep.Events[0]
				for i, e := range rep.Events {
					if e.Name == *rep.NextExpectedEvent {
						prev = rep.Events[i-1]
					}
				}
				if want := prev.ReceivedAt.Add(-DefaultSkew); !p.Since.Equal(want) || !p.Until.Equal(now) {
					t.Errorf("producer window %s – %s, want %s – %s", p.Since, p.Until, want, now)
				}
			}
			if tc.name == "unexpected event last, published twice" && len(rep.UnparsedEntries) != 1 {
				t.Errorf("unparsed entries = %+v, want the one that is not JSON", rep.UnparsedEntries)
			}
		})
	}
}

func TestTrackRefuses(t *testing.T) {
	c := wordcount(t, "")
	for _, tc := range []struct {
		wf, ex string
		kind   error
		msg    string
	}{
		{"compute_wordcount", "ex1", ErrUnknownWorkflow,
			`workflow "compute_wordcount" is not in examples/wordcount/xflow.yaml (did you mean "compute_word_count"?)`},
		{"nope", "ex1", ErrUnknownWorkflow,
			`workflow "nope" is not in examples/wordcount/xflow.yaml (its workflows are: compute_word_count, archive)`},
		{"compute_word_count", "a:b", ErrInvalidExecutionID,
			`execution_id "a:b" contains ':' or '*', which CloudWatch Logs does not allow in a log stream name`},
	} {
		f := newFakeLogs()
		_, err := Track(context.Background(), f, c, tc.wf, tc.ex, Options{})
		if !errors.Is(err, tc.kind) || err.Error() != tc.msg {
			t.Errorf("Track(%q, %q):\n got %v\nwant %s", tc.wf, tc.ex, err, tc.msg)
		}
		if n := f.count("GetLogEvents") + f.count("FilterLogEvents"); n != 0 {
			t.Errorf("Track(%q, %q) made %d calls before refusing", tc.wf, tc.ex, n)
		}
	}
}

// TestTrackPaging reads a stream page by page until AWS hands the token
// back, across an empty first page, and the producer's log over pages.
func TestTrackPaging(t *testing.T) {
	const group = "/xFlow/track/compute_word_count"
	f := newFakeLogs()
	f.pageSize, f.emptyFirst = 2, true
	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed"}
	for i, e := range flow {
		f.entry(group, "ex1", at(i), e, "s"+itoa(i))
		f.entry(group, "ex1", at(i), e, "s"+itoa(i)) // every record twice
	}
	for i := range 5 {
		f.put("/aws/lambda/lambda_filter", "s", at(3+i), "[INFO] working on ex1")
	}
	var in instant
	rep, err := Track(context.Background(), f, wordcount(t, ""), "compute_word_count", "ex1",
		Options{Now: func() time.Time { return now }, Limiter: in.limiter()})
	if err != nil {
		t.Fatal(err)
	}
	// 6 entries in pages of 2, after an empty page, then the repeated token.
	if n := f.count("GetLogEvents"); n != 5 {
		t.Errorf("GetLogEvents calls = %d, want 5 (empty, 3 pages, end)", n)
	}
	if n := f.count("FilterLogEvents"); n != 3 {
		t.Errorf("FilterLogEvents calls = %d, want 3 (5 lines in pages of 2)", n)
	}
	if got := len(rep.Producers[0].Lines); got != 5 {
		t.Errorf("producer lines = %d, want 5", got)
	}
	for _, e := range rep.Events[:3] {
		if e.State != StateReceived || e.Records != 1 || e.DuplicatesDropped != 1 {
			t.Errorf("%s: %s, %d records, %d duplicates; want received once, one duplicate dropped", e.Name, e.State, e.Records, e.DuplicatesDropped)
		}
	}
	if len(rep.EventsReceived) != 3 {
		t.Errorf("events_received has %d entries, want 3 distinct records", len(rep.EventsReceived))
	}
	// The limiter spaced the 8 calls: 7 intervals of 200 ms.
	if got, want := in.total(), 7*(time.Second/DefaultRate); got < want {
		t.Errorf("limiter waited %v in all, want at least %v", got, want)
	}
}

// TestTrackThrottling backs off and retries throttled calls, and gives up
// with the throttling error after maxAttempts.
func TestTrackThrottling(t *testing.T) {
	const group = "/xFlow/track/compute_word_count"
	f := newFakeLogs()
	f.entry(group, "ex1", at(0), "FileUploaded", "s0")
	f.put("/aws/lambda/lambda_reader", "s", at(1), "[ERROR] ex1 failed")
	f.throttle["GetLogEvents"] = 2
	f.throttle["FilterLogEvents"] = 1
	var in instant
	rep, err := Track(context.Background(), f, wordcount(t, ""), "compute_word_count", "ex1",
		Options{Now: func() time.Time { return now }, Limiter: in.limiter()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusFailed {
		t.Errorf("status = %s, want failed", rep.Status)
	}
	if g, fl := f.count("GetLogEvents"), f.count("FilterLogEvents"); g != 4 || fl != 2 {
		t.Errorf("calls: GetLogEvents %d, FilterLogEvents %d; want 4 (2 throttled) and 2 (1 throttled)", g, fl)
	}
	// Three throttles back off at least 0.5 s, 1 s and 0.5 s.
	if got := in.total(); got < 2*time.Second {
		t.Errorf("waited %v in all after three throttles, want at least 2s", got)
	}

	f = newFakeLogs()
	f.throttle["GetLogEvents"] = maxAttempts
	_, err = Track(context.Background(), f, wordcount(t, ""), "compute_word_count", "ex1",
		Options{Limiter: (&instant{}).limiter()})
	if !isThrottling(err) {
		t.Errorf("after %d throttles: err = %v, want the ThrottlingException", maxAttempts, err)
	}
	if n := f.count("GetLogEvents"); n != maxAttempts {
		t.Errorf("GetLogEvents calls = %d, want %d", n, maxAttempts)
	}
}

func TestTrackTruncatesLines(t *testing.T) {
	const group = "/xFlow/track/compute_word_count"
	f := newFakeLogs()
	f.entry(group, "ex1", at(0), "FileUploaded", "s0")
	for i := range 10 {
		f.put("/aws/lambda/lambda_reader", "s", at(1+i), "[INFO] ex1 line")
	}
	f.put("/aws/lambda/lambda_reader", "s", at(20), "[ERROR] ex1 at last")
	rep, err := Track(context.Background(), f, wordcount(t, ""), "compute_word_count", "ex1",
		Options{Now: func() time.Time { return now }, Limiter: (&instant{}).limiter(), MaxLines: 4})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Producers[0]
	if len(p.Lines) != 4 || !p.Truncated || !p.Failed {
		t.Errorf("producer: %d lines, truncated %v, failed %v; want 4, true, true (the failure is past the cut)", len(p.Lines), p.Truncated, p.Failed)
	}
	if got := aws.ToString(f.filters[0].FilterPattern); got != `?"ex1" ?"Task timed out"` {
		t.Errorf("filter pattern = %s", got)
	}
}

// TestTrackNotFoundCalls: with AWS's wording, an execution whose stream is
// missing from an existing log group costs one call; a missing log group
// one more, to be sure, and the report says what to check.
func TestTrackNotFoundCalls(t *testing.T) {
	const group = "/xFlow/track/p-compute_word_count"
	for _, tc := range []struct {
		name       string
		setup      func(f *fakeLogs)
		hint       string
		filters    int
		groupFound bool
		wantHint   string
	}{
		{"stream missing", func(f *fakeLogs) { f.entry(group, "ex-other", at(0), "FileUploaded", "1") }, "", 0, true, ""},
		{"log group missing", func(f *fakeLogs) {}, "", 1, false, DefaultMissingGroupHint},
		{"log group missing, locally", func(f *fakeLogs) {}, LocalMissingGroupHint, 1, false, LocalMissingGroupHint},
		// A policy without FilterLogEvents on the tracking log group: the
		// check cannot tell, and the report stays what it was without it.
		{"log group unknown", func(f *fakeLogs) { f.denyFilter = map[string]bool{group: true} }, "", 1, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLogs()
			tc.setup(f)
			var in instant
			rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "ex1",
				Options{Now: func() time.Time { return now }, Limiter: in.limiter(), MissingGroupHint: tc.hint})
			if err != nil {
				t.Fatal(err)
			}
			if g, fl := f.count("GetLogEvents"), f.count("FilterLogEvents"); g != 1 || fl != tc.filters {
				t.Errorf("calls: %d GetLogEvents, %d FilterLogEvents; want 1 and %d", g, fl, tc.filters)
			}
			if rep.Status != StatusNotFound || rep.LogStreamFound || rep.LogGroupFound != tc.groupFound || rep.Hint != tc.wantHint {
				t.Errorf("report: status %s, stream found %v, group found %v, hint %q; want not_found, false, %v, %q",
					rep.Status, rep.LogStreamFound, rep.LogGroupFound, rep.Hint, tc.groupFound, tc.wantHint)
			}
			var text strings.Builder
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if tc.groupFound == strings.Contains(text.String(), "does not exist") {
				t.Errorf("text:\n%s", text.String())
			}
		})
	}
}

// TestDeadLetters: a batch the producer of the next expected event gave up
// on makes it failed, with the dead letter among its lines; one of another
// subscriber shows in the report without changing its status; one of a
// stream outside the workflow is left out.
func TestDeadLetters(t *testing.T) {
	const group = "/xFlow/track/p-compute_word_count"
	f := newFakeLogs()
	f.entry(group, "ex1", at(0), "FileUploaded", "s0")
	f.entry(group, "ex1", at(1), "FileDownloaded", "s1")
	dls := []DeadLetter{
		{Function: "p-lambda_parser", Stream: "p-FileDownloaded", Condition: "RetryAttemptsExhausted", Time: Time{at(5)},
			StartSequenceNumber: "7", EndSequenceNumber: "7", Error: "Runtime.ImportModuleError: no module named words\nTraceback", Where: "failures/p-lambda_parser.jsonl"},
		{Function: "p-lambda_audit", Stream: "p-FileUploaded", Condition: "RecordAgeExceeded", Time: Time{at(6)},
			StartSequenceNumber: "3", EndSequenceNumber: "4", Where: "failures/p-lambda_audit.jsonl"},
		{Function: "p-other", Stream: "p-SomethingElse", Condition: "RetryAttemptsExhausted", Time: Time{at(7)}, Where: "failures/p-other.jsonl"},
	}
	var asked string
	var in instant
	rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "ex1", Options{
		Now: func() time.Time { return now }, Limiter: in.limiter(),
		DeadLetters: func(_ context.Context, id string) ([]DeadLetter, error) { asked = id; return dls, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if asked != "ex1" {
		t.Errorf("dead letters asked for %q, want ex1", asked)
	}
	if rep.Status != StatusFailed || len(rep.Producers) != 1 || !rep.Producers[0].Failed {
		t.Fatalf("status %s, producers %+v; want failed on lambda_parser", rep.Status, rep.Producers)
	}
	if len(rep.DeadLetters) != 2 || rep.DeadLetters[0].Event != "FileDownloaded" || rep.DeadLetters[1].Event != "FileUploaded" {
		t.Errorf("dead letters %+v, want those of FileDownloaded and FileUploaded", rep.DeadLetters)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"produced by: p-lambda_parser (FAILED)",
		"gave up on the FileDownloaded batch 7–7 (RetryAttemptsExhausted): Runtime.ImportModuleError: no module named words; the record is in failures/p-lambda_parser.jsonl",
		"p-lambda_audit gave up on the FileUploaded batch 3–4 (RecordAgeExceeded); the record is in failures/p-lambda_audit.jsonl",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Count(text.String(), "p-lambda_parser.jsonl") != 1 || strings.Contains(text.String(), "p-other") {
		t.Errorf("text shows a dead letter twice, or one of another workflow:\n%s", text.String())
	}

	// A source that fails is an error, not a report without them.
	_, err = Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "ex1", Options{
		Now: func() time.Time { return now }, Limiter: in.limiter(),
		DeadLetters: func(context.Context, string) ([]DeadLetter, error) { return nil, errors.New("disk on fire") },
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err = %v, want the source's", err)
	}
}

// TestDamage: a record lost to damage on disk shows in the report; on
// the stream the producers of the next expected event read, or of that
// event itself, it makes the execution failed (even one none of whose
// events was tracked, which is then not "not found"); elsewhere it leaves
// the status alone.
func TestDamage(t *testing.T) {
	const group = "/xFlow/track/p-compute_word_count"
	dmg := func(stream string) Damage {
		return Damage{Stream: stream, SequenceNumber: "00000000000000000400", Length: 80, Kind: "corrupt", Time: Time{at(3)}, Where: "/s/quarantine/" + stream + "/00000000000000000400.bin"}
	}
	for _, tc := range []struct {
		name     string
		tracked  []string // events tracked, in flow order
		damage   []Damage
		status   Status
		wantText string
	}{
		{"the first event, never tracked", nil, []Damage{dmg("p-FileUploaded")}, StatusFailed,
			"damaged: the FileUploaded record at sequence number 00000000000000000400 (80 bytes) could not be read back"},
		{"the producers' input", []string{"FileUploaded", "FileDownloaded"}, []Damage{dmg("p-FileDownloaded")}, StatusFailed,
			"damaged: the FileDownloaded record"},
		{"the next expected event's record", []string{"FileUploaded"}, []Damage{{Stream: "p-FileDownloaded", SequenceNumber: "9", Length: 30, Kind: "torn", Time: Time{at(3)}, Where: "q"}}, StatusFailed,
			"damaged: the FileDownloaded record at sequence number 9 (30 bytes) was cut short at the end of the stream"},
		{"an event consumed long ago", []string{"FileUploaded", "FileDownloaded"}, []Damage{dmg("p-FileUploaded")}, StatusInProgress,
			"damaged: the FileUploaded record"},
		{"another workflow's stream", []string{"FileUploaded"}, []Damage{dmg("p-Elsewhere")}, StatusInProgress, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLogs()
			for i, e := range tc.tracked {
				f.entry(group, "ex1", at(i), e, strconv.Itoa(i))
			}
			if len(tc.tracked) == 0 {
				f.entry(group, "another", at(0), "FileUploaded", "0") // the group exists
			}
			var in instant
			rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "ex1", Options{
				Now: func() time.Time { return now }, Limiter: in.limiter(),
				Damage: func(context.Context, string) ([]Damage, error) { return tc.damage, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status != tc.status {
				t.Errorf("status %s, want %s", rep.Status, tc.status)
			}
			var text strings.Builder
			rep.WriteText(&text)
			if tc.wantText == "" {
				if len(rep.Damage) != 0 || strings.Contains(text.String(), "damaged") {
					t.Errorf("damage of another workflow shows:\n%s", text.String())
				}
				return
			}
			if !strings.Contains(text.String(), tc.wantText) {
				t.Errorf("text lacks %q:\n%s", tc.wantText, text.String())
			}
		})
	}
}

// TestOmittedPayload: an event tracked without its payload (too large for
// a log event with its entry) counts as received, and the report says the
// payload was not kept.
func TestOmittedPayload(t *testing.T) {
	const group = "/xFlow/track/p-compute_word_count"
	f := newFakeLogs()
	f.put(group, "ex1", at(0), `{"event_name":"FileUploaded","sequence_number":"1","shard_id":"shardId-000000000000","event":{"execution_id":"ex1"},"event_omitted_bytes":1048553}`)
	rep := trackScenario(t, f, "ex1")
	if rep.Events[0].State != StateReceived || len(rep.EventsReceived) != 1 || rep.EventsReceived[0].EventOmittedBytes != 1048553 {
		t.Fatalf("report: %+v / %+v", rep.Events[0], rep.EventsReceived)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "(payload of 1048553 bytes not kept: too large for a CloudWatch Logs event)") {
		t.Errorf("text:\n%s", text.String())
	}
}

// TestUntrackedExecutionWithDeadLetter: when no record of an execution
// could be tracked (its payload was not JSON: base64 sent by mistake) but
// a function gave up on a record whose partition key is the execution id,
// the report shows the execution, failed at its first event, rather than
// "not found".
func TestUntrackedExecutionWithDeadLetter(t *testing.T) {
	f := newFakeLogs()
	f.entry("/xFlow/track/p-compute_word_count", "other", at(0), "FileUploaded", "s0") // the group exists
	dls := []DeadLetter{{Function: "p-lambda_reader", Stream: "p-FileUploaded", Condition: "RetryAttemptsExhausted", Time: Time{at(5)},
		StartSequenceNumber: "9", EndSequenceNumber: "9", Error: "JSONDecodeError: Expecting value: line 1 column 1 (char 0)", Where: "failures/p-lambda_reader.jsonl"}}
	var in instant
	opts := Options{Now: func() time.Time { return now }, Limiter: in.limiter()}
	rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "raw-1", opts)
	if err != nil || rep.Status != StatusNotFound {
		t.Fatalf("without dead letters: %v, status %v; want not_found", err, rep.Status)
	}
	opts.DeadLetters = func(context.Context, string) ([]DeadLetter, error) { return dls, nil }
	rep, err = Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", "raw-1", opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusFailed || rep.NextExpectedEvent == nil || *rep.NextExpectedEvent != "FileUploaded" || len(rep.DeadLetters) != 1 || rep.DeadLetters[0].Event != "FileUploaded" {
		t.Fatalf("status %s, next %v, dead letters %+v; want failed at FileUploaded with its dead letter", rep.Status, rep.NextExpectedEvent, rep.DeadLetters)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"workflow compute_word_count, execution raw-1: failed, 0 of 6 events received",
		`no record of raw-1 could be tracked (is each a JSON object with "execution_id": "raw-1"?), but functions gave up on records whose partition key is raw-1:`,
		"p-lambda_reader gave up on the FileUploaded batch 9–9 (RetryAttemptsExhausted): JSONDecodeError: Expecting value",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}
