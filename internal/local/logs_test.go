package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/google/go-cmp/cmp"
)

var ctx = context.Background()

func newLogs(t *testing.T, group string, streams ...string) *Logs {
	t.Helper()
	l, err := OpenLogs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		if _, err := l.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// put puts events given as timestamp/message pairs in one call.
func put(t *testing.T, l *Logs, group, stream string, evs ...any) {
	t.Helper()
	var in []types.InputLogEvent
	for i := 0; i < len(evs); i += 2 {
		in = append(in, types.InputLogEvent{Timestamp: aws.Int64(int64(evs[i].(int))), Message: aws.String(evs[i+1].(string))})
	}
	if _, err := l.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: in}); err != nil {
		t.Fatal(err)
	}
}

func messages[E types.OutputLogEvent | types.FilteredLogEvent](evs []E) []string {
	out := []string{}
	for _, e := range evs {
		switch e := any(e).(type) {
		case types.OutputLogEvent:
			out = append(out, *e.Message)
		case types.FilteredLogEvent:
			out = append(out, *e.Message)
		}
	}
	return out
}

// base is a recent time, so that events are neither too old nor too new.
var base = int(time.Now().UnixMilli())

func TestGetLogEvents(t *testing.T) {
	const g, s = "/xFlow/track/wf", "ex-1"
	l := newLogs(t, g, s)
	// Two calls, the later one with earlier events: reads are by time.
	put(t, l, g, s, base+3, "c", base+4, "d")
	put(t, l, g, s, base+1, "a", base+2, "b", base+4, "d2")

	get := func(in cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName = aws.String(g), aws.String(s)
		out, err := l.GetLogEvents(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true)})
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "d2"}, messages(all.Events)); diff != "" {
		t.Errorf("from head (-want +got):\n%s", diff)
	}

	// Forward paging ends when the token comes back unchanged.
	var pages [][]string
	var token *string
	for range 10 {
		out := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(2), NextToken: token})
		if token != nil && *out.NextForwardToken == *token {
			if len(out.Events) != 0 {
				t.Errorf("the last page holds %v", messages(out.Events))
			}
			break
		}
		pages = append(pages, messages(out.Events))
		token = out.NextForwardToken
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"c", "d"}, {"d2"}}, pages); diff != "" {
		t.Errorf("forward pages (-want +got):\n%s", diff)
	}
	// An event put after the end is found by the last token.
	put(t, l, g, s, base+5, "e")
	if got := messages(get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), NextToken: token}).Events); !slices.Equal(got, []string{"e"}) {
		t.Errorf("after the last token: %v, want [e]", got)
	}

	// Without StartFromHead, the last page; then backwards.
	last := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(2)})
	if got := messages(last.Events); !slices.Equal(got, []string{"d2", "e"}) {
		t.Errorf("last page %v, want [d2 e]", got)
	}
	prev := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(2), NextToken: last.NextBackwardToken})
	if got := messages(prev.Events); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("page before %v, want [c d]", got)
	}

	// StartTime inclusive, EndTime exclusive.
	win := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), StartTime: aws.Int64(int64(base + 2)), EndTime: aws.Int64(int64(base + 4))})
	if got := messages(win.Events); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("window: %v, want [b c]", got)
	}
}

