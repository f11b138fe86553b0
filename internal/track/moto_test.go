package track_test

// The round trip on moto_server, doing what the Lambda service would:
// events are published to Kinesis with package publish, read back from the
// streams, wrapped in the exact Kinesis event Lambda delivers and handed to
// the tracker handler, which writes to CloudWatch Logs; then Track reads
// them back.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
	"github.com/xflowhq/xflow/internal/tracker"
)

var wordcountFlow = []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}

// world is one test's deployment on moto: a config with a unique name
// prefix, its streams and its tracker log groups.
type world struct {
	t      *testing.T
	c      *config.Config
	scheme names.Scheme
	region string
	kin    *kinesis.Client
	logs   *cloudwatchlogs.Client
	pub    *publish.Publisher

	// delivered are the records already handed to a tracker, by stream
	// and sequence number, as an event source mapping's checkpoint.
	delivered map[string]bool
	trackers  map[string]*tracker.Handler
}

// newWorld loads a config with a unique prefix and creates what a deploy
// would for publish, the tracker and track: the streams and the tracker
// log groups.
func newWorld(t *testing.T, path string) *world {
	t.Helper()
	cfg := awstest.Config(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prefix := awstest.Unique("trk") + "-"
	text := string(data)
	if strings.Contains(text, "name_prefix: PREFIX") {
		text = strings.Replace(text, "name_prefix: PREFIX", "name_prefix: "+prefix, 1)
	} else {
		text = strings.Replace(text, "\ngeneral:\n", "\ngeneral:\n  name_prefix: "+prefix+"\n", 1)
	}
	c, err := config.Parse(path, []byte(text), func(string) string { return "" })
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	if c.General.NamePrefix != prefix {
		t.Fatalf("the prefix did not reach the config: %q", c.General.NamePrefix)
	}
	w := &world{
		t: t, c: c, scheme: names.New(prefix), region: cfg.Region,
		kin: kinesis.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg),
		delivered: map[string]bool{}, trackers: map[string]*tracker.Handler{},
	}
	w.pub = publish.New(w.kin, c)
	var streams []string
	for _, e := range c.Events() {
		streams = append(streams, w.scheme.Stream(e))
	}
	kinesistest.CreateStreams(t, w.kin, streams...)
	for _, wf := range c.Workflows {
		w.logGroup(w.scheme.TrackerLogGroup(wf.ID))
	}
	return w
}

// logGroup creates a log group, deleted when the test ends.
func (w *world) logGroup(name string) {
	w.t.Helper()
	if _, err := w.logs.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		w.t.Fatalf("create log group %s: %v", name, err)
	}
	w.t.Cleanup(func() {
		_, _ = w.logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(name)})
	})
}

// publish publishes an event and returns where it landed.
func (w *world) publish(event, payload string) publish.Result {
	w.t.Helper()
	res, err := w.pub.Publish(context.Background(), event, []byte(payload))
	if err != nil {
		w.t.Fatalf("publish %s: %v", event, err)
	}
	return res
}

