package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// xflow runs the CLI in-process and returns its exit status and output.
func xflow(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestPublishTrackOnMoto goes through the CLI end to end on moto:
// publish (argument and stdin), the tracker fed as Lambda would, then
// track in text and JSON, for an execution, an unknown one and an unknown
// workflow.
func TestPublishTrackOnMoto(t *testing.T) {
	cfg := awstest.Config(t) // skips without AWS_ENDPOINT_URL
	ctx := context.Background()
	prefix := awstest.Unique("cli") + "-"
	scheme := names.New(prefix)

	// The wordcount example under a unique prefix, its sources where they
	// are.
	example, err := filepath.Abs("../../examples/wordcount")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(example, "xflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "\ngeneral:\n", "\ngeneral:\n  name_prefix: "+prefix+"\n", 1)
	text = regexp.MustCompile(`source: (lambda_\w+)\n`).ReplaceAllString(text, "source: "+example+"/$1\n")
	file := filepath.Join(t.TempDir(), "xflow.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	kin := kinesis.NewFromConfig(cfg)
	logs := cloudwatchlogs.NewFromConfig(cfg)
	flow := []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	var streams []string
	for _, e := range flow {
		streams = append(streams, scheme.Stream(e))
	}
	kinesistest.CreateStreams(t, kin, streams...)
	group := scheme.TrackerLogGroup("compute_word_count")
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})

	published := regexp.MustCompile(`^published (\w+) for execution ex-cli: stream ` + regexp.QuoteMeta(prefix) + `(\w+), shard (shardId-\d+), sequence number (\d+)\n$`)
	code, out, errOut := xflow(t, `{"execution_id": "ex-cli", "file_url": "s3://bucket/a.txt"}`, "publish", "-c", file, "FileUploaded")
	if code != 0 || !published.MatchString(out) {
		t.Fatalf("publish from stdin: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, e := range flow[1:3] {
		code, out, errOut := xflow(t, "", "publish", "-c", file, e, `{"execution_id": "ex-cli", "step": "`+e+`"}`)
		m := published.FindStringSubmatch(out)
		if code != 0 || m == nil || m[1] != e || m[2] != e {
			t.Fatalf("publish %s: exit %d\nstdout: %s\nstderr: %s", e, code, out, errOut)
		}
	}

	// The tracker, as Lambda would run it on each stream's batch.
	h := &tracker.Handler{Logs: logs, LogGroup: group, Names: scheme, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, e := range flow[:3] {
		recs := kinesistest.Read(t, kin, scheme.Stream(e))
		if len(recs) != 1 || aws.ToString(recs[0].PartitionKey) != "ex-cli" {
			t.Fatalf("%s holds %d records (partition key %q), want 1 keyed ex-cli", e, len(recs), aws.ToString(recs[0].PartitionKey))
		}
		resp, err := h.Handle(ctx, kinesistest.Event(t, cfg.Region, recs))
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("tracker: %v %+v", err, resp.BatchItemFailures)
		}
	}

	code, out, errOut = xflow(t, "", "track", "-c", file, "compute_word_count", "ex-cli")
	if code != 0 {
		t.Fatalf("track: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"workflow compute_word_count, execution ex-cli: in progress, 3 of 6 events received\n",
		"  ✓ FileParsed ", "  · FileFiltered\n",
		"next expected: FileFiltered, produced by: " + prefix + "lambda_filter\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("track output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = xflow(t, "", "track", "-c", file, "compute_word_count", "ex-cli", "--json")
	if code != 0 {
		t.Fatalf("track --json: exit %d\n%s", code, errOut)
	}
	var rep struct {
		EventsDefined   map[string]string `json:"events_defined"`
		EventsReceived  []json.RawMessage `json:"events_received"`
		TrackingSummary struct {
			LastReceivedEvent string   `json:"last_received_event"`
			Subscribers       []string `json:"subscribers"`
			ExecutionPath     string   `json:"execution_path"`
		} `json:"tracking_summary"`
		Status            string `json:"status"`
		NextExpectedEvent string `json:"next_expected_event"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("track --json is not JSON: %v\n%s", err, out)
	}
	if rep.Status != "in_progress" || len(rep.EventsReceived) != 3 || rep.NextExpectedEvent != "FileFiltered" ||
		rep.TrackingSummary.LastReceivedEvent != "FileParsed" || rep.EventsDefined["FileFiltered"] != "uknown_state" ||
		!strings.Contains(rep.TrackingSummary.ExecutionPath, "FileParsed ---> X - - -> FileFiltered") {
		t.Errorf("track --json: %+v", rep)
	}

	code, out, _ = xflow(t, "", "track", "-c", file, "compute_word_count", "ex-unknown")
	if code != 0 || !strings.Contains(out, "execution ex-unknown: not found: none of its events were seen in "+group) {
		t.Errorf("unknown execution: exit %d, want 0\n%s", code, out)
	}
	code, _, errOut = xflow(t, "", "track", "-c", file, "compute_wordcount", "ex-cli")
	if code != 1 || !strings.Contains(errOut, `did you mean "compute_word_count"?`) {
		t.Errorf("unknown workflow: exit %d, want 1\n%s", code, errOut)
	}
	code, _, errOut = xflow(t, "", "track", "-c", file, "compute_word_count", "a*b")
	if code != 2 {
		t.Errorf("invalid execution id: exit %d, want 2 (usage)\n%s", code, errOut)
	}
}
