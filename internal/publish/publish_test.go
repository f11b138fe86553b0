package publish

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
)

// testConfig is a config of three events, with a name prefix.
func testConfig(t *testing.T, prefix string) *config.Config {
	t.Helper()
	c := &config.Config{
		File:    "wf/xflow.yaml",
		General: config.General{NamePrefix: prefix},
		Subscriptions: []config.Subscription{
			{Event: "FileUploaded"}, {Event: "FileDownloaded"}, {Event: "FileParsed"},
		},
	}
	return c
}

// fakeKinesis records PutRecord calls without sending anything.
type fakeKinesis struct {
	mu    sync.Mutex
	calls []*kinesis.PutRecordInput
}

func (f *fakeKinesis) PutRecord(_ context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String("1")}, nil
}

// padded is an event of an execution whose JSON is exactly size bytes.
func padded(t *testing.T, id string, size int) []byte {
	t.Helper()
	head := `{"execution_id":"` + id + `","pad":"`
	tail := `"}`
	n := size - len(head) - len(tail)
	if n < 0 {
		t.Fatalf("size %d too small", size)
	}
	return []byte(head + strings.Repeat("x", n) + tail)
}

// TestPrepareRefuses covers every check: each bad event is refused with
// its kind and a message that says what and where, and nothing is sent.
func TestPrepareRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		event   string
		payload string
		kind    error
		msg     string
	}{
		{"unknown event", "FileUplaoded", `{"execution_id":"ex1"}`, ErrUnknownEvent,
			`event "FileUplaoded" is not in wf/xflow.yaml (did you mean "FileUploaded"?)`},
		{"unknown event far from any", "Zzz", `{"execution_id":"ex1"}`, ErrUnknownEvent,
			`event "Zzz" is not in wf/xflow.yaml (its events are: FileUploaded, FileDownloaded, FileParsed)`},
		{"empty", "FileUploaded", "  \n", ErrInvalidEvent,
			`the event is empty; write a JSON object such as {"execution_id": "ex-1"}`},
		{"syntax error", "FileUploaded", "{\"execution_id\": \"ex1\",\n \"n\": x}", ErrInvalidEvent,
			"the event is not valid JSON: invalid character 'x' looking for beginning of value at line 2, column 7 (byte 30)"},
		{"truncated", "FileUploaded", `{"execution_id": "ex1"`, ErrInvalidEvent,
			"the event is not valid JSON: it ends at line 1, column 23 (byte 22) before the object is complete"},
		{"array", "FileUploaded", `[{"execution_id": "ex1"}]`, ErrInvalidEvent,
			`the event is an array, not a JSON object; write {"execution_id": "ex-1", ...}`},
		{"two objects", "FileUploaded", "{\"execution_id\": \"ex1\"}\n{}", ErrInvalidEvent,
			"the event must be one JSON object, but more follows it at line 2, column 1 (byte 24)"},
		{"not UTF-8", "FileUploaded", "{\"execution_id\": \"ex\xff\"}", ErrInvalidEvent,
			"the event is not valid UTF-8 at line 1, column 21 (byte 20)"},
		{"no execution_id", "FileUploaded", `{"Execution_ID": "ex1"}`, ErrInvalidEvent,
			`the event has no "execution_id"; add "execution_id": "<id>" so that its execution can be tracked`},
		{"execution_id twice", "FileUploaded", `{"execution_id": "ok1", "n": {"execution_id": "inner"}, "execution_id": "ok2"}`, ErrInvalidEvent,
			`the event has "execution_id" 2 times; give it once`},
		{"numeric execution_id", "FileUploaded", `{"execution_id": 12}`, ErrInvalidEvent,
			`"execution_id" is a number, not a string`},
		{"null execution_id", "FileUploaded", `{"execution_id": null}`, ErrInvalidEvent,
			`"execution_id" is null, not a string`},
		{"empty execution_id", "FileUploaded", `{"execution_id": ""}`, ErrInvalidEvent,
			"execution_id is empty"},
		{"colon in execution_id", "FileUploaded", `{"execution_id": "run:1"}`, ErrInvalidEvent,
			`execution_id "run:1" contains ':' or '*', which CloudWatch Logs does not allow in a log stream name`},
		{"execution_id too long for a partition key", "FileUploaded", `{"execution_id": "` + strings.Repeat("e", 257) + `"}`, ErrInvalidEvent,
			"execution_id is 257 characters long; it is the Kinesis partition key, which allows at most 256"},
		{"over 1 MiB with the key", "FileUploaded", string(padded(t, "ex1", spec.MaxRecordBytes-2)), ErrTooLarge,
			"the event is 1048574 bytes and its partition key (the execution_id) 3 bytes: 1048577 bytes in all, more than the 1048576 bytes (1 MiB) of a Kinesis record"},
		{"over 1 MiB alone", "FileUploaded", string(padded(t, "ex1", 2*spec.MaxRecordBytes)), ErrTooLarge,
			"the event is 2097152 bytes, more than the 1048576 bytes (1 MiB) of a Kinesis record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeKinesis{}
			_, err := New(fake, testConfig(t, "")).Publish(context.Background(), tc.event, []byte(tc.payload))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			if err.Error() != tc.msg {
				t.Errorf("message:\n got %s\nwant %s", err, tc.msg)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Errorf("err is %T, want *publish.Error", err)
			}
			if len(fake.calls) != 0 {
				t.Errorf("%d PutRecord calls for a refused event, want none", len(fake.calls))
			}
		})
	}
}

// TestPrepareAccepts checks the record built from good events: the
// stream carries the prefix, the partition key is the execution id, the
// data is the payload without surrounding white space, and the size limit
// counts the key.
func TestPrepareAccepts(t *testing.T) {
	c := testConfig(t, "dev_")
	exact := padded(t, "ex1", spec.MaxRecordBytes-len("ex1"))
	for _, tc := range []struct {
		name    string
		payload []byte
		want    Record
	}{
		{"plain", []byte(" {\"execution_id\": \"ex-1\", \"html\": \"<a&b>\"}\n"),
			Record{Event: "FileParsed", Stream: "dev_FileParsed", ExecutionID: "ex-1", Data: []byte(`{"execution_id": "ex-1", "html": "<a&b>"}`)}},
		{"unicode id", []byte(`{"execution_id": "exé-☃"}`),
			Record{Event: "FileParsed", Stream: "dev_FileParsed", ExecutionID: "exé-☃", Data: []byte(`{"execution_id": "exé-☃"}`)}},
		{"exactly 1 MiB with the key", exact,
			Record{Event: "FileParsed", Stream: "dev_FileParsed", ExecutionID: "ex1", Data: exact}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Prepare(c, "FileParsed", tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublishSendsPartitionKey(t *testing.T) {
	fake := &fakeKinesis{}
	res, err := New(fake, testConfig(t, "p-")).Publish(context.Background(), "FileUploaded", []byte(`{"execution_id":"ex-9","big":"`+strings.Repeat("a", 300)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.calls) != 1 {
		t.Fatalf("%d PutRecord calls, want 1", len(fake.calls))
	}
	in := fake.calls[0]
	if got := aws.ToString(in.PartitionKey); got != "ex-9" {
		t.Errorf("partition key = %q, want the execution id ex-9", got)
	}
	if got := aws.ToString(in.StreamName); got != "p-FileUploaded" {
		t.Errorf("stream = %q, want p-FileUploaded", got)
	}
	want := Result{Stream: "p-FileUploaded", ShardID: "shardId-000000000000", SequenceNumber: "1", ExecutionID: "ex-9"}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}