// tracker is the workflow's tracker, one warm container.
func (w *world) tracker(workflowID string) *tracker.Handler {
	if h, ok := w.trackers[workflowID]; ok {
		return h
	}
	h := &tracker.Handler{
		Logs:     w.logs,
		LogGroup: w.scheme.TrackerLogGroup(workflowID),
		Names:    w.scheme,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	w.trackers[workflowID] = h
	return h
}

// deliver hands the new records of the events' streams to the workflow's
// tracker, one batch per stream as Lambda does per shard, and returns the
// records delivered.
func (w *world) deliver(workflowID string, events ...string) []kinesistest.Record {
	w.t.Helper()
	var all []kinesistest.Record
	for _, e := range events {
		var batch []kinesistest.Record
		for _, r := range kinesistest.Read(w.t, w.kin, w.scheme.Stream(e)) {
			key := r.Stream + "/" + aws.ToString(r.SequenceNumber)
			if !w.delivered[key] {
				w.delivered[key] = true
				batch = append(batch, r)
			}
		}
		if len(batch) > 0 {
			w.handle(workflowID, batch)
			all = append(all, batch...)
		}
	}
	return all
}

// handle invokes the workflow's tracker with a batch, as Lambda would.
func (w *world) handle(workflowID string, batch []kinesistest.Record) {
	w.t.Helper()
	resp, err := w.tracker(workflowID).Handle(context.Background(), kinesistest.Event(w.t, w.region, batch))
	if err != nil {
		w.t.Fatalf("tracker: %v", err)
	}
	if len(resp.BatchItemFailures) > 0 {
		w.t.Fatalf("tracker reported batch item failures: %+v", resp.BatchItemFailures)
	}
}

// track tracks an execution now, through a counting client.
func (w *world) track(workflowID, executionID string) (*track.Report, *countingLogs) {
	w.t.Helper()
	return w.trackAt(time.Now(), workflowID, executionID)
}

// trackAt tracks an execution as if it were `now`.
func (w *world) trackAt(now time.Time, workflowID, executionID string) (*track.Report, *countingLogs) {
	w.t.Helper()
	api := &countingLogs{real: w.logs}
	rep, err := track.Track(context.Background(), api, w.c, workflowID, executionID,
		track.Options{Now: func() time.Time { return now }})
	if err != nil {
		w.t.Fatalf("track %s %s: %v", workflowID, executionID, err)
	}
	return rep, api
}

// countingLogs is the real client with a count of the calls in front.
type countingLogs struct {
	real               track.LogsAPI
	mu                 sync.Mutex
	gets               int
	filters            map[string]int // by log group
	filterPatterns     []string
	getGroups, streams []string
}

func (c *countingLogs) GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.real.GetLogEvents(ctx, in, optFns...)
}

func (c *countingLogs) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	c.mu.Lock()
	if c.filters == nil {
		c.filters = map[string]int{}
	}
	c.filters[aws.ToString(in.LogGroupName)]++
	c.filterPatterns = append(c.filterPatterns, aws.ToString(in.FilterPattern))
	c.mu.Unlock()
	return c.real.FilterLogEvents(ctx, in, optFns...)
}

func wordcountWorld(t *testing.T) *world {
	return newWorld(t, "../../examples/wordcount/xflow.yaml")
}

// wordcountEvent is an event of the example, shaped as its functions
// publish them.
func wordcountEvent(executionID, event string) string {
	return fmt.Sprintf(`{"execution_id": %q, "step": %q, "note": "<wordcount> & co"}`, executionID, event)
}

// receivedAt checks that an event was received at its record's arrival
// time (to the millisecond the tracker keeps, with Lambda's float
// seconds).
func receivedAt(t *testing.T, e track.Event, rec kinesistest.Record) {
	t.Helper()
	want := aws.ToTime(rec.ApproximateArrivalTimestamp)
	if e.ReceivedAt == nil {
		t.Errorf("%s: not received", e.Name)
		return
	}
	if d := e.ReceivedAt.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("%s received at %s, want the arrival time %s", e.Name, e.ReceivedAt, want)
	}
	if e.ReceivedAt.Location() != time.UTC {
		t.Errorf("%s: received_at is not UTC: %s", e.Name, e.ReceivedAt)
	}
}

