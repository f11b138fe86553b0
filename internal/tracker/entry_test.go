package tracker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAppendEntry(t *testing.T) {
	tests := []struct {
		name                    string
		eventName, seq, shardID string
		event                   string
	}{
		{"plain", "FileUploaded", seq(1), testShard, `{"execution_id":"ex1"}`},
		{"event kept verbatim: spaces, HTML, unicode, escapes", "FileUploaded", seq(2), testShard,
			"{ \"execution_id\" : \"ex1\",\n  \"html\": \"<a&b>\", \"u\": \"é\\u00e9\", \"n\": 1.50e3 }"},
		{"names that need escaping", `we"ird\name`, "7", "", `{"execution_id":"ex1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := appendEntry(nil, tt.eventName, tt.seq, tt.shardID, []byte(tt.event))
			if !json.Valid(msg) {
				t.Fatalf("entry is not JSON: %s", msg)
			}
			var got Entry
			if err := json.Unmarshal(msg, &got); err != nil {
				t.Fatal(err)
			}
			want := Entry{EventName: tt.eventName, SequenceNumber: tt.seq, ShardID: tt.shardID, Event: json.RawMessage(tt.event)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			// The read side may decode with the struct's own tags: the
			// keys must be exactly those of Entry.
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(msg, &keys); err != nil {
				t.Fatal(err)
			}
			var gotKeys []string
			for k := range keys {
				gotKeys = append(gotKeys, k)
			}
			wantKeys := []string{"event", "event_name", "sequence_number", "shard_id"}
			if diff := cmp.Diff(wantKeys, gotKeys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSplit holds split to each PutLogEvents limit at its exact boundary.
// Real entries are never small enough for the 10,000-event limit to bind
// before the byte limit (10,000 × (26 + the ~100 bytes of the smallest
// entry) > 1 MiB), so that limit is only reachable here.
func TestSplit(t *testing.T) {
	const hour = int64(3600_000)
	ev := func(ts int64, size int) logEvent { return logEvent{ts: ts, msg: strings.Repeat("x", size)} }
	repeat := func(n, size int) []logEvent {
		out := make([]logEvent, n)
		for i := range out {
			out[i] = ev(int64(i), size)
		}
		return out
	}
	tests := []struct {
		name string
		in   []logEvent
		want []int // events per batch
	}{
		{"none", nil, nil},
		{"one", repeat(1, 10), []int{1}},
		{"10,000 events fit", repeat(10_000, 1), []int{10_000}},
		{"10,001 events split", repeat(10_001, 1), []int{10_000, 1}},
		{"25,000 events", repeat(25_000, 1), []int{10_000, 10_000, 5_000}},
		{"exactly 1,048,576 bytes fit", []logEvent{ev(0, 524_262), ev(1, 524_262)}, []int{2}},
		{"one byte more splits", []logEvent{ev(0, 524_262), ev(1, 524_263)}, []int{1, 1}},
		{"a maximal single event", []logEvent{ev(0, 1_048_550), ev(1, 1)}, []int{1, 1}},
		{"span just under 24h fits", []logEvent{ev(0, 1), ev(24*hour-1, 1)}, []int{2}},
		{"span of 24h splits", []logEvent{ev(0, 1), ev(12*hour, 1), ev(24*hour, 1), ev(30*hour, 1)}, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			total := 0
			for _, b := range split(tt.in) {
				got = append(got, len(b))
				total += len(b)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
			if total != len(tt.in) {
				t.Errorf("batches hold %d events, want %d", total, len(tt.in))
			}
		})
	}
}

func TestStreamOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:kinesis:us-east-1:123456789012:stream/FileUploaded", "FileUploaded"},
		{"arn:aws-cn:kinesis:cn-north-1:123456789012:stream/p-File.Uploaded_1", "p-File.Uploaded_1"},
		{"arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1", ""},
		{"arn:aws:sqs:us-east-1:123456789012:queue", ""},
		{"stream/FileUploaded", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := streamOf(tt.arn); got != tt.want {
			t.Errorf("streamOf(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}
