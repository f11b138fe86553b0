package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
)

// fakeTarget records the batches it gets (as record data) and answers
// with answer.
type fakeTarget struct {
	batches [][]string
	answer  func(call int, batch []kinesisEventRecord) ([]byte, *FunctionError)
}

func (f *fakeTarget) invoke(_ context.Context, payload []byte) ([]byte, *FunctionError, error) {
	var ev struct{ Records []kinesisEventRecord }
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, nil, err
	}
	var data []string
	for _, r := range ev.Records {
		data = append(data, string(r.Kinesis.Data))
	}
	f.batches = append(f.batches, data)
	resp, fe := f.answer(len(f.batches), ev.Records)
	return resp, fe, nil
}

func failWhen(bad string) func(int, []kinesisEventRecord) ([]byte, *FunctionError) {
	return func(_ int, recs []kinesisEventRecord) ([]byte, *FunctionError) {
		for _, r := range recs {
			if string(r.Kinesis.Data) == bad {
				return nil, &FunctionError{Type: "RecordError", Message: bad + " is bad"}
			}
		}
		return []byte("null"), nil
	}
}

// testMapping is a mapping of a stream holding records r0, r1, … to a
// fake target.
func testMapping(t *testing.T, n int, settings spec.Mapping, answer func(int, []kinesisEventRecord) ([]byte, *FunctionError)) (*mapping, *fakeTarget, []Record) {
	t.Helper()
	dir := t.TempDir()
	s := mustOpen(t, dir, "S")
	for i := range n {
		if _, _, err := s.append([]appendRecord{{fmt.Sprintf("ex-%d", i), fmt.Appendf(nil, "r%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	ft := &fakeTarget{answer: answer}
	rt := &Runtime{stateDir: dir, region: "us-east-1", roleARN: "arn:aws:iam::000000000000:role/r"}
	m := &mapping{
		rt: rt, stream: s, streamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/S",
		function: "fn", fnARN: "arn:aws:lambda:us-east-1:000000000000:function:fn",
		target: ft, settings: settings, now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if settings.OnFailure == "" {
		m.settings.OnFailure = spec.OnFailureQueue
	}
	if err := m.openCheckpoint(dir); err != nil {
		t.Fatal(err)
	}
	return m, ft, readAll(t, s)
}

// deliver runs the mapping until it has delivered the whole stream.
func deliver(t *testing.T, m *mapping) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !m.idle() {
		if time.Now().After(deadline) {
			t.Fatal("the mapping did not deliver the stream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

type deadLetter struct {
	RequestContext struct {
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext *struct {
		FunctionError string `json:"functionError"`
	} `json:"responseContext"`
	KinesisBatchInfo batchInfo `json:"KinesisBatchInfo"`
}

func deadLetters(t *testing.T, m *mapping) []deadLetter {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(m.rt.stateDir, "failures", "fn.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetter
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d deadLetter
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func checkpointOf(t *testing.T, m *mapping) string {
	t.Helper()
	return strings.TrimSpace(string(mustRead(t, m.checkpointPath)))
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBisect: a batch of eight with one bad record is split until the
// bad record is alone, which is retried and then given up; every other
// record is delivered; splitting uses no retries.
func TestBisect(t *testing.T) {
	m, ft, recs := testMapping(t, 8, spec.Mapping{BatchSize: 8, RetryAttempts: 1, BisectOnError: true}, failWhen("r5"))
	deliver(t, m)
	want := [][]string{
		{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"},
		{"r0", "r1", "r2", "r3"},
		{"r4", "r5", "r6", "r7"},
		{"r4", "r5"},
		{"r4"},
		{"r5"},
		{"r5"}, // the one retry
		{"r6", "r7"},
	}
	if diff := cmp.Diff(want, ft.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	dl := deadLetters(t, m)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	d := dl[0]
	if d.RequestContext.Condition != "RetryAttemptsExhausted" || d.RequestContext.ApproximateInvokeCount != 2 ||
		d.KinesisBatchInfo.BatchSize != 1 || d.KinesisBatchInfo.StartSequenceNumber != recs[5].SequenceNumber() ||
		d.KinesisBatchInfo.EndSequenceNumber != recs[5].SequenceNumber() || d.KinesisBatchInfo.ShardID != shardID ||
		d.ResponseContext == nil || d.ResponseContext.FunctionError != "Unhandled" {
		t.Errorf("dead letter %+v", d)
	}
	all, err := DeadLetters(m.rt.stateDir)
	if err != nil || len(all) != 1 || all[0].Function != "fn" || all[0].Stream != "S" || fmt.Sprint(all[0].ExecutionIDs) != "[ex-5]" ||
		all[0].Condition != "RetryAttemptsExhausted" || all[0].Time.IsZero() {
		t.Errorf("DeadLetters = %+v, %v", all, err)
	}
	if got := checkpointOf(t, m); got != fmt.Sprint(recs[7].Next) {
		t.Errorf("checkpoint %s, want the end %d", got, recs[7].Next)
	}
}

// TestRetryWithoutBisect: the whole batch is retried RetryAttempts times,
// then given up whole.
func TestRetryWithoutBisect(t *testing.T) {
	m, ft, recs := testMapping(t, 3, spec.Mapping{BatchSize: 10, RetryAttempts: 2}, failWhen("r1"))
	deliver(t, m)
	if len(ft.batches) != 3 {
		t.Errorf("%d invocations, want 3: %v", len(ft.batches), ft.batches)
	}
	dl := deadLetters(t, m)
	if len(dl) != 1 || dl[0].KinesisBatchInfo.BatchSize != 3 || dl[0].RequestContext.ApproximateInvokeCount != 3 ||
		dl[0].KinesisBatchInfo.StartSequenceNumber != recs[0].SequenceNumber() || dl[0].KinesisBatchInfo.EndSequenceNumber != recs[2].SequenceNumber() {
		t.Errorf("dead letters %+v", dl)
	}
}

// TestReportBatchItemFailures: the records before the first reported
// failure are checkpointed, and the batch is retried from it.
func TestReportBatchItemFailures(t *testing.T) {
	var seqs []string
	var checkpoints []string
	var m *mapping
	answer := func(call int, recs []kinesisEventRecord) ([]byte, *FunctionError) {
		checkpoints = append(checkpoints, fmt.Sprint(m.pos.Load()))
		if call == 1 {
			return fmt.Appendf(nil, `{"batchItemFailures": [{"itemIdentifier": %q}, {"itemIdentifier": %q}]}`, seqs[3], seqs[2]), nil
		}
		return []byte(`{"batchItemFailures": []}`), nil
	}
	m, ft, recs := testMapping(t, 5, spec.Mapping{BatchSize: 10, RetryAttempts: 3, ReportBatchItemFailures: true}, answer)
	for _, r := range recs {
		seqs = append(seqs, r.SequenceNumber())
	}
	deliver(t, m)
	if diff := cmp.Diff([][]string{{"r0", "r1", "r2", "r3", "r4"}, {"r2", "r3", "r4"}}, ft.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if checkpoints[1] != fmt.Sprint(recs[2].Seq) {
		t.Errorf("checkpoint before the retry = %s, want record r2's %d", checkpoints[1], recs[2].Seq)
	}
	if len(deadLetters(t, m)) != 0 {
		t.Error("dead letters for a batch that succeeded on retry")
	}
}

// TestInvalidBatchItemFailure: an itemIdentifier that is not in the
// batch fails the whole batch, as Lambda treats it.
func TestInvalidBatchItemFailure(t *testing.T) {
	answer := func(call int, _ []kinesisEventRecord) ([]byte, *FunctionError) {
		if call == 1 {
			return []byte(`{"batchItemFailures": [{"itemIdentifier": "nope"}]}`), nil
		}
		return nil, nil
	}
	m, ft, _ := testMapping(t, 2, spec.Mapping{BatchSize: 10, RetryAttempts: 3, ReportBatchItemFailures: true}, answer)
	deliver(t, m)
	if diff := cmp.Diff([][]string{{"r0", "r1"}, {"r0", "r1"}}, ft.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

// TestMaxRecordAge: records older than the maximum age are not sent;
// they go to the on-failure destination.
func TestMaxRecordAge(t *testing.T) {
	m, ft, recs := testMapping(t, 3, spec.Mapping{BatchSize: 10, RetryAttempts: 3, MaxRecordAgeSeconds: 60}, failWhen("none"))
	m.now = func() time.Time { return recs[0].Arrival.Add(2 * time.Minute) }
	deliver(t, m)
	if len(ft.batches) != 0 {
		t.Errorf("expired records were sent: %v", ft.batches)
	}
	dl := deadLetters(t, m)
	if len(dl) != 1 || dl[0].RequestContext.Condition != "RecordAgeExceeded" || dl[0].KinesisBatchInfo.BatchSize != 3 || dl[0].ResponseContext != nil {
		t.Errorf("dead letters %+v", dl)
	}
}

// TestOnFailureNone drops given-up records without a dead letter.
func TestOnFailureNone(t *testing.T) {
	m, _, _ := testMapping(t, 1, spec.Mapping{BatchSize: 10, RetryAttempts: 0, OnFailure: spec.OnFailureNone}, failWhen("r0"))
	deliver(t, m)
	if dl := deadLetters(t, m); len(dl) != 0 {
		t.Errorf("dead letters with on_failure none: %+v", dl)
	}
}

// TestStopLeavesBatch: a runtime that stops while a batch fails leaves
// it without checkpoint, for the next start.
func TestStopLeavesBatch(t *testing.T) {
	var cancel context.CancelFunc
	answer := func(int, []kinesisEventRecord) ([]byte, *FunctionError) {
		cancel()
		return nil, &FunctionError{Type: "E"}
	}
	m, ft, _ := testMapping(t, 2, spec.Mapping{BatchSize: 10, RetryAttempts: 5}, answer)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cancel = stop
	m.run(ctx)
	if len(ft.batches) != 1 {
		t.Errorf("%d invocations after the stop, want 1", len(ft.batches))
	}
	if _, err := os.Stat(m.checkpointPath); !os.IsNotExist(err) {
		t.Errorf("a checkpoint was written: %v", err)
	}
}

// TestEventShape: each record is what Lambda delivers from Kinesis.
func TestEventShape(t *testing.T) {
	m, _, recs := testMapping(t, 1, spec.Mapping{BatchSize: 10}, failWhen("none"))
	var ev map[string][]map[string]any
	if err := json.Unmarshal(m.payload(recs), &ev); err != nil {
		t.Fatal(err)
	}
	r := ev["Records"][0]
	k := r["kinesis"].(map[string]any)
	seq := recs[0].SequenceNumber()
	want := map[string]any{
		"eventSource": "aws:kinesis", "eventVersion": "1.0", "eventName": "aws:kinesis:record",
		"eventID": "shardId-000000000000:" + seq, "awsRegion": "us-east-1",
		"eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/S", "invokeIdentityArn": "arn:aws:iam::000000000000:role/r",
		"kinesis": map[string]any{
			"kinesisSchemaVersion": "1.0", "partitionKey": "ex-0", "sequenceNumber": seq, "data": "cjA=",
			"approximateArrivalTimestamp": float64(recs[0].Arrival.UnixMilli()) / 1000,
		},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if ts, _ := json.Marshal(k["approximateArrivalTimestamp"]); strings.ContainsAny(string(ts), "eE") {
		t.Errorf("approximateArrivalTimestamp %s is not seconds with a fraction", ts)
	}
}