// TestRoundTripFinished: a complete wordcount execution is finished, with
// all six events received from the records that were published.
func TestRoundTripFinished(t *testing.T) {
	w := wordcountWorld(t)
	results := map[string]publish.Result{}
	var payloads []string
	for _, e := range wordcountFlow {
		p := wordcountEvent("ex-a", e)
		payloads = append(payloads, p)
		results[e] = w.publish(e, p)
	}
	records := map[string]kinesistest.Record{}
	for _, r := range w.deliver("compute_word_count", wordcountFlow...) {
		ev, _ := w.scheme.Event(r.Stream)
		records[ev] = r
	}

	rep, calls := w.track("compute_word_count", "ex-a")
	if rep.Status != track.StatusFinished {
		t.Errorf("status = %s, want finished", rep.Status)
	}
	for i, e := range rep.Events {
		if e.Name != wordcountFlow[i] || e.State != track.StateReceived || e.Records != 1 || e.DuplicatesDropped != 0 {
			t.Errorf("event %d = %+v, want %s received once", i, e, wordcountFlow[i])
			continue
		}
		if res := results[e.Name]; e.SequenceNumber != res.SequenceNumber || e.ShardID != res.ShardID || e.Stream != res.Stream {
			t.Errorf("%s: record %s/%s/%s, want the published %s/%s/%s", e.Name, e.Stream, e.ShardID, e.SequenceNumber, res.Stream, res.ShardID, res.SequenceNumber)
		}
		receivedAt(t, e, records[e.Name])
	}
	if got := aws.ToString(rep.FurthestEvent); got != "FileSummarized" || rep.NextExpectedEvent != nil || len(rep.Producers) != 0 {
		t.Errorf("furthest %q, next %v, producers %v; want FileSummarized, none, none", got, rep.NextExpectedEvent, rep.Producers)
	}
	if len(rep.EventsReceived) != 6 {
		t.Fatalf("events_received: %d, want 6", len(rep.EventsReceived))
	}
	for i, r := range rep.EventsReceived {
		var got, want map[string]any
		if err := json.Unmarshal(r.Data, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(payloads[i]), &want); err != nil {
			t.Fatal(err)
		}
		want["event_name"] = wordcountFlow[i]
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events_received[%d].data (-want +got):\n%s", i, diff)
		}
	}
	if got, want := rep.TrackingSummary.ExecutionPath, strings.Join(wordcountFlow, " ---> "); got != want {
		t.Errorf("execution_path = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(buf.String(), "\n"); first != "workflow compute_word_count, execution ex-a: finished, all 6 events received" {
		t.Errorf("text starts with %q", first)
	}
	if calls.gets != 2 || len(calls.filters) != 0 {
		t.Errorf("calls: %d GetLogEvents, FilterLogEvents %v; want 2 and none", calls.gets, calls.filters)
	}
}

// filterLine is a line a failing lambda_filter writes, at an offset from
// the last received event.
type filterLine struct {
	stream string
	offset time.Duration
	msg    string
}

// writeFunctionLog writes lines to a function's log group as Lambda
// would: one log stream per container.
func (w *world) writeFunctionLog(group string, base time.Time, lines []filterLine) {
	w.t.Helper()
	ctx := context.Background()
	byStream := map[string][]types.InputLogEvent{}
	var order []string
	for _, l := range lines {
		if _, ok := byStream[l.stream]; !ok {
			order = append(order, l.stream)
		}
		byStream[l.stream] = append(byStream[l.stream], types.InputLogEvent{
			Timestamp: aws.Int64(base.Add(l.offset).UnixMilli()),
			Message:   aws.String(l.msg),
		})
	}
	for _, s := range order {
		if _, err := w.logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s)}); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s), LogEvents: byStream[s]}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// failingFilterLog is what a failing Python lambda_filter logs for ex1,
