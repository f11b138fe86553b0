package tracker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/names"
)

// AWS's PutLogEvents rules, written out again here rather than taken from
// the package, so that a wrong constant in the package fails the spy.
const (
	awsMaxEvents   = 10_000
	awsMaxBytes    = 1_048_576
	awsOverhead    = 26
	awsMaxSpan     = 24 * time.Hour
	awsMaxEventLen = awsMaxBytes - awsOverhead
)

// call is one CloudWatch Logs call seen by spyLogs or fakeLogs.
type call struct {
	op     string // CreateLogStream or PutLogEvents
	stream string
	err    error
	// PutLogEvents only:
	seqs       []string // sequence numbers of the entries, in call order
	times      []int64
	bytes      int // AWS's size: messages plus 26 bytes per event
	firstBytes int // size of the first event, to check that splits are tight
}

// recorder keeps the calls of a spy or a fake and checks every PutLogEvents
// call against AWS's limits.
type recorder struct {
	t     *testing.T
	mu    sync.Mutex
	calls []call
}

func (r *recorder) record(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// check asserts AWS's rules on one PutLogEvents input and describes it.
func (r *recorder) check(in *cloudwatchlogs.PutLogEventsInput) call {
	t := r.t
	c := call{op: "PutLogEvents", stream: aws.ToString(in.LogStreamName)}
	if in.SequenceToken != nil {
		t.Errorf("PutLogEvents for %s sent a sequence token; they are ignored and must not be used", c.stream)
	}
	if n := len(in.LogEvents); n == 0 || n > awsMaxEvents {
		t.Errorf("PutLogEvents for %s has %d events, want 1..%d", c.stream, n, awsMaxEvents)
	}
	for i, e := range in.LogEvents {
		msg, ts := aws.ToString(e.Message), aws.ToInt64(e.Timestamp)
		size := len(msg) + awsOverhead
		if i == 0 {
			c.firstBytes = size
		}
		c.bytes += size
		if len(msg) > awsMaxEventLen {
			t.Errorf("PutLogEvents for %s: event %d is %d bytes, more than %d", c.stream, i, len(msg), awsMaxEventLen)
		}
		if i > 0 && ts < c.times[i-1] {
			t.Errorf("PutLogEvents for %s: event %d at %d is before event %d at %d", c.stream, i, ts, i-1, c.times[i-1])
		}
		c.times = append(c.times, ts)
		var ent Entry
		if err := json.Unmarshal([]byte(msg), &ent); err != nil {
			t.Errorf("PutLogEvents for %s: event %d is not an Entry: %v", c.stream, i, err)
		}
		c.seqs = append(c.seqs, ent.SequenceNumber)
	}
	if c.bytes > awsMaxBytes {
		t.Errorf("PutLogEvents for %s is %d bytes, more than %d", c.stream, c.bytes, awsMaxBytes)
	}
	if n := len(c.times); n > 0 {
		if span := time.Duration(c.times[n-1]-c.times[0]) * time.Millisecond; span > awsMaxSpan {
			t.Errorf("PutLogEvents for %s spans %v, more than %v", c.stream, span, awsMaxSpan)
		}
	}
	return c
}

// ops returns the calls of one operation, optionally for one stream only.
func (r *recorder) ops(op, stream string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.op == op && (stream == "" || c.stream == stream) {
			out = append(out, c)
		}
	}
	return out
}

// createdStreams lists the streams of CreateLogStream calls, sorted.
func (r *recorder) createdStreams() []string {
	var s []string
	for _, c := range r.ops("CreateLogStream", "") {
		s = append(s, c.stream)
	}
	sort.Strings(s)
	return s
}

// spyLogs is the real CloudWatch Logs client (on moto) with a recorder in
// front: every call really happens, and each PutLogEvents call is held to
// AWS's limits, most of which moto does not enforce.
type spyLogs struct {
	recorder
	real LogsAPI
}

func (s *spyLogs) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	out, err := s.real.CreateLogStream(ctx, in, optFns...)
	s.record(call{op: "CreateLogStream", stream: aws.ToString(in.LogStreamName), err: err})
	return out, err
}

func (s *spyLogs) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	c := s.check(in)
	out, err := s.real.PutLogEvents(ctx, in, optFns...)
	c.err = err
	s.record(c)
	return out, err
}

// moto is one test's log group on the emulator.
type moto struct {
	client *cloudwatchlogs.Client
	group  string
	spy    *spyLogs
}

