package tracker

// These tests use fakeLogs, a hand-written CloudWatch Logs, only for what
// moto cannot produce: a call failing for one execution, throttling, and
// events CloudWatch rejects by age (moto reports those with an index off by
// one from AWS's documented, exclusive tooOldLogEventEndIndex). Everything
// else runs against moto in handler_moto_test.go.

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// fakeLogs answers each call with the error its functions give for the
// n-th call (from 1) on a log stream; nil means success.
type fakeLogs struct {
	recorder
	createErr func(stream string, n int) error
	putErr    func(stream string, n int) error
	rejected  *types.RejectedLogEventsInfo

	mu      sync.Mutex
	nCreate map[string]int
	nPut    map[string]int
}

func newFake(t *testing.T) *fakeLogs {
	return &fakeLogs{recorder: recorder{t: t}, nCreate: map[string]int{}, nPut: map[string]int{}}
}

func (f *fakeLogs) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	stream := aws.ToString(in.LogStreamName)
	f.mu.Lock()
	f.nCreate[stream]++
	n := f.nCreate[stream]
	f.mu.Unlock()
	var err error
	if f.createErr != nil {
		err = f.createErr(stream, n)
	}
	f.record(call{op: "CreateLogStream", stream: stream, err: err})
	if err != nil {
		return nil, err
	}
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

func (f *fakeLogs) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	c := f.check(in)
	f.mu.Lock()
	f.nPut[c.stream]++
	n := f.nPut[c.stream]
	f.mu.Unlock()
	if f.putErr != nil {
		c.err = f.putErr(c.stream, n)
	}
	f.record(c)
	if c.err != nil {
		return nil, c.err
	}
	return &cloudwatchlogs.PutLogEventsOutput{RejectedLogEventsInfo: f.rejected}, nil
}

func fakeHandler(f *fakeLogs) (*Handler, *noSleep, *bytes.Buffer) {
	ns := &noSleep{}
	h, logBuf := newHandler(f, "/xFlow/track/fake", "")
	h.sleep = ns.sleep
	return h, ns, logBuf
}

var (
	throttled   = &types.ThrottlingException{Message: aws.String("Rate exceeded")}
	notFound    = &types.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
	unavailable = &types.ServiceUnavailableException{Message: aws.String("try later")}
	denied      = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}
)