// with ex10's invocations beside it, and an ex1 line from before the
// window.
func failingFilterLog() (lines []filterLine, want []string) {
	const (
		r1  = "8f5f8a3c-7c38-4b4e-9a4b-1d2e3f405060" // ex1, raises
		r2  = "0c4a7b1e-2d3f-4e5a-8b6c-7d8e9fa0b1c2" // ex10, raises
		r3  = "5b6c7d8e-9fa0-4b1c-8d2e-3f4051627384" // ex1 retried, times out
		r4  = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d" // ex10 retried, times out
		s1  = "2026/05/01/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0"
		s2  = "2026/05/01/[$LATEST]11223344556677889900aabbccddeeff"
		tb1 = "[ERROR] TypeError: words_arr of ex1 is not a list\nTraceback (most recent call last):\n  File \"/var/task/lambda_filter.py\", line 61, in filter_out_non_words\n    raise TypeError(\"words_arr of %s is not a list\" % execution_id)"
		tb2 = "[ERROR] TypeError: words_arr of ex10 is not a list\nTraceback (most recent call last):\n  File \"/var/task/lambda_filter.py\", line 61, in filter_out_non_words\n    raise TypeError(\"words_arr of %s is not a list\" % execution_id)"
	)
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	info := func(r, ex string) string {
		return "[INFO]\t2026-05-01T10:00:00.000Z\t" + r + "\tfiltering the words of " + ex
	}
	timeout := func(r string) string { return "2026-05-01T10:00:00.000Z " + r + " Task timed out after 3.00 seconds" }
	lines = []filterLine{
		{s1, -sec(5 * 60), info("0bad0bad-0bad-4bad-8bad-0bad0bad0bad", "ex1") + " (an older run)"},
		{s1, sec(1), "START RequestId: " + r1 + " Version: $LATEST"},
		{s1, sec(1), info(r1, "ex1")},
		{s1, sec(2), tb1},
		{s1, sec(2), "END RequestId: " + r1},
		{s1, sec(2), "REPORT RequestId: " + r1 + "\tDuration: 2.41 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB"},
		{s2, sec(1), "START RequestId: " + r2 + " Version: $LATEST"},
		{s2, sec(1), info(r2, "ex10")},
		{s2, sec(2), tb2},
		{s2, sec(2), "END RequestId: " + r2},
		{s1, sec(3), "START RequestId: " + r3 + " Version: $LATEST"},
		{s1, sec(3), info(r3, "ex1")},
		{s1, sec(6), timeout(r3)},
		{s1, sec(6), "END RequestId: " + r3},
		{s2, sec(3), "START RequestId: " + r4 + " Version: $LATEST"},
		{s2, sec(3), info(r4, "ex10")},
		{s2, sec(6), timeout(r4)},
	}
	want = []string{info(r1, "ex1"), tb1, info(r3, "ex1"), timeout(r3)}
	return lines, want
}

// TestRoundTripFailedFilter: events up to FileParsed were received and
// lambda_filter failed; track names FileFiltered and lambda_filter, with
// its lines for ex1 only.
func TestRoundTripFailedFilter(t *testing.T) {
	w := wordcountWorld(t)
	for _, ex := range []string{"ex1", "ex10"} {
		for _, e := range wordcountFlow[:3] {
			w.publish(e, wordcountEvent(ex, e))
		}
	}
	w.deliver("compute_word_count", wordcountFlow[:3]...)
	fn := w.scheme.Function("lambda_filter")
	group := names.FunctionLogGroup(fn)
	w.logGroup(group)
	before, _ := w.track("compute_word_count", "ex1")
	parsedAt := before.Events[2].ReceivedAt.Time
	lines, wantLines := failingFilterLog()
	w.writeFunctionLog(group, parsedAt, lines)

	// The function's lines are up to 6 s after FileParsed: track a minute
	// later, as a user would, rather than sleep.
	rep, calls := w.trackAt(parsedAt.Add(time.Minute), "compute_word_count", "ex1")
	if rep.Status != track.StatusFailed {
		t.Errorf("status = %s, want failed", rep.Status)
	}
	var states []string
	for _, e := range rep.Events {
		states = append(states, e.Name+" "+string(e.State))
	}
	wantStates := []string{"FileUploaded received", "FileDownloaded received", "FileParsed received",
		"FileFiltered not_received", "FileAggregated not_received", "FileSummarized not_received"}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if got := aws.ToString(rep.NextExpectedEvent); got != "FileFiltered" {
		t.Errorf("next expected = %q, want FileFiltered", got)
	}
	if len(rep.Producers) != 1 {
		t.Fatalf("producers = %+v, want lambda_filter alone", rep.Producers)
	}
	p := rep.Producers[0]
	if p.Lambda != "lambda_filter" || p.Function != fn || p.LogGroup != group || !p.Failed || !p.LogGroupFound {
		t.Errorf("producer = %s/%s/%s failed=%v found=%v, want lambda_filter/%s/%s failed", p.Lambda, p.Function, p.LogGroup, p.Failed, p.LogGroupFound, fn, group)
	}
	var got []string
	for _, l := range p.Lines {
		got = append(got, l.Message)
	}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("lambda_filter's lines for ex1 (-want +got):\n%s", diff)
	}
	var failures []bool
	for _, l := range p.Lines {
		failures = append(failures, l.Failure)
	}
	if diff := cmp.Diff([]bool{false, true, false, true}, failures); diff != "" {
		t.Errorf("failure marks (-want +got):\n%s", diff)
	}
	if want := parsedAt.Add(-track.DefaultSkew); !p.Since.Equal(want) {
		t.Errorf("window starts at %s, want a minute before FileParsed: %s", p.Since, want)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"execution ex1: failed, 3 of 6 events received",
		"next expected: FileFiltered, produced by: " + fn + " (FAILED)",
		"Traceback (most recent call last):",
		"Task timed out after 3.00 seconds",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ex10") || strings.Contains(text, "older run") {
		t.Errorf("text shows lines of another execution or from before the window:\n%s", text)
	}
	if calls.gets != 2 || calls.filters[group] != 1 || len(calls.filters) != 1 {
		t.Errorf("calls: %d GetLogEvents, FilterLogEvents %v; want 2 and 1 on %s", calls.gets, calls.filters, group)
	}
	t.Logf("track output:\n%s", text)
}

