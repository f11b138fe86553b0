package track

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// streamsLogs is fakeLogs with DescribeLogStreams, by last event time, as
// the CloudWatch Logs client and the local log store have it.
type streamsLogs struct{ *fakeLogs }

func (s streamsLogs) DescribeLogStreams(_ context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	streams, ok := s.groups[aws.ToString(in.LogGroupName)]
	if !ok {
		return nil, notFound()
	}
	var best types.LogStream
	for name, evs := range streams {
		for _, e := range evs {
			if e.ms > aws.ToInt64(best.LastEventTimestamp) {
				best = types.LogStream{LogStreamName: aws.String(name), LastEventTimestamp: aws.Int64(e.ms), LastIngestionTime: aws.Int64(e.ms)}
			}
		}
	}
	out := &cloudwatchlogs.DescribeLogStreamsOutput{}
	if best.LogStreamName != nil {
		out.LogStreams = []types.LogStream{best}
	}
	return out, nil
}

// TestCheckTracker: when an execution is not found or in progress and the
// tracker is what fails (an error line in its log group since the
// execution's first event, batches in its failure queue, a disabled
// mapping, lagging behind), the report says the tracker is failing, in
// text and JSON; a tracker that recovered, one whose error is older than
// the window, and a finished execution are left as they are.
func TestCheckTracker(t *testing.T) {
	const (
		group   = "/xFlow/track/p-compute_word_count"
		trk     = "/aws/lambda/p-tracker_compute_word_count"
		dockErr = "error running docker: Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
		goErr   = `{"time":"2026-05-01T10:00:04Z","level":"ERROR","msg":"write failed; Lambda will retry these records","error":"AccessDeniedException: not authorized to perform logs:PutLogEvents"}`
	)
	two, zero := 2, 0
	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	cases := []struct {
		name       string
		setup      func(f *fakeLogs)
		state      *TrackerState
		execution  string
		wantStatus Status
		wantReason string   // "" when not failing
		wantText   []string // in the text report
	}{
		{
			name:       "not found, the tracker's log holds an error",
			setup:      func(f *fakeLogs) { f.put(trk, "s1", now.Add(-time.Minute), dockErr) },
			execution:  "ex-new",
			wantStatus: StatusTrackerFailing,
			wantReason: dockErr,
			wantText: []string{
				"workflow compute_word_count, execution ex-new: the tracker of this workflow is failing: " + dockErr + "\n",
				"track reads what the tracker p-tracker_compute_word_count writes",
			},
		},
		{
			name: "in progress, the tracker fails since",
			setup: func(f *fakeLogs) {
				f.entry(group, "ex2", at(0), "FileUploaded", "1")
				f.put(trk, "s1", at(1), "START RequestId: "+req1)
				f.put(trk, "s1", at(4), goErr)
			},
			execution:  "ex2",
			wantStatus: StatusTrackerFailing,
			wantReason: goErr,
			wantText:   []string{"execution ex2: the tracker of this workflow is failing: {", "1 of 6 events received so far:", "  ✓ FileUploaded"},
		},
		{
			name: "the tracker wrote after its error: recovered",
			setup: func(f *fakeLogs) {
				f.put(trk, "s1", now.Add(-5*time.Minute), dockErr)
				f.entry(group, "other", now.Add(-time.Minute), "FileUploaded", "9")
			},
			execution:  "ex-new",
			wantStatus: StatusNotFound,
			wantText:   []string{"execution ex-new: not found"},
		},
		{
			name:       "an error older than the window",
			setup:      func(f *fakeLogs) { f.put(trk, "s1", now.Add(-7*time.Hour), dockErr) },
			execution:  "ex-new",
			wantStatus: StatusNotFound,
		},
		{
			name:       "batches in its failure queue",
			setup:      func(f *fakeLogs) {},
			state:      &TrackerState{FailureQueue: "https://sqs/q", FailureQueueDepth: &two},
			execution:  "ex-new",
			wantStatus: StatusTrackerFailing,
			wantReason: "it gave up on 2 batches of records, whose descriptions wait in its failure queue https://sqs/q",
			wantText:   []string{"its failure queue https://sqs/q holds 2 batches it gave up on"},
		},
		{
			name:       "a disabled mapping",
			setup:      func(f *fakeLogs) {},
			state:      &TrackerState{FailureQueueDepth: &zero, Mappings: []TrackerMapping{{Stream: "p-FileUploaded", State: "Enabled"}, {Stream: "p-FileParsed", State: "Disabled", StateReason: "USER_INITIATED"}}},
			execution:  "ex-new",
			wantStatus: StatusTrackerFailing,
			wantReason: "its mapping from stream p-FileParsed is disabled (USER_INITIATED)",
			wantText:   []string{"its mapping from stream p-FileParsed: Disabled (USER_INITIATED)"},
		},
		{
			name:       "far behind its streams",
			setup:      func(f *fakeLogs) {},
			state:      &TrackerState{IteratorAgeMs: aws.Int64(int64(20 * time.Minute / time.Millisecond))},
			execution:  "ex-new",
			wantStatus: StatusTrackerFailing,
			wantReason: "it is 20m0s behind its streams (iterator age), more than 5m0s",
		},
		{
			name:       "healthy",
			setup:      func(f *fakeLogs) { f.put(trk, "s1", now.Add(-time.Minute), "START RequestId: "+req1) },
			state:      &TrackerState{FailureQueueDepth: &zero, Mappings: []TrackerMapping{{Stream: "p-FileUploaded", State: "Enabled", LastProcessingResult: "OK"}}},
			execution:  "ex-new",
			wantStatus: StatusNotFound,
		},
		{
			name: "finished: not checked",
			setup: func(f *fakeLogs) {
				for i, e := range flow {
					f.entry(group, "ex3", at(i), e, itoa(i))
				}
				f.put(trk, "s1", now.Add(-time.Minute), dockErr)
			},
			execution:  "ex3",
			wantStatus: StatusFinished,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLogs()
			f.put(group, "seed", t0.Add(-24*time.Hour), `{"event_name":"FileUploaded","sequence_number":"0","shard_id":"s","event":{"execution_id":"seed"}}`)
			c.setup(f)
			api := streamsLogs{f}
			cfg := wordcount(t, "p-")
			lim := (&instant{}).limiter()
			rep, err := Track(context.Background(), api, cfg, "compute_word_count", c.execution, Options{Now: func() time.Time { return now }, Limiter: lim})
			if err != nil {
				t.Fatal(err)
			}
			var state func(context.Context, string) (*TrackerState, error)
			if c.state != nil {
				state = func(_ context.Context, tracker string) (*TrackerState, error) {
					if tracker != "p-tracker_compute_word_count" {
						t.Errorf("state asked for %q", tracker)
					}
					return c.state, nil
				}
			}
			if err := CheckTracker(context.Background(), api, cfg, rep, HealthOptions{Now: func() time.Time { return now }, Limiter: lim, State: state}); err != nil {
				t.Fatal(err)
			}
			if rep.Status != c.wantStatus {
				t.Errorf("status %s, want %s", rep.Status, c.wantStatus)
			}
			if c.wantStatus == StatusFinished {
				if rep.Tracker != nil {
					t.Errorf("a finished execution's tracker was checked: %+v", rep.Tracker)
				}
				return
			}
			if rep.Tracker == nil {
				t.Fatal("the tracker was not checked")
			}
			if rep.Tracker.Failing != (c.wantReason != "") || rep.Tracker.Reason != c.wantReason {
				t.Errorf("failing %v, reason %q; want reason %q", rep.Tracker.Failing, rep.Tracker.Reason, c.wantReason)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.wantText {
				if !strings.Contains(text.String(), w) {
					t.Errorf("text lacks %q:\n%s", w, text.String())
				}
			}
			var js bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Status  Status `json:"status"`
				Tracker struct {
					Function string `json:"function"`
					Failing  bool   `json:"failing"`
					Reason   string `json:"reason"`
					Since    string `json:"since"`
				} `json:"tracker"`
			}
			if err := json.Unmarshal(js.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != c.wantStatus || got.Tracker.Failing != (c.wantReason != "") || got.Tracker.Reason != c.wantReason ||
				got.Tracker.Function != "p-tracker_compute_word_count" || got.Tracker.Since == "" {
				t.Errorf("JSON: %s", js.String())
			}
		})
	}
}
