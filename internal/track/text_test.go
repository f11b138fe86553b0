package track

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/track -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// Lambda's request ids in the fake producers' logs.
const (
	req1  = "8f5f8a3c-7c38-4b4e-9a4b-1d2e3f405060"
	req10 = "0c4a7b1e-2d3f-4e5a-8b6c-7d8e9fa0b1c2"
)

// scenarios are executions written to one fake CloudWatch Logs, each
// tracked by name, for the text and JSON goldens.
func scenarios(f *fakeLogs) {
	const group = "/xFlow/track/p-compute_word_count"
	const filter = "/aws/lambda/p-lambda_filter"
	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	// ex1 failed in lambda_filter; ex10 ran beside it.
	for i, e := range flow[:3] {
		f.entry(group, "ex1", at(i), e, "4959000"+itoa(i))
	}
	f.entry(group, "ex1", at(2), "FileParsed", "49590002") // a retried batch
	f.put(filter, "2026/05/01/[$LATEST]aaaa", at(3), "START RequestId: "+req1+" Version: $LATEST")
	f.put(filter, "2026/05/01/[$LATEST]aaaa", at(3), "[INFO]\t2026-05-01T10:00:03.123Z\t"+req1+"\tfiltering 12 words of ex1")
	f.put(filter, "2026/05/01/[$LATEST]aaaa", at(3), "[ERROR] TypeError: words_arr of ex1 is not a list\nTraceback (most recent call last):\n  File \"/var/task/lambda_filter.py\", line 61, in filter_out_non_words\n    raise TypeError(\"words_arr of %s is not a list\" % execution_id)\n")
	f.put(filter, "2026/05/01/[$LATEST]aaaa", at(3), "END RequestId: "+req1)
	f.put(filter, "2026/05/01/[$LATEST]aaaa", at(3), "REPORT RequestId: "+req1+"\tDuration: 2.41 ms\tBilled Duration: 3 ms")
	f.put(filter, "2026/05/01/[$LATEST]bbbb", at(4), "[INFO]\t2026-05-01T10:00:04.123Z\t"+req10+"\tfiltering 3 words of ex10")
	f.put(filter, "2026/05/01/[$LATEST]bbbb", at(7), "2026-05-01T10:00:07.123Z "+req10+" Task timed out after 3.00 seconds")
	// ex2 finished.
	for i, e := range flow {
		f.entry(group, "ex2", at(i), e, "4959100"+itoa(i))
	}
	// ex3 waits on lambda_parser, which logged nothing wrong; an event of
	// another workflow reached the tracker.
	f.entry(group, "ex3", at(0), "FileUploaded", "49592000")
	f.entry(group, "ex3", at(1), "FileArchived", "49592001")
	f.put("/aws/lambda/p-lambda_reader", "2026/05/01/[$LATEST]cccc", at(1), "[INFO]\t2026-05-01T10:00:01.123Z\t"+req1+"\treading s3://bucket/ex3.txt for ex3")
	f.put(group, "ex3", at(2), `{"not":"an entry"}`)
	// ex4 waits on lambda_parser, which never logged anything.
	f.entry(group, "ex4", at(0), "FileUploaded", "49593000")
	f.entry(group, "ex4", at(1), "FileDownloaded", "49593001")
}

func trackScenario(t *testing.T, f *fakeLogs, ex string) *Report {
	t.Helper()
	rep, err := Track(context.Background(), f, wordcount(t, "p-"), "compute_word_count", ex,
		Options{Now: func() time.Time { return now }, Limiter: (&instant{}).limiter()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestWriteText(t *testing.T) {
	f := newFakeLogs()
	scenarios(f)
	for _, ex := range []string{"ex1", "ex2", "ex3", "ex4", "ex404"} {
		t.Run(ex, func(t *testing.T) {
			var buf bytes.Buffer
			if err := trackScenario(t, f, ex).WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("text", ex+".txt"), buf.Bytes())
		})
	}
}

// sameJSON compares JSON values regardless of their layout.
var sameJSON = cmp.Comparer(func(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && ca.String() == cb.String()
})

// TestReportJSON pins the JSON format: the original xFlow's keys and the
// richer ones.
func TestReportJSON(t *testing.T) {
	f := newFakeLogs()
	scenarios(f)
	for _, ex := range []string{"ex1", "ex3"} {
		t.Run(ex, func(t *testing.T) {
			var buf bytes.Buffer
			rep := trackScenario(t, f, ex)
			if err := rep.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("json", ex+".json"), buf.Bytes())
			// The JSON reads back into the same report.
			var back Report
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rep, &back, sameJSON); diff != "" {
				t.Errorf("report after a JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}