// TestRoundTripNotFound: an execution nobody published is a report, not
// an error, whether the workflow's log group exists or not.
func TestRoundTripNotFound(t *testing.T) {
	w := wordcountWorld(t)
	w.publish("FileUploaded", wordcountEvent("ex-other", "FileUploaded"))
	w.deliver("compute_word_count", "FileUploaded")
	rep, calls := w.track("compute_word_count", "ex-nobody")
	if rep.Status != track.StatusNotFound || rep.LogStreamFound || len(rep.EventsReceived) != 0 || rep.NextExpectedEvent != nil {
		t.Errorf("report = status %s, stream found %v, %d received, next %v; want not_found with nothing", rep.Status, rep.LogStreamFound, len(rep.EventsReceived), rep.NextExpectedEvent)
	}
	if calls.gets != 1 || len(calls.filters) != 1 { // one to check the log group, as moto words a missing stream as a missing group
		t.Errorf("calls: %d GetLogEvents, FilterLogEvents %v; want 1 and 1", calls.gets, calls.filters)
	}
	if !rep.LogGroupFound {
		t.Errorf("the workflow's log group exists, but the report says it does not")
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "not found: none of its events were seen in") {
		t.Errorf("text:\n%s", text.String())
	}

	// A prefix nothing was deployed under: no log group at all, and the
	// report says the workflow is not deployed.
	other := *w.c
	other.General.NamePrefix = awstest.Unique("none") + "-"
	api := &countingLogs{real: w.logs}
	rep, err := track.Track(context.Background(), api, &other, "compute_word_count", "ex-other", track.Options{})
	if err != nil || rep.Status != track.StatusNotFound || rep.LogGroupFound || rep.LogStreamFound {
		t.Fatalf("without a log group: %+v, err %v; want not_found, log group and stream not found, no error", rep, err)
	}
	if api.gets != 1 || api.filters[rep.LogGroup] != 1 || len(api.filters) != 1 {
		t.Errorf("calls without a log group: %d GetLogEvents, FilterLogEvents %v; want 1 and 1 on %s", api.gets, api.filters, rep.LogGroup)
	}
	text.Reset()
	rep.WriteText(&text)
	for _, want := range []string{"not found: the workflow's tracking log group " + rep.LogGroup + " does not exist", track.DefaultMissingGroupHint} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
}

