package local_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/track"
)

// TestWordcount runs the wordcount example, unmodified, end to end: its
// five Python handlers publish with boto3 to the local Kinesis endpoint,
// and the tracker records the six events of the execution.
func TestWordcount(t *testing.T) {
	t.Parallel()
	needPython(t)
	c := loadConfig(t, "../../examples/wordcount/xflow.yaml")
	rt := start(t, c, local.Options{})

	// Worked by hand: str.split() gives It's a cat, a CAT and 2 cats! cat
	// cat. ; the filter strips non-letters and keeps words of two letters
	// or more: Its cat CAT and cats cat cat; counting is case-sensitive.
	text := "It's a cat, a CAT and 2 cats! cat cat."
	want := map[string]any{
		"execution_id": "wc-1",
		"summary": map[string]any{
			"total":  float64(5),
			"counts": map[string]any{"Its": float64(1), "cat": float64(3), "CAT": float64(1), "and": float64(1), "cats": float64(1)},
		},
	}
	res, err := rt.Publish(context.Background(), "FileUploaded", []byte(`{"execution_id": "wc-1", "message": "`+text+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Stream != "FileUploaded" || res.ShardID != "shardId-000000000000" || res.ExecutionID != "wc-1" {
		t.Errorf("publish result = %+v", res)
	}
	var got []map[string]any
	eventually(t, 3*time.Minute, "no FileSummarized", func() bool {
		got = streamEvents(t, rt, "FileSummarized")
		return len(got) > 0
	})
	if diff := cmp.Diff([]map[string]any{want}, got); diff != "" {
		t.Errorf("FileSummarized (-want +got):\n%s", diff)
	}
	waitIdle(t, rt, 3*time.Minute)

	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	var events []string
	for _, e := range trackerEntries(t, rt.Logs(), "compute_word_count", "wc-1") {
		events = append(events, e.EventName)
	}
	if diff := cmp.Diff(flow, events); diff != "" {
		t.Errorf("tracked events (-want +got):\n%s", diff)
	}

	// track reads the local log store as it reads CloudWatch Logs.
	rep, err := track.Track(context.Background(), rt.Logs(), c, "compute_word_count", "wc-1", track.Options{Limiter: track.NewLimiter(0)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != track.StatusFinished {
		t.Errorf("track status = %s, want finished", rep.Status)
	}
	for _, e := range rep.Events {
		if e.State != track.StateReceived {
			t.Errorf("track: %s is %s", e.Name, e.State)
		}
	}

	// The summarizer printed the summary in its own log group, between
	// Lambda's START and END lines of its invocation.
	lines := groupLines(t, rt.Logs(), "/aws/lambda/lambda_summarizer", "")
	joined := strings.Join(lines, "\n")
	for _, s := range []string{"INIT_START Runtime Version: python3.12", "START RequestId: ", "[lambda_summarizer] execution_id=wc-1 summary: ", "END RequestId: ", "REPORT RequestId: "} {
		if !strings.Contains(joined, s) {
			t.Errorf("lambda_summarizer's log lacks %q:\n%s", s, joined)
		}
	}
	order := []string{"START RequestId", "summary: ", "END RequestId", "REPORT RequestId"}
	at := 0
	for _, l := range lines {
		if at < len(order) && strings.Contains(l, order[at]) {
			at++
		}
	}
	if at != len(order) {
		t.Errorf("lambda_summarizer's log is not START, summary, END, REPORT in that order:\n%s", joined)
	}
}
