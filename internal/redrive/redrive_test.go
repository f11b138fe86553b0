package redrive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
)

// fakeSource keeps failure records in memory and records what Run does
// with them.
type fakeSource struct {
	failures []*Failure
	stream   map[string][]Record // "stream/shard" → records
	// fail makes the invocation of a batch whose first record has this
	// partition key fail; respond answers with this body.
	fail    map[string]string
	respond map[string]string
	apiErr  error

	invoked  [][]byte
	done     []string
	kept     map[string]string
	released []string
}

func (f *fakeSource) Function() string { return "p-pack" }
func (f *fakeSource) EventSource() (string, string) {
	return "eu-west-1", "arn:aws:iam::123456789012:role/pack"
}

func (f *fakeSource) Failures(context.Context) ([]*Failure, []string, error) {
	return f.failures, []string{"a note"}, nil
}

func (f *fakeSource) Fetch(_ context.Context, x *Failure) (Fetched, error) {
	var out Fetched
	for _, r := range f.stream[x.Stream+"/"+x.ShardID] {
		if CompareSequenceNumbers(r.SequenceNumber, x.StartSequenceNumber) >= 0 && CompareSequenceNumbers(r.SequenceNumber, x.EndSequenceNumber) <= 0 {
			out.Records = append(out.Records, r)
		}
	}
	if n := x.BatchSize - len(out.Records); n > 0 {
		out.Lost, out.LostReason, out.LostExecutions = n, "past the stream's retention of 24 hours", []string{"ex-old"}
	}
	return out, nil
}