func TestRoundTripUnknownWorkflow(t *testing.T) {
	w := wordcountWorld(t)
	api := &countingLogs{real: w.logs}
	_, err := track.Track(context.Background(), api, w.c, "compute_wordcount", "ex1", track.Options{})
	if !errors.Is(err, track.ErrUnknownWorkflow) {
		t.Fatalf("err = %v, want ErrUnknownWorkflow", err)
	}
	if !strings.Contains(err.Error(), `did you mean "compute_word_count"?`) {
		t.Errorf("message lacks the suggestion: %v", err)
	}
	if api.gets != 0 || len(api.filters) != 0 {
		t.Errorf("an unknown workflow made %d GetLogEvents and %v FilterLogEvents calls", api.gets, api.filters)
	}
}

// TestRoundTripUnexpectedEvent: a record from the stream of another
// workflow's event reaches the tracker; it is reported, not counted in the
// flow.
func TestRoundTripUnexpectedEvent(t *testing.T) {
	w := newWorld(t, "testdata/archive/xflow.yaml")
	w.publish("FileUploaded", `{"execution_id": "ex-u"}`)
	w.publish("FileAudited", `{"execution_id": "ex-u", "by": "audit"}`)
	w.deliver("archive_files", "FileUploaded", "FileAudited")

	rep, _ := w.track("archive_files", "ex-u")
	if rep.Status != track.StatusInProgress {
		t.Errorf("status = %s, want in_progress", rep.Status)
	}
	if len(rep.UnexpectedEvents) != 1 {
		t.Fatalf("unexpected events = %+v, want FileAudited", rep.UnexpectedEvents)
	}
	u := rep.UnexpectedEvents[0]
	if u.Name != "FileAudited" || u.State != track.StateUnexpected || u.Records != 1 || u.Stream != w.scheme.Stream("FileAudited") {
		t.Errorf("unexpected event = %+v", u)
	}
	wantDefined := map[string]string{"FileUploaded": "received", "FileArchived": "uknown_state", "FileAudited": "received_but_unexpected"}
	if diff := cmp.Diff(wantDefined, rep.EventsDefined); diff != "" {
		t.Errorf("events_defined (-want +got):\n%s", diff)
	}
	if got := aws.ToString(rep.FurthestEvent); got != "FileUploaded" {
		t.Errorf("furthest = %q, want FileUploaded: an unexpected event is not progress", got)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "? FileAudited") || !strings.Contains(buf.String(), "not in the flow") {
		t.Errorf("text does not show the unexpected event:\n%s", buf.String())
	}
}

// TestRoundTripDuplicates: the same records handled twice by a warm
// container and once more by a cold one count once.
func TestRoundTripDuplicates(t *testing.T) {
	w := wordcountWorld(t)
	w.publish("FileUploaded", wordcountEvent("ex-d", "FileUploaded"))
	w.publish("FileDownloaded", wordcountEvent("ex-d", "FileDownloaded"))
	recs := w.deliver("compute_word_count", "FileUploaded", "FileDownloaded")
	w.handle("compute_word_count", recs) // a retried batch
	delete(w.trackers, "compute_word_count")
	w.handle("compute_word_count", recs) // a new container

	rep, _ := w.track("compute_word_count", "ex-d")
	for _, e := range rep.Events[:2] {
		if e.State != track.StateReceived || e.Records != 1 || e.DuplicatesDropped != 2 {
			t.Errorf("%s: %s, %d records, %d duplicates dropped; want received, 1, 2", e.Name, e.State, e.Records, e.DuplicatesDropped)
		}
	}
	if len(rep.EventsReceived) != 2 {
		t.Errorf("events_received: %d, want 2", len(rep.EventsReceived))
	}
	if got := aws.ToString(rep.NextExpectedEvent); got != "FileParsed" {
		t.Errorf("next expected = %q, want FileParsed", got)
	}
}