func TestHandleReportsFailedWrites(t *testing.T) {
	// ex-ok and ex-bad interleaved, ex-bad's arrival times out of batch
	// order: failures must still come back in batch order.
	t0 := base()
	recs := []kin{
		{"FileUploaded", seq(1), t0, event("ex-ok", "1")},
		{"FileUploaded", seq(2), t0.Add(3 * time.Second), event("ex-bad", "2")},
		{"FileUploaded", seq(3), t0.Add(1 * time.Second), event("ex-ok", "3")},
		{"FileUploaded", seq(4), t0.Add(1 * time.Second), event("ex-bad", "4")},
		{"FileUploaded", seq(5), t0.Add(2 * time.Second), event("ex-bad", "5")},
	}
	allBad := []string{seq(2), seq(4), seq(5)}
	always := func(err error) func(string, int) error {
		return func(stream string, _ int) error {
			if stream == "ex-bad" {
				return err
			}
			return nil
		}
	}
	upTo := func(max int, err error) func(string, int) error {
		return func(stream string, n int) error {
			if stream == "ex-bad" && n <= max {
				return err
			}
			return nil
		}
	}
	tests := []struct {
		name         string
		createErr    func(string, int) error
		putErr       func(string, int) error
		wantFailures []string
		wantCreates  int // for ex-bad
		wantPuts     int // for ex-bad
		wantWaits    int
	}{
		{name: "PutLogEvents fails", putErr: always(unavailable),
			wantFailures: allBad, wantCreates: 1, wantPuts: 1},
		{name: "CreateLogStream fails", createErr: always(denied),
			wantFailures: allBad, wantCreates: 1, wantPuts: 0},
		{name: "throttled twice then written", putErr: upTo(2, throttled),
			wantCreates: 1, wantPuts: 3, wantWaits: 2},
		{name: "throttled on every attempt", putErr: always(throttled),
			wantFailures: allBad, wantCreates: 1, wantPuts: 3, wantWaits: 2},
		{name: "CreateLogStream throttled once", createErr: upTo(1, throttled),
			wantCreates: 2, wantPuts: 1, wantWaits: 1},
		{name: "log stream gone, recreated", putErr: upTo(1, notFound),
			wantCreates: 2, wantPuts: 2},
		{name: "log stream gone twice: recreated once only", putErr: always(notFound),
			wantFailures: allBad, wantCreates: 2, wantPuts: 2},
		{name: "log stream gone and cannot be recreated", putErr: always(notFound),
			createErr: func(s string, n int) error {
				if s == "ex-bad" && n > 1 {
					return &types.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
				}
				return nil
			},
			wantFailures: allBad, wantCreates: 2, wantPuts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.createErr, f.putErr = tt.createErr, tt.putErr
			h, ns, logBuf := fakeHandler(f)
			resp, err := h.Handle(context.Background(), batch(recs...))
			if err != nil {
				t.Fatalf("Handle returned an error for a per-record problem: %v", err)
			}
			if diff := cmp.Diff(tt.wantFailures, failures(resp)); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
			if got := len(f.ops("CreateLogStream", "ex-bad")); got != tt.wantCreates {
				t.Errorf("CreateLogStream ex-bad ×%d, want %d", got, tt.wantCreates)
			}
			if got := len(f.ops("PutLogEvents", "ex-bad")); got != tt.wantPuts {
				t.Errorf("PutLogEvents ex-bad ×%d, want %d", got, tt.wantPuts)
			}
			if got := len(f.ops("PutLogEvents", "ex-ok")); got != 1 {
				t.Errorf("PutLogEvents ex-ok ×%d, want 1: the other execution is written regardless", got)
			}
			if len(ns.waits) != tt.wantWaits {
				t.Errorf("waited %d times (%v), want %d", len(ns.waits), ns.waits, tt.wantWaits)
			}
			for i := 1; i < len(ns.waits); i++ {
				if ns.waits[i] <= ns.waits[i-1]/2 {
					t.Errorf("backoff does not grow: %v", ns.waits)
				}
			}
			s := batchSummary(t, parseLog(t, logBuf))
			want := summary{Received: 5, Written: 5 - len(tt.wantFailures), Failed: len(tt.wantFailures), ByReason: map[string]int{}}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("batch summary (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandleReportsOnlyUnwrittenPart: when an execution needs two calls and
// the second fails, only the records of the second call and after come
// back, chosen by arrival order, not by batch order.
func TestHandleReportsOnlyUnwrittenPart(t *testing.T) {
	f := newFake(t)
	f.putErr = func(_ string, n int) error {
		if n == 2 {
			return unavailable
		}
		return nil
	}
	h, _, _ := fakeHandler(f)
	t0 := base()
	pad := strings.Repeat("p", 600<<10) // two of these do not fit in one call
	resp, err := h.Handle(context.Background(), batch(
		kin{"FileUploaded", seq(1), t0.Add(2 * time.Second), event("ex", pad)},
		kin{"FileUploaded", seq(2), t0.Add(1 * time.Second), event("ex", pad)},
		kin{"FileUploaded", seq(3), t0.Add(3 * time.Second), event("ex", "small")},
	))
	if err != nil {
		t.Fatal(err)
	}
	var calls [][]string
	for _, c := range f.ops("PutLogEvents", "ex") {
		calls = append(calls, c.seqs)
	}
	if diff := cmp.Diff([][]string{{seq(2)}, {seq(1), seq(3)}}, calls); diff != "" {
		t.Errorf("PutLogEvents calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{seq(1), seq(3)}, failures(resp)); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
}

func TestHandleGivesUpWhenCanceled(t *testing.T) {
	f := newFake(t)
	f.putErr = func(string, int) error { return throttled }
	h, _, logBuf := fakeHandler(f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := h.Handle(ctx, batch(kin{"FileUploaded", seq(1), base(), event("ex", "")}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{seq(1)}, failures(resp)); diff != "" {
		t.Errorf("batch item failures (-want +got):\n%s", diff)
	}
	if n := len(f.ops("PutLogEvents", "")); n != 1 {
		t.Errorf("PutLogEvents ×%d after the invocation's context ended, want 1", n)
	}
	if !strings.Contains(logBuf.String(), "write failed") || !strings.Contains(logBuf.String(), "Rate exceeded") {
		t.Errorf("the tracker's log does not say why the write failed:\n%s", logBuf)
	}
}

// TestHandleCountsEventsCloudWatchRejected: CloudWatch Logs drops events too
// old (14 days), expired (older than the group's retention) or too new
// (2 hours ahead) and says which in the response. They are logged as
// rejected, not as written and not as failures (a retry is rejected
// again).
func TestHandleCountsEventsCloudWatchRejected(t *testing.T) {
	f := newFake(t)
	f.rejected = &types.RejectedLogEventsInfo{
		TooOldLogEventEndIndex:   aws.Int32(1), // exclusive: event 0
		ExpiredLogEventEndIndex:  aws.Int32(2), // exclusive: events 0 and 1
		TooNewLogEventStartIndex: aws.Int32(4), // inclusive: event 4
	}
	h, _, logBuf := fakeHandler(f)
	t0 := base()
	var recs []kin
	for i := range 5 {
		recs = append(recs, kin{"FileUploaded", seq(i), t0.Add(time.Duration(i) * time.Second), event("ex", "")})
	}
	resp, err := h.Handle(context.Background(), batch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(resp); len(f) != 0 {
		t.Errorf("batch item failures: %v, want none", f)
	}
	lines := parseLog(t, logBuf)
	want := []notTracked{
		{"FileUploaded", seq(0), reasonTooOld},
		{"FileUploaded", seq(1), reasonExpired},
		{"FileUploaded", seq(4), reasonTooNew},
	}
	if diff := cmp.Diff(want, rejectedLines(lines)); diff != "" {
		t.Errorf("rejected records (-want +got):\n%s", diff)
	}
	wantSum := summary{Received: 5, Written: 2, Rejected: 3, ByReason: map[string]int{"too_old": 1, "expired": 1, "too_new": 1}}
	if diff := cmp.Diff(wantSum, batchSummary(t, lines)); diff != "" {
		t.Errorf("batch summary (-want +got):\n%s", diff)
	}
}

func TestHandleNeedsLogsAndLogGroup(t *testing.T) {
	for _, h := range []*Handler{
		{Logs: newFake(t)},
		{LogGroup: "/xFlow/track/wf"},
	} {
		_, err := h.Handle(context.Background(), batch(kin{"FileUploaded", seq(1), base(), event("ex", "")}))
		if err == nil {
			t.Errorf("Handle with Logs %v and LogGroup %q: no error", h.Logs != nil, h.LogGroup)
		}
	}
}