func TestLogsErrors(t *testing.T) {
	const g = "/aws/lambda/f"
	l := newLogs(t, g, "s")
	var nf *types.ResourceNotFoundException
	var exists *types.ResourceAlreadyExistsException
	var invalid *types.InvalidParameterException
	cases := []struct {
		name   string
		err    error
		target any
	}{
		{"read a missing group", second(l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/nope"), LogStreamName: aws.String("s")})), &nf},
		{"read a missing stream", second(l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("nope")})), &nf},
		{"filter a missing group", second(l.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/nope")})), &nf},
		{"create a stream twice", second(l.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(g), LogStreamName: aws.String("s")})), &exists},
		{"create a stream in a missing group", second(l.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/nope"), LogStreamName: aws.String("s")})), &nf},
		{"put to a missing stream", second(l.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("nope"),
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(int64(base)), Message: aws.String("m")}}})), &nf},
		{"put out of order", second(l.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("s"),
			LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(int64(base + 1)), Message: aws.String("m")}, {Timestamp: aws.Int64(int64(base)), Message: aws.String("m")}}})), &invalid},
		{"a JSON filter pattern", second(l.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(g), FilterPattern: aws.String(`{ $.level = "ERROR" }`)})), &invalid},
		{"a bad token", second(l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String("s"), NextToken: aws.String("x")})), &invalid},
	}
	for _, c := range cases {
		if !errors.As(c.err, c.target) {
			t.Errorf("%s: %v (%T), want %T", c.name, c.err, c.err, c.target)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestPutLogEventsRejects(t *testing.T) {
	const g, s = "/g", "s"
	l := newLogs(t, g, s)
	old := int(time.Now().Add(-15 * 24 * time.Hour).UnixMilli())
	future := int(time.Now().Add(3 * time.Hour).UnixMilli())
	out, err := l.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s), LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(int64(old)), Message: aws.String("old")},
		{Timestamp: aws.Int64(int64(old + 1)), Message: aws.String("old too")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.RejectedLogEventsInfo == nil || aws.ToInt32(out.RejectedLogEventsInfo.TooOldLogEventEndIndex) != 2 {
		t.Errorf("RejectedLogEventsInfo = %+v, want TooOldLogEventEndIndex 2", out.RejectedLogEventsInfo)
	}
	put(t, l, g, s, base, "ok")
	out, _ = l.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s), LogEvents: []types.InputLogEvent{
		{Timestamp: aws.Int64(int64(future)), Message: aws.String("new")},
	}})
	if out.RejectedLogEventsInfo == nil || aws.ToInt32(out.RejectedLogEventsInfo.TooNewLogEventStartIndex) != 0 {
		t.Errorf("RejectedLogEventsInfo = %+v, want TooNewLogEventStartIndex 0", out.RejectedLogEventsInfo)
	}
	got, _ := l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s), StartFromHead: aws.Bool(true)})
	if m := messages(got.Events); !slices.Equal(m, []string{"ok"}) {
		t.Errorf("stored %v, want only [ok]", m)
	}
}