func (f *fakeSource) Invoke(_ context.Context, x *Failure, payload []byte) ([]byte, string, error) {
	f.invoked = append(f.invoked, payload)
	if f.apiErr != nil {
		return nil, "", f.apiErr
	}
	var ev struct {
		Records []EventRecord `json:"Records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, "", err
	}
	key := ev.Records[0].Kinesis.PartitionKey
	if msg, ok := f.fail[key]; ok {
		return []byte(`{"errorType":"ValueError","errorMessage":"` + msg + `"}`), "ValueError: " + msg, nil
	}
	return []byte(f.respond[key]), "", nil
}

func (f *fakeSource) Done(_ context.Context, x *Failure) error {
	f.done = append(f.done, x.ID)
	return nil
}

func (f *fakeSource) Keep(_ context.Context, x *Failure, newError string) error {
	if f.kept == nil {
		f.kept = map[string]string{}
	}
	f.kept[x.ID] = newError
	return nil
}

func (f *fakeSource) Release(_ context.Context, fs []*Failure) {
	for _, x := range fs {
		f.released = append(f.released, x.ID)
	}
}

func rec(seq, key string, at time.Time) Record {
	return Record{SequenceNumber: seq, PartitionKey: key, Data: []byte(`{"execution_id":"` + key + `"}`), Arrival: at}
}

// TestRun: batches go in order per shard (whatever order the destination
// holds them in), to the function alone, in the Kinesis event shape; a
// success removes the record, a failure keeps it with its new error and
// stops its shard but not others; a batch whose records are gone is lost
// and kept; filters by execution and time hand the others back; a dry run
// invokes nothing and hands everything back.
func TestRun(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := &config.Config{General: config.General{NamePrefix: "p-"}}
	failure := func(id, stream, shard, start, end string, size int, at time.Time) *Failure {
		return &Failure{ID: id, Where: "queue", StreamARN: "arn:aws:kinesis:eu-west-1:123456789012:stream/" + stream, Stream: stream,
			ShardID: shard, StartSequenceNumber: start, EndSequenceNumber: end, BatchSize: size, Condition: "RetryAttemptsExhausted", Time: at,
			FirstArrival: at.Add(-time.Minute), LastArrival: at.Add(-time.Minute)}
	}
	stream := map[string][]Record{
		"p-Ordered/shardId-000000000000": {rec("9", "a", t0), rec("10", "b", t0), rec("11", "c", t0), rec("100", "d", t0)},
		"p-Ordered/shardId-000000000001": {rec("5", "e", t0)},
	}
	newSource := func() *fakeSource {
		return &fakeSource{
			// Out of order, as an SQS queue hands them out.
			failures: []*Failure{
				failure("m-d", "p-Ordered", "shardId-000000000000", "100", "100", 1, t0.Add(3*time.Minute)),
				failure("m-bc", "p-Ordered", "shardId-000000000000", "10", "11", 2, t0.Add(2*time.Minute)),
				failure("m-e", "p-Ordered", "shardId-000000000001", "5", "5", 1, t0.Add(time.Minute)),
				failure("m-a", "p-Ordered", "shardId-000000000000", "9", "9", 1, t0),
				failure("m-old", "p-Ordered", "shardId-000000000001", "1", "2", 2, t0.Add(-30*time.Hour)),
			},
			stream: stream,
		}
	}
	type outcome struct{ id, outcome string }
	cases := []struct {
		name     string
		opts     Options
		setup    func(*fakeSource)
		want     []outcome
		invoked  [][]string // sequence numbers of each invocation
		done     []string
		kept     []string
		released []string
		lost     int
	}{
		{
			name:     "all",
			want:     []outcome{{"m-a", "redriven"}, {"m-bc", "redriven"}, {"m-d", "redriven"}, {"m-old", "lost"}, {"m-e", "redriven"}},
			invoked:  [][]string{{"9"}, {"10", "11"}, {"100"}, {"5"}},
			done:     []string{"m-a", "m-bc", "m-d", "m-e"},
			released: []string{"m-old"},
			lost:     2,
		},
		{
			name:     "a batch fails again: its shard stops, the other goes on",
			setup:    func(f *fakeSource) { f.fail = map[string]string{"b": "still broken"} },
			want:     []outcome{{"m-a", "redriven"}, {"m-bc", "failed"}, {"m-d", "not_attempted"}, {"m-old", "lost"}, {"m-e", "redriven"}},
			invoked:  [][]string{{"9"}, {"10", "11"}, {"5"}},
			done:     []string{"m-a", "m-e"},
			kept:     []string{"m-bc"},
			released: []string{"m-d", "m-old"},
			lost:     2,
		},
		{
			name: "a partial batch response is a failure",
			setup: func(f *fakeSource) {
				f.respond = map[string]string{"e": `{"batchItemFailures":[{"itemIdentifier":"5"}]}`}
			},
			opts:     Options{Executions: []string{"e"}},
			want:     []outcome{{"m-e", "failed"}},
			invoked:  [][]string{{"5"}},
			kept:     []string{"m-e"},
			released: []string{"m-a", "m-bc", "m-d", "m-old"},
		},
		{
			name:     "Lambda cannot be reached",
			setup:    func(f *fakeSource) { f.apiErr = errors.New("connection refused") },
			opts:     Options{Executions: []string{"a"}},
			want:     []outcome{{"m-a", "failed"}},
			invoked:  [][]string{{"9"}},
			kept:     []string{"m-a"},
			released: []string{"m-bc", "m-d", "m-e", "m-old"},
		},
		{
			name:     "by execution, a lost record's too",
			opts:     Options{Executions: []string{"c", "ex-old"}},
			want:     []outcome{{"m-bc", "redriven"}, {"m-old", "lost"}},
			invoked:  [][]string{{"10", "11"}},
			done:     []string{"m-bc"},
			released: []string{"m-a", "m-d", "m-e", "m-old"},
			lost:     2,
		},
		{
			name:     "since",
			opts:     Options{Since: t0.Add(2 * time.Minute)},
			want:     []outcome{{"m-bc", "redriven"}, {"m-d", "redriven"}},
			invoked:  [][]string{{"10", "11"}, {"100"}},
			done:     []string{"m-bc", "m-d"},
			released: []string{"m-a", "m-e", "m-old"},
		},
		{
			name:     "dry run",
			opts:     Options{DryRun: true},
			want:     []outcome{{"m-a", "would_redrive"}, {"m-bc", "would_redrive"}, {"m-d", "would_redrive"}, {"m-old", "lost"}, {"m-e", "would_redrive"}},
			released: []string{"m-a", "m-bc", "m-d", "m-e", "m-old"},
			lost:     2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource()
			if tc.setup != nil {
				tc.setup(src)
			}
			tc.opts.Lambda = "pack"
			rep, err := Run(context.Background(), src, c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []outcome
			for _, b := range rep.Batches {
				got = append(got, outcome{b.ID, b.Outcome})
				if b.Event != "Ordered" {
					t.Errorf("%s: event %q, want Ordered (the stream without the prefix)", b.ID, b.Event)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(outcome{})); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			var invoked [][]string
			for _, p := range src.invoked {
				var ev struct {
					Records []EventRecord `json:"Records"`
				}
				if err := json.Unmarshal(p, &ev); err != nil {
					t.Fatal(err)
				}
				var seqs []string
				for _, r := range ev.Records {
					seqs = append(seqs, r.Kinesis.SequenceNumber)
				}
				invoked = append(invoked, seqs)
			}
			if diff := cmp.Diff(tc.invoked, invoked); diff != "" {
				t.Errorf("invocations (-want +got):\n%s", diff)
			}
			kept := slices.Sorted(func(yield func(string) bool) {
				for k := range src.kept {
					if !yield(k) {
						return
					}
				}
			})
			slices.Sort(src.released)
			if !slices.Equal(src.done, tc.done) || !slices.Equal(kept, tc.kept) || !slices.Equal(src.released, tc.released) {
				t.Errorf("done %v, kept %v, released %v; want %v, %v, %v", src.done, kept, src.released, tc.done, tc.kept, tc.released)
			}
			if rep.LostRecords != tc.lost {
				t.Errorf("lost records %d, want %d", rep.LostRecords, tc.lost)
			}
			// Every record received is accounted for exactly once.
			if n := len(src.done) + len(src.kept) + len(src.released); n != len(src.failures) {
				t.Errorf("%d records done, kept or released, of %d received", n, len(src.failures))
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if tc.opts.DryRun && !strings.Contains(text.String(), "dry run, nothing is delivered or removed") {
				t.Errorf("dry run text:\n%s", text.String())
			}
			if tc.lost > 0 && !strings.Contains(text.String(), "2 records lost (past the stream's retention of 24 hours): executions ex-old") {
				t.Errorf("the lost records are not listed with their execution:\n%s", text.String())
			}
		})
	}
}

// TestEventShape: the event is the one a Kinesis event source mapping
// sends, field for field.
func TestEventShape(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 1, 123e6, time.UTC)
	got := Event([]Record{{SequenceNumber: "49590338271490256608559692538361571095921575989136588898", PartitionKey: "ex1", Data: []byte("Hello, this is a test."), Arrival: at}},
		EventSource{StreamARN: "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream", ShardID: "shardId-000000000006", Region: "us-east-2", InvokeIdentityARN: "arn:aws:iam::123456789012:role/lambda-role"})
	want := `{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"ex1","sequenceNumber":"49590338271490256608559692538361571095921575989136588898","data":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==","approximateArrivalTimestamp":1777629601.123},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000006:49590338271490256608559692538361571095921575989136588898","eventName":"aws:kinesis:record","invokeIdentityArn":"arn:aws:iam::123456789012:role/lambda-role","awsRegion":"us-east-2","eventSourceARN":"arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"}]}`
	if string(got) != want {
		t.Errorf("event:\n%s\nwant\n%s", got, want)
	}
}

// TestPayloads: records are split into invocations below Lambda's 6 MB,
// in order, none lost.
func TestPayloads(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 900<<10)
	var recs []Record
	for i := range 12 {
		recs = append(recs, Record{SequenceNumber: fmt.Sprint(i), PartitionKey: "k", Data: big})
	}
	ps := Payloads(recs, EventSource{ShardID: "s"})
	if len(ps) < 2 {
		t.Fatalf("%d payloads for 12 records of 900 KiB, want several", len(ps))
	}
	var seqs []string
	for _, p := range ps {
		if len(p) > spec.MaxInvokeBytes {
			t.Errorf("a payload of %d bytes", len(p))
		}
		var ev struct{ Records []EventRecord }
		if err := json.Unmarshal(p, &ev); err != nil {
			t.Fatal(err)
		}
		for _, r := range ev.Records {
			seqs = append(seqs, r.Kinesis.SequenceNumber)
		}
	}
	if want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"}; !slices.Equal(seqs, want) {
		t.Errorf("records delivered %v, want %v", seqs, want)
	}
	if n := len(Payloads(recs[:1], EventSource{})); n != 1 {
		t.Errorf("%d payloads for one record", n)
	}
}

// TestParseRecord reads Lambda's record as an SQS queue, an S3 bucket
// (payload as a JSON string, as AWS documents it, or as an object) and
// local mode's failures file hold it, and refuses what is not one.
func TestParseRecord(t *testing.T) {
	const info = `"KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"2","endSequenceNumber":"3","approximateArrivalOfFirstRecord":"2026-05-01T10:00:00.100Z","approximateArrivalOfLastRecord":"2026-05-01T10:00:00.200Z","batchSize":2,"streamArn":"arn:aws:kinesis:us-east-1:123456789012:stream/p-Ordered"}`
	const head = `{"requestContext":{"requestId":"r1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:p-pack","condition":"RetryAttemptsExhausted","approximateInvokeCount":4},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2026-05-01T10:00:05.717Z",` + info
	data := base64.StdEncoding.EncodeToString([]byte(`{"execution_id":"ex1"}`))
	event := `{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"ex1","sequenceNumber":"2","data":"` + data + `","approximateArrivalTimestamp":1777629600.1},"eventSource":"aws:kinesis","eventID":"shardId-000000000000:2"}]}`
	quoted, _ := json.Marshal(event)
	cases := []struct {
		name, body string
		wantErr    string
		records    int
		errText    string
	}{
		{name: "sqs", body: head + `}`, errText: "function error (Unhandled)"},
		{name: "s3, payload a string", body: head + `,"payload":` + string(quoted) + `}`, records: 1, errText: "function error (Unhandled)"},
		{name: "s3, payload an object", body: head + `,"payload":` + event + `}`, records: 1, errText: "function error (Unhandled)"},
		{name: "local, with its error", body: head + `,"xflowError":"ValueError: no items"}`, errText: "ValueError: no items"},
		{name: "kept by redrive", body: head + `,"xflowRedrive":{"time":"2026-05-02T00:00:00Z","error":"KeyError: x"}}`, errText: "KeyError: x"},
		{name: "not JSON", body: `hello`, wantErr: "not a Lambda on-failure record"},
		{name: "an SQS batch's record", body: `{"requestContext":{},"SQSBatchInfo":{}}`, wantErr: "no KinesisBatchInfo"},
		{name: "a payload that is not an event", body: head + `,"payload":"nope"}`, wantErr: "the record's payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _, err := ParseRecord([]byte(c.body))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Stream != "p-Ordered" || f.ShardID != "shardId-000000000000" || f.StartSequenceNumber != "2" || f.EndSequenceNumber != "3" ||
				f.BatchSize != 2 || f.Condition != "RetryAttemptsExhausted" || !f.Time.Equal(time.Date(2026, 5, 1, 10, 0, 5, 717e6, time.UTC)) ||
				!f.FirstArrival.Equal(time.Date(2026, 5, 1, 10, 0, 0, 100e6, time.UTC)) {
				t.Errorf("parsed %+v", f)
			}
			if f.Error != c.errText {
				t.Errorf("error %q, want %q", f.Error, c.errText)
			}
			if len(f.Records) != c.records {
				t.Fatalf("%d records, want %d", len(f.Records), c.records)
			}
			if c.records > 0 && (string(f.Records[0].Data) != `{"execution_id":"ex1"}` || f.Records[0].PartitionKey != "ex1" ||
				!f.Records[0].Arrival.Equal(time.Date(2026, 5, 1, 10, 0, 0, 100e6, time.UTC))) {
				t.Errorf("record %+v", f.Records[0])
			}
		})
	}
	kept, err := WithAttempt([]byte(head+`}`), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), "boom")
	if err != nil {
		t.Fatal(err)
	}
	if f, _, err := ParseRecord(kept); err != nil || f.Error != "boom" || f.StartSequenceNumber != "2" {
		t.Errorf("a kept record reads back as %+v, %v", f, err)
	}
}

func TestCompareSequenceNumbers(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},
		{"49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692538361571095921575989136588899", -1},
		{"00000000000000000073", "73", 0},
		{"00000000000000000100", "99", 1},
	} {
		if got := CompareSequenceNumbers(c.a, c.b); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
