package tracker

// These tests run the handler against CloudWatch Logs on moto_server,
// through spyLogs: the real client, with every PutLogEvents call held to
// AWS's limits.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/google/go-cmp/cmp"
)

func TestHandleGroupsByExecution(t *testing.T) {
	m := newMoto(t)
	h, logBuf := m.handler("p-")
	t0 := base()
	// Three executions interleaved over two streams; one event keeps
	// white space, HTML characters and unicode that must come back as sent.
	odd := "{\"execution_id\": \"ex-b\",\n \"html\": \"<a&b>\", \"é\": [1, 2.50]}"
	recs := []kin{
		{"p-FileUploaded", seq(1), t0, event("ex-a", "1")},
		{"p-FileUploaded", seq(2), t0.Add(1 * time.Second), odd},
		{"p-FileFiltered", seq(3), t0.Add(2 * time.Second), event("ex-a", "3")},
		{"p-FileUploaded", seq(4), t0.Add(3 * time.Second), event("ex-c", "4")},
		{"p-FileFiltered", seq(5), t0.Add(4 * time.Second), event("ex-b", "5")},
		{"p-FileUploaded", seq(6), t0.Add(5 * time.Second), event("ex-a", "6")},
		{"p-FileFiltered", seq(7), t0.Add(6 * time.Second), event("ex-c", "7")},
	}
	resp, err := h.Handle(context.Background(), batch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(resp); len(f) != 0 {
		t.Errorf("batch item failures: %v, want none", f)
	}

	want := map[string][]stored{}
	for _, r := range recs {
		var ex struct {
			ExecutionID string `json:"execution_id"`
		}
		if err := json.Unmarshal([]byte(r.data), &ex); err != nil {
			t.Fatal(err)
		}
		want[ex.ExecutionID] = append(want[ex.ExecutionID], stored{
			Timestamp: r.at.UnixMilli(),
			Entry: Entry{
				EventName:      strings.TrimPrefix(r.stream, "p-"),
				SequenceNumber: r.seq,
				ShardID:        testShard,
				Event:          json.RawMessage(r.data),
			},
		})
	}
	for ex, w := range want {
		if diff := cmp.Diff(w, m.readBack(t, ex)); diff != "" {
			t.Errorf("log stream %s (-want +got):\n%s", ex, diff)
		}
		if n := len(m.spy.ops("PutLogEvents", ex)); n != 1 {
			t.Errorf("PutLogEvents calls for %s = %d, want 1", ex, n)
		}
	}
	if diff := cmp.Diff([]string{"ex-a", "ex-b", "ex-c"}, m.spy.createdStreams()); diff != "" {
		t.Errorf("CreateLogStream calls (-want +got):\n%s", diff)
	}
	got := batchSummary(t, parseLog(t, logBuf))
	if diff := cmp.Diff(summary{Received: 7, Written: 7, ByReason: map[string]int{}}, got); diff != "" {
		t.Errorf("batch summary (-want +got):\n%s", diff)
	}
}

// TestHandleCreatesLogStreamOnce follows one warm container, then a second
// container that finds the stream already there, then a stream deleted
// behind the first container's back.
func TestHandleCreatesLogStreamOnce(t *testing.T) {
	m := newMoto(t)
	ctx := context.Background()
	warm, _ := m.handler("")
	t0 := base()
	rec := func(i int, ex string) kin {
		return kin{"FileUploaded", seq(i), t0.Add(time.Duration(i) * time.Second), event(ex, fmt.Sprint(i))}
	}
	handle := func(h *Handler, recs ...kin) {
		t.Helper()
		resp, err := h.Handle(ctx, batch(recs...))
		if err != nil {
			t.Fatal(err)
		}
		if f := failures(resp); len(f) != 0 {
			t.Fatalf("batch item failures: %v, want none", f)
		}
	}
	seqsOf := func(ss []stored) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Entry.SequenceNumber)
		}
		return out
	}
	creates := func(stream string) int { return len(m.spy.ops("CreateLogStream", stream)) }

	handle(warm, rec(1, "ex-1"), rec(2, "ex-1"))
	handle(warm, rec(3, "ex-1"), rec(4, "ex-2"))
	if c1, c2 := creates("ex-1"), creates("ex-2"); c1 != 1 || c2 != 1 {
		t.Errorf("one warm container: CreateLogStream ex-1 ×%d, ex-2 ×%d; want 1 each", c1, c2)
	}

	cold, _ := m.handler("")
	handle(cold, rec(5, "ex-1"))
	calls := m.spy.ops("CreateLogStream", "ex-1")
	if len(calls) != 2 || calls[1].err == nil {
		t.Errorf("a new container should try CreateLogStream once and meet ResourceAlreadyExistsException; calls: %+v", calls)
	}
	if diff := cmp.Diff([]string{seq(1), seq(2), seq(3), seq(5)}, seqsOf(m.readBack(t, "ex-1"))); diff != "" {
		t.Errorf("ex-1 (-want +got):\n%s", diff)
	}

	if _, err := m.client.DeleteLogStream(ctx, &cloudwatchlogs.DeleteLogStreamInput{
		LogGroupName: aws.String(m.group), LogStreamName: aws.String("ex-1"),
	}); err != nil {
		t.Fatal(err)
	}
	putsBefore := len(m.spy.ops("PutLogEvents", "ex-1"))
	handle(warm, rec(6, "ex-1"))
	if got := creates("ex-1"); got != 3 {
		t.Errorf("after the stream was deleted: CreateLogStream ex-1 ×%d in all, want 3", got)
	}
	if got := len(m.spy.ops("PutLogEvents", "ex-1")) - putsBefore; got != 2 {
		t.Errorf("after the stream was deleted: %d PutLogEvents calls, want 2 (not found, then written)", got)
	}
	if diff := cmp.Diff([]string{seq(6)}, seqsOf(m.readBack(t, "ex-1"))); diff != "" {
		t.Errorf("recreated ex-1 (-want +got):\n%s", diff)
	}
}