func newMoto(t *testing.T) *moto {
	t.Helper()
	client := cloudwatchlogs.NewFromConfig(awstest.Config(t))
	group := awstest.Unique("/xFlow/track/tracker-test")
	ctx := context.Background()
	if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatalf("create log group %s: %v", group, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	return &moto{client: client, group: group, spy: &spyLogs{recorder: recorder{t: t}, real: client}}
}

// handler is a tracker on this log group, through the spy.
func (m *moto) handler(prefix string) (*Handler, *bytes.Buffer) {
	return newHandler(m.spy, m.group, prefix)
}

// newHandler is a tracker whose own log goes to the returned buffer.
func newHandler(api LogsAPI, group, prefix string) (*Handler, *bytes.Buffer) {
	var buf bytes.Buffer
	return &Handler{
		Logs:     api,
		LogGroup: group,
		Names:    names.New(prefix),
		Log:      slog.New(slog.NewJSONHandler(&buf, nil)),
	}, &buf
}

// stored is one log event read back from CloudWatch Logs.
type stored struct {
	Timestamp int64
	Entry     Entry
}

// readBack reads a whole log stream, oldest first, as track will.
func (m *moto) readBack(t *testing.T, stream string) []stored {
	t.Helper()
	var out []stored
	var token *string
	for {
		page, err := m.client.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(m.group),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
		})
		if err != nil {
			t.Fatalf("get log events of %s: %v", stream, err)
		}
		for _, e := range page.Events {
			var ent Entry
			if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &ent); err != nil {
				t.Fatalf("log event of %s is not an Entry: %v\n%.300s", stream, err, aws.ToString(e.Message))
			}
			out = append(out, stored{Timestamp: aws.ToInt64(e.Timestamp), Entry: ent})
		}
		if len(page.Events) == 0 || aws.ToString(page.NextForwardToken) == aws.ToString(token) {
			return out
		}
		token = page.NextForwardToken
	}
}

// kin describes one Kinesis record of a test batch.
type kin struct {
	stream string
	seq    string
	at     time.Time
	data   string
}

const testShard = "shardId-000000000000"

func streamARN(stream string) string {
	return "arn:aws:kinesis:us-east-1:123456789012:stream/" + stream
}

// batch is the Kinesis event Lambda would deliver for these records.
func batch(recs ...kin) events.KinesisEvent {
	var ev events.KinesisEvent
	for _, r := range recs {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion:      "us-east-1",
			EventID:        testShard + ":" + r.seq,
			EventName:      "aws:kinesis:record",
			EventSource:    "aws:kinesis",
			EventSourceArn: streamARN(r.stream),
			EventVersion:   "1.0",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.at},
				Data:                        []byte(r.data),
				PartitionKey:                "pk",
				SequenceNumber:              r.seq,
				KinesisSchemaVersion:        "1.0",
			},
		})
	}
	return ev
}

// seq is a sequence number shaped like Kinesis's (56 digits).
func seq(i int) string { return fmt.Sprintf("4959%052d", i) }

// base is a recent time on a millisecond, inside the 14 days CloudWatch
// Logs accepts.
func base() time.Time { return time.Now().Add(-2 * time.Hour).Truncate(time.Second) }

// event is a published event of an execution, with padding to size it.
func event(executionID string, extra string) string {
	return fmt.Sprintf(`{"execution_id":%q,"data":%q}`, executionID, extra)
}

// logLine is one line of the tracker's own log.
type logLine map[string]any

func parseLog(t *testing.T, buf *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		var l logLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("tracker log is not JSON lines: %v\n%s", err, buf)
		}
		out = append(out, l)
	}
}

// summary is the batch summary line of the tracker's log, as numbers.
type summary struct {
	Received, Written, Failed, Rejected int
	ByReason                            map[string]int
}

func batchSummary(t *testing.T, lines []logLine) summary {
	t.Helper()
	var found []summary
	for _, l := range lines {
		if l["msg"] != "batch tracked" {
			continue
		}
		s := summary{
			Received: num(l["received"]), Written: num(l["written"]),
			Failed: num(l["failed"]), Rejected: num(l["rejected"]),
			ByReason: map[string]int{},
		}
		if g, ok := l["rejected_by_reason"].(map[string]any); ok {
			for k, v := range g {
				s.ByReason[k] = num(v)
			}
		}
		found = append(found, s)
	}
	if len(found) != 1 {
		t.Fatalf("want one batch summary line, got %d", len(found))
	}
	return found[0]
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// notTracked lists the "record not tracked" lines as (stream, sequence
// number, reason).
type notTracked struct{ Stream, Seq, Reason string }

func rejectedLines(lines []logLine) []notTracked {
	var out []notTracked
	for _, l := range lines {
		if l["msg"] == "record not tracked" {
			s, _ := l["stream"].(string)
			q, _ := l["sequence_number"].(string)
			r, _ := l["reason"].(string)
			out = append(out, notTracked{s, q, r})
		}
	}
	return out
}

// failures is the sequence numbers of a response's batch item failures.
func failures(resp events.KinesisEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// noSleep makes throttling backoff instant and records the waits.
type noSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noSleep) sleep(ctx context.Context, d time.Duration) error {
	n.mu.Lock()
	n.waits = append(n.waits, d)
	n.mu.Unlock()
	return ctx.Err()
}