func TestFilterLogEvents(t *testing.T) {
	const g = "/aws/lambda/f"
	l := newLogs(t, g, "w1", "w2")
	put(t, l, g, "w1", base+1, "START RequestId: r1", base+3, "execution ex1 failed", base+5, "DEBUG ex1 details", base+7, "2026 r9 Task timed out after 3.00 seconds")
	put(t, l, g, "w2", base+2, "id=ex10 ok", base+4, "[ERROR] boom ex1\nTraceback (most recent call last):\n  File x", base+6, "other")

	filter := func(pattern string, in cloudwatchlogs.FilterLogEventsInput) []string {
		t.Helper()
		in.LogGroupName, in.FilterPattern = aws.String(g), aws.String(pattern)
		out, err := l.FilterLogEvents(ctx, &in)
		if err != nil {
			t.Fatalf("pattern %q: %v", pattern, err)
		}
		return messages(out.Events)
	}
	cases := []struct {
		pattern string
		want    []string
	}{
		{"", []string{"START RequestId: r1", "id=ex10 ok", "execution ex1 failed", "[ERROR] boom ex1\nTraceback (most recent call last):\n  File x", "DEBUG ex1 details", "other", "2026 r9 Task timed out after 3.00 seconds"}},
		// A quoted term is a case-sensitive substring, as on CloudWatch:
		// "ex1" is in "ex10" too; callers match words themselves.
		{`"ex1"`, []string{"id=ex10 ok", "execution ex1 failed", "[ERROR] boom ex1\nTraceback (most recent call last):\n  File x", "DEBUG ex1 details"}},
		{`"EX1"`, []string{}},
		{`?"ex1 " ?"Task timed out"`, []string{"execution ex1 failed", "DEBUG ex1 details", "2026 r9 Task timed out after 3.00 seconds"}},
		{`ex1 -DEBUG -ex10`, []string{"execution ex1 failed", "[ERROR] boom ex1\nTraceback (most recent call last):\n  File x"}},
		{`"[ERROR]" Traceback`, []string{"[ERROR] boom ex1\nTraceback (most recent call last):\n  File x"}},
		{`%ex1\b%`, []string{"execution ex1 failed", "[ERROR] boom ex1\nTraceback (most recent call last):\n  File x", "DEBUG ex1 details"}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, filter(c.pattern, cloudwatchlogs.FilterLogEventsInput{})); diff != "" {
			t.Errorf("pattern %q (-want +got):\n%s", c.pattern, diff)
		}
	}
	// Time window, both ends inclusive; named streams.
	if got := filter("", cloudwatchlogs.FilterLogEventsInput{StartTime: aws.Int64(int64(base + 2)), EndTime: aws.Int64(int64(base + 4))}); len(got) != 3 {
		t.Errorf("window [2, 4]: %v", got)
	}
	if got := filter("", cloudwatchlogs.FilterLogEventsInput{LogStreamNames: []string{"w2"}}); len(got) != 3 {
		t.Errorf("stream w2: %v", got)
	}

	// Paging: pages of 3 in time order across streams, then no token.
	var got []string
	var token *string
	for range 10 {
		out, err := l.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(g), Limit: aws.Int32(3), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, messages(out.Events)...)
		for _, e := range out.Events {
			if aws.ToString(e.LogStreamName) == "" || aws.ToString(e.EventId) == "" {
				t.Errorf("event without stream or id: %+v", e)
			}
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	if len(got) != 7 || got[0] != "START RequestId: r1" || got[6] != "2026 r9 Task timed out after 3.00 seconds" {
		t.Errorf("paged: %v", got)
	}
}

// TestLogNames: names with slashes, dots, brackets and more than a file
// name can hold come back as they were written.
func TestLogNames(t *testing.T) {
	const g = "/aws/lambda/f"
	long := strings.Repeat("x", 400)
	streams := []string{"2026/05/01/[$LATEST]abc", "..", ".hidden", "a%2Fb", long}
	l := newLogs(t, g, streams...)
	for i, s := range streams {
		put(t, l, g, s, base+i, "in "+s)
		out, err := l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(s), StartFromHead: aws.Bool(true)})
		if err != nil || len(out.Events) != 1 || *out.Events[0].Message != "in "+s {
			t.Errorf("stream %.20q: %v %v", s, err, out)
		}
	}
	out, err := l.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(g)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range out.LogStreams {
		names = append(names, *s.LogStreamName)
	}
	want := slices.Clone(streams)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("DescribeLogStreams names: %.60q", names)
	}
	// A group is not a stream of its parent, nor the other way round.
	if _, err := l.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/aws/lambda")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/aws/lambda"), LogStreamName: aws.String("f")}); err != nil {
		t.Errorf("stream f beside group /aws/lambda/f: %v", err)
	}
}

func TestDescribeLogStreamsByLastEvent(t *testing.T) {
	const g = "/xFlow/track/wf"
	l := newLogs(t, g, "ex-a", "ex-b", "ex-c")
	put(t, l, g, "ex-a", base+5, "m")
	put(t, l, g, "ex-b", base+9, "m")
	put(t, l, g, "ex-c", base+1, "m", base+7, "m")
	var names []string
	var token *string
	for range 5 {
		out, err := l.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(g),
			OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.LogStreams {
			names = append(names, *s.LogStreamName)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if !slices.Equal(names, []string{"ex-b", "ex-c", "ex-a"}) {
		t.Errorf("newest first: %v, want [ex-b ex-c ex-a]", names)
	}
}

// TestManyStreams writes more streams at once than the store keeps open.
func TestManyStreams(t *testing.T) {
	const g = "/xFlow/track/wf"
	l := newLogs(t, g)
	const n = 3 * maxOpenLogFiles
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- l.write(g, fmt.Sprintf("ex-%d", i), time.Now(), "one", "two")
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		out, err := l.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(g), LogStreamName: aws.String(fmt.Sprintf("ex-%d", i)), StartFromHead: aws.Bool(true)})
		if err != nil || len(out.Events) != 2 {
			t.Fatalf("ex-%d: %v %v", i, err, out)
		}
	}
}