// TestTrackCallCount holds one track to one paged GetLogEvents read
// (a page, then the page that hands the token back) plus one
// FilterLogEvents read per producer. An execution not found costs one
// FilterLogEvents more on moto, to tell whether the workflow's log group
// exists: moto words a missing log stream as a missing log group, which
// AWS does not (TestTrackNotFoundCalls holds AWS's wording to one call).
func TestTrackCallCount(t *testing.T) {
	wc := wordcountWorld(t)
	for _, e := range wordcountFlow {
		wc.publish(e, wordcountEvent("ex-done", e))
	}
	for _, e := range wordcountFlow[:3] {
		wc.publish(e, wordcountEvent("ex-stuck", e))
	}
	wc.deliver("compute_word_count", wordcountFlow...)
	wc.logGroup(names.FunctionLogGroup(wc.scheme.Function("lambda_filter")))

	ar := newWorld(t, "testdata/archive/xflow.yaml")
	ar.publish("FileUploaded", `{"execution_id": "ex-two"}`)
	ar.deliver("archive_files", "FileUploaded")

	for _, tc := range []struct {
		name      string
		w         *world
		wf, ex    string
		producers []string
		gets      int
		probe     bool // the tracking log group checked
	}{
		{"finished", wc, "compute_word_count", "ex-done", nil, 2, false},
		{"one producer", wc, "compute_word_count", "ex-stuck", []string{"lambda_filter"}, 2, false},
		{"two producers", ar, "archive_files", "ex-two", []string{"archiver", "indexer"}, 2, false},
		{"not found", wc, "compute_word_count", "ex-none", nil, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, calls := tc.w.track(tc.wf, tc.ex)
			want := map[string]int{}
			for _, l := range tc.producers {
				want[names.FunctionLogGroup(tc.w.scheme.Function(l))] = 1
			}
			if tc.probe {
				want[tc.w.scheme.TrackerLogGroup(tc.wf)] = 1
			}
			got := calls.filters
			if got == nil {
				got = map[string]int{}
			}
			if calls.gets != tc.gets {
				t.Errorf("GetLogEvents calls = %d, want %d", calls.gets, tc.gets)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("FilterLogEvents calls by log group (-want +got):\n%s", diff)
			}
			if len(rep.Producers) != len(tc.producers) {
				t.Errorf("%d producers, want %d", len(rep.Producers), len(tc.producers))
			}
			t.Logf("%s: calls in all: %d", tc.name, calls.gets+len(calls.filterPatterns))
		})
	}
}

// TestRoundTrip900KiB: a 900 KiB event publishes, reaches the tracker and
// tracks, its data whole.
func TestRoundTrip900KiB(t *testing.T) {
	w := wordcountWorld(t)
	big := strings.Repeat("word ", 900*1024/5)
	payload := fmt.Sprintf(`{"execution_id": "ex-big", "contents": %q}`, big)
	if len(payload) < 900*1024 {
		t.Fatalf("payload is %d bytes, want 900 KiB", len(payload))
	}
	res := w.publish("FileDownloaded", payload)
	w.publish("FileUploaded", wordcountEvent("ex-big", "FileUploaded"))
	w.deliver("compute_word_count", "FileUploaded", "FileDownloaded")

	rep, _ := w.track("compute_word_count", "ex-big")
	e := rep.Events[1]
	if e.State != track.StateReceived || e.SequenceNumber != res.SequenceNumber {
		t.Fatalf("FileDownloaded = %+v, want received with sequence number %s", e, res.SequenceNumber)
	}
	var data struct {
		Contents  string `json:"contents"`
		EventName string `json:"event_name"`
	}
	for _, r := range rep.EventsReceived {
		if r.EventName == "FileDownloaded" {
			if err := json.Unmarshal(r.Data, &data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if data.Contents != big || data.EventName != "FileDownloaded" {
		t.Errorf("events_received data: %d bytes of contents, event_name %q; want %d bytes, FileDownloaded", len(data.Contents), data.EventName, len(big))
	}
	if got := aws.ToString(rep.NextExpectedEvent); got != "FileParsed" {
		t.Errorf("next expected = %q, want FileParsed", got)
	}
}