func TestHandleWritesInArrivalOrder(t *testing.T) {
	m := newMoto(t)
	h, _ := m.handler("")
	t0 := base()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Batch order is sequence order; arrival times are not, and some tie.
	recs := []kin{
		{"FileUploaded", seq(1), at(3), event("ex", "1")},
		{"FileUploaded", seq(2), at(1), event("ex", "2")},
		{"FileUploaded", seq(3), at(2), event("ex", "3")},
		{"FileUploaded", seq(4), at(1), event("ex", "4")},
		{"FileUploaded", seq(5), at(0), event("ex", "5")},
		{"FileUploaded", seq(6), at(3), event("ex", "6")},
	}
	if _, err := h.Handle(context.Background(), batch(recs...)); err != nil {
		t.Fatal(err)
	}
	wantSeqs := []string{seq(5), seq(2), seq(4), seq(3), seq(1), seq(6)}
	wantTimes := []int64{at(0).UnixMilli(), at(1).UnixMilli(), at(1).UnixMilli(), at(2).UnixMilli(), at(3).UnixMilli(), at(3).UnixMilli()}
	puts := m.spy.ops("PutLogEvents", "ex")
	if len(puts) != 1 {
		t.Fatalf("PutLogEvents calls = %d, want 1", len(puts))
	}
	if diff := cmp.Diff(wantSeqs, puts[0].seqs); diff != "" {
		t.Errorf("PutLogEvents order (-want +got):\n%s", diff)
	}
	var gotSeqs []string
	var gotTimes []int64
	for _, s := range m.readBack(t, "ex") {
		gotSeqs = append(gotSeqs, s.Entry.SequenceNumber)
		gotTimes = append(gotTimes, s.Timestamp)
	}
	if diff := cmp.Diff(wantSeqs, gotSeqs); diff != "" {
		t.Errorf("stored order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTimes, gotTimes); diff != "" {
		t.Errorf("stored timestamps = arrival times (-want +got):\n%s", diff)
	}
}

// checkSplit asserts that the PutLogEvents calls of one stream hold the
// batch's records in arrival order, and that each call but the last was
// full: the next event would have broken a limit.
func checkSplit(t *testing.T, puts []call, wantSeqs []string) {
	t.Helper()
	var got []string
	for i, p := range puts {
		got = append(got, p.seqs...)
		if i+1 < len(puts) && len(p.seqs) < awsMaxEvents && p.bytes+puts[i+1].firstBytes <= awsMaxBytes {
			t.Errorf("PutLogEvents call %d (%d events, %d bytes) had room for the next event (%d bytes)",
				i, len(p.seqs), p.bytes, puts[i+1].firstBytes)
		}
	}
	if diff := cmp.Diff(wantSeqs, got); diff != "" {
		t.Errorf("events over all calls (-want +got):\n%s", diff)
	}
}

func TestHandleSplitsOverTenThousandEvents(t *testing.T) {
	m := newMoto(t)
	h, logBuf := m.handler("")
	t0 := base()
	const n = 10_001
	recs := make([]kin, n)
	var wantSeqs []string
	for i := range recs {
		recs[i] = kin{"FileUploaded", seq(i), t0.Add(time.Duration(i) * time.Millisecond), event("ex-many", fmt.Sprint(i))}
		wantSeqs = append(wantSeqs, seq(i))
	}
	resp, err := h.Handle(context.Background(), batch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(resp); len(f) != 0 {
		t.Errorf("%d batch item failures, want none", len(f))
	}
	puts := m.spy.ops("PutLogEvents", "ex-many")
	if len(puts) < 2 {
		t.Errorf("PutLogEvents calls = %d, want the batch split", len(puts))
	}
	checkSplit(t, puts, wantSeqs)
	var stored []string
	for _, s := range m.readBack(t, "ex-many") {
		stored = append(stored, s.Entry.SequenceNumber)
	}
	if diff := cmp.Diff(wantSeqs, stored); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
	if s := batchSummary(t, parseLog(t, logBuf)); s.Received != n || s.Written != n {
		t.Errorf("summary received %d written %d, want %d and %d", s.Received, s.Written, n, n)
	}
}

func TestHandleSplitsOverOneMiB(t *testing.T) {
	m := newMoto(t)
	h, _ := m.handler("")
	t0 := base()
	// Five events of 300 KiB: 1.5 MiB, three per call at most.
	var recs []kin
	var wantSeqs []string
	for i := range 5 {
		recs = append(recs, kin{"FileUploaded", seq(i), t0.Add(time.Duration(i) * time.Second),
			event("ex-big", strings.Repeat(string(rune('a'+i)), 300<<10))})
		wantSeqs = append(wantSeqs, seq(i))
	}
	resp, err := h.Handle(context.Background(), batch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(resp); len(f) != 0 {
		t.Errorf("batch item failures: %v, want none", f)
	}
	puts := m.spy.ops("PutLogEvents", "ex-big")
	var sizes []int
	for _, p := range puts {
		sizes = append(sizes, len(p.seqs))
	}
	if diff := cmp.Diff([]int{3, 2}, sizes); diff != "" {
		t.Errorf("events per PutLogEvents call (-want +got):\n%s", diff)
	}
	checkSplit(t, puts, wantSeqs)
	got := m.readBack(t, "ex-big")
	if len(got) != len(recs) {
		t.Fatalf("stored %d events, want %d", len(got), len(recs))
	}
	for i, s := range got {
		if string(s.Entry.Event) != recs[i].data {
			t.Errorf("stored event %d differs from the published one (%d bytes, want %d)", i, len(s.Entry.Event), len(recs[i].data))
		}
	}
}

func TestHandleSplitsAt24Hours(t *testing.T) {
	m := newMoto(t)
	h, _ := m.handler("")
	now := time.Now().Truncate(time.Second)
	ago := func(hours int) time.Time { return now.Add(-time.Duration(hours) * time.Hour) }
	recs := []kin{
		{"FileUploaded", seq(1), ago(40), event("ex-slow", "1")},
		{"FileUploaded", seq(2), ago(30), event("ex-slow", "2")},
		{"FileUploaded", seq(3), ago(10), event("ex-slow", "3")},
		{"FileUploaded", seq(4), ago(1), event("ex-slow", "4")},
	}
	if _, err := h.Handle(context.Background(), batch(recs...)); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, p := range m.spy.ops("PutLogEvents", "ex-slow") {
		got = append(got, p.seqs)
	}
	want := [][]string{{seq(1), seq(2)}, {seq(3), seq(4)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PutLogEvents calls (-want +got):\n%s", diff)
	}
	if n := len(m.readBack(t, "ex-slow")); n != 4 {
		t.Errorf("stored %d events, want 4", n)
	}
}

// TestHandleLargeEvents: since April 2025 CloudWatch Logs takes events of up
// to 1 MB (it was 256 KB), so a 900 KiB event is tracked. One too large
// for a log event with the entry around it is tracked without its payload.
// moto 5.2.1 checks no event or batch size at all: it would accept the
// oversized entry, which is why the handler checks the size itself and the
// spy checks it on every call.
func TestHandleLargeEvents(t *testing.T) {
	m := newMoto(t)
	h, logBuf := m.handler("")
	t0 := base()
	big := event("ex-large", strings.Repeat("x", 900<<10))
	tooBig := event("ex-large", strings.Repeat("y", 1<<20))
	recs := []kin{
		{"FileUploaded", seq(1), t0, big},
		{"FileUploaded", seq(2), t0.Add(time.Second), tooBig},
		{"FileUploaded", seq(3), t0.Add(2 * time.Second), event("ex-large", "small")},
	}
	resp, err := h.Handle(context.Background(), batch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(resp); len(f) != 0 {
		t.Errorf("batch item failures: %v, want none", f)
	}
	got := m.readBack(t, "ex-large")
	if len(got) != 3 {
		t.Fatalf("stored %d events, want 3", len(got))
	}
	if string(got[0].Entry.Event) != big || got[0].Entry.SequenceNumber != seq(1) || got[0].Entry.EventOmittedBytes != 0 {
		t.Errorf("the 900 KiB event did not come back as published (%d bytes, sequence %s)", len(got[0].Entry.Event), got[0].Entry.SequenceNumber)
	}
	if e := got[1].Entry; e.SequenceNumber != seq(2) || string(e.Event) != `{"execution_id":"ex-large"}` || e.EventOmittedBytes != len(tooBig) {
		t.Errorf("the oversized event is stored as %s with %d bytes omitted, sequence %s; want its execution id alone, %d bytes omitted, sequence %s",
			clipped(e.Event), e.EventOmittedBytes, e.SequenceNumber, len(tooBig), seq(2))
	}
	if got[2].Entry.SequenceNumber != seq(3) {
		t.Errorf("third stored event is %s, want %s", got[2].Entry.SequenceNumber, seq(3))
	}
	lines := parseLog(t, logBuf)
	if len(rejectedLines(lines)) != 0 {
		t.Errorf("rejected records: %v, want none", rejectedLines(lines))
	}
	if !strings.Contains(logBuf.String(), "event tracked without its payload") {
		t.Errorf("the tracker does not say it dropped a payload:\n%s", logBuf.String())
	}
	want := summary{Received: 3, Written: 3, ByReason: map[string]int{}}
	if diff := cmp.Diff(want, batchSummary(t, lines)); diff != "" {
		t.Errorf("batch summary (-want +got):\n%s", diff)
	}
}

// TestHandleRejectsBadRecords sends one batch of records that can never be
// tracked among good ones, through Handle and through Invoke (the Lambda
// entry point, the only one that sees data that is not base64).
func TestHandleRejectsBadRecords(t *testing.T) {
	bad := []struct {
		name   string
		stream string
		data   string
		reason string
	}{
		{"no execution_id", "x-FileUploaded", `{"file":"a.txt"}`, "no_execution_id"},
		{"execution_id null", "x-FileUploaded", `{"execution_id":null}`, "no_execution_id"},
		{"execution_id a number", "x-FileUploaded", `{"execution_id":42}`, "no_execution_id"},
		{"execution_id empty", "x-FileUploaded", `{"execution_id":""}`, "no_execution_id"},
		{"execution_id in another case", "x-FileUploaded", `{"Execution_ID":"ex-good"}`, "no_execution_id"},
		{"execution_id with a colon", "x-FileUploaded", `{"execution_id":"a:b"}`, "bad_execution_id"},
		{"execution_id too long", "x-FileUploaded", event(strings.Repeat("e", 513), ""), "bad_execution_id"},
		{"not JSON", "x-FileUploaded", `{"execution_id":"ex-good"`, "bad_json"},
		{"a JSON array", "x-FileUploaded", `["execution_id","ex-good"]`, "bad_json"},
		{"JSON null", "x-FileUploaded", `null`, "bad_json"},
		{"not UTF-8", "x-FileUploaded", "{\"execution_id\":\"ex-good\",\"b\":\"\xff\"}", "bad_json"},
		{"empty data", "x-FileUploaded", ``, "bad_json"},
		{"stream without the prefix", "FileUploaded", event("ex-good", ""), "unknown_stream"},
		{"stream that is only the prefix", "x-", event("ex-good", ""), "unknown_stream"},
	}
	const badBase64 = "%%% not base64 %%%"

	for _, via := range []string{"Handle", "Invoke"} {
		t.Run(via, func(t *testing.T) {
			m := newMoto(t)
			h, logBuf := m.handler("x-")
			t0 := base()
			var recs []kin
			var want []notTracked
			for i, b := range bad {
				recs = append(recs, kin{b.stream, seq(i), t0.Add(time.Duration(i) * time.Millisecond), b.data})
				want = append(want, notTracked{b.stream, seq(i), b.reason})
			}
			good := []string{seq(100), seq(101)}
			recs = append(recs,
				kin{"x-FileUploaded", good[0], t0, event("ex-good", "1")},
				kin{"x-FileFiltered", good[1], t0.Add(time.Second), event("ex-good", "2")})
			ev := batch(recs...)

			var resp events.KinesisEventResponse
			if via == "Handle" {
				var err error
				if resp, err = h.Handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			} else {
				payload := invokePayload(t, ev, len(recs), badBase64)
				recs = append(recs, kin{stream: "x-FileUploaded", seq: seq(len(recs))})
				want = append(want, notTracked{"x-FileUploaded", seq(len(recs) - 1), "bad_base64"})
				out, err := h.Invoke(context.Background(), payload)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("Invoke response %s: %v", out, err)
				}
			}

			if f := failures(resp); len(f) != 0 {
				t.Errorf("batch item failures: %v, want none: a retry cannot fix these records", f)
			}
			lines := parseLog(t, logBuf)
			if diff := cmp.Diff(want, rejectedLines(lines)); diff != "" {
				t.Errorf("rejected records logged (-want +got):\n%s", diff)
			}
			wantSum := summary{Received: len(recs), Written: 2, Rejected: len(want), ByReason: map[string]int{}}
			for _, w := range want {
				wantSum.ByReason[w.Reason]++
			}
			if diff := cmp.Diff(wantSum, batchSummary(t, lines)); diff != "" {
				t.Errorf("batch summary (-want +got):\n%s", diff)
			}
			var stored []string
			for _, s := range m.readBack(t, "ex-good") {
				stored = append(stored, s.Entry.SequenceNumber)
			}
			if diff := cmp.Diff(good, stored); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"ex-good"}, m.spy.createdStreams()); diff != "" {
				t.Errorf("log streams created (-want +got):\n%s", diff)
			}
		})
	}
}

// invokePayload is the JSON Lambda would send for ev, plus one more record
// whose data is not base64.
func invokePayload(t *testing.T, ev events.KinesisEvent, seqIndex int, data string) []byte {
	t.Helper()
	extra := batch(kin{"x-FileUploaded", seq(seqIndex), base(), "{}"}).Records[0]
	ev.Records = append(ev.Records, extra)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	good := `"data":"` + base64.StdEncoding.EncodeToString([]byte("{}")) + `"`
	i := strings.LastIndex(string(b), good)
	if i < 0 {
		t.Fatalf("no data field to corrupt in %s", b)
	}
	return []byte(string(b[:i]) + `"data":"` + data + `"` + string(b[i+len(good):]))
}

// TestHandleAPICalls holds a typical batch, 1,000 records over 10
// executions, to the fewest calls: one CreateLogStream per new execution of
// the container and one PutLogEvents per execution.
func TestHandleAPICalls(t *testing.T) {
	m := newMoto(t)
	h, _ := m.handler("")
	t0 := base()
	mk := func(from int) events.KinesisEvent {
		var recs []kin
		for i := from; i < from+1000; i++ {
			recs = append(recs, kin{"FileUploaded", seq(i), t0.Add(time.Duration(i) * time.Millisecond), event(fmt.Sprintf("ex-%d", i%10), fmt.Sprint(i))})
		}
		return batch(recs...)
	}
	for round, wantCreates := range []int{10, 0} {
		before := len(m.spy.ops("CreateLogStream", ""))
		putsBefore := len(m.spy.ops("PutLogEvents", ""))
		resp, err := h.Handle(context.Background(), mk(round*1000))
		if err != nil {
			t.Fatal(err)
		}
		if f := failures(resp); len(f) != 0 {
			t.Fatalf("round %d: %d batch item failures", round, len(f))
		}
		if got := len(m.spy.ops("CreateLogStream", "")) - before; got != wantCreates {
			t.Errorf("round %d: %d CreateLogStream calls, want %d", round, got, wantCreates)
		}
		if got := len(m.spy.ops("PutLogEvents", "")) - putsBefore; got != 10 {
			t.Errorf("round %d: %d PutLogEvents calls, want 10", round, got)
		}
	}
	if n := len(m.readBack(t, "ex-3")); n != 200 {
		t.Errorf("ex-3 holds %d events, want 200", n)
	}
}

// clipped shortens a stored event for a message.
func clipped(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
