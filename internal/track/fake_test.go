package track

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/tracker"
)

// fakeLogs is CloudWatch Logs in memory, with AWS's paging: GetLogEvents
// hands back the token it was given at the end of a stream, and may return
// an empty page before it; FilterLogEvents ignores the pattern, as moto
// does for the patterns track sends. It can throttle the first calls.
type fakeLogs struct {
	mu       sync.Mutex
	groups   map[string]map[string][]fakeEvent // group → stream → events
	pageSize int                               // events per page; 0 means all
	// emptyFirst makes GetLogEvents answer an empty page with a new token
	// before the first events, as AWS may.
	emptyFirst bool
	// throttle is how many calls of each operation fail with
	// ThrottlingException before one succeeds.
	throttle map[string]int
	// denyFilter refuses FilterLogEvents on these log groups, as an IAM
	// policy scoped by resource would.
	denyFilter map[string]bool

	calls   map[string]int
	filters []*cloudwatchlogs.FilterLogEventsInput
}

type fakeEvent struct {
	ms  int64
	msg string
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{groups: map[string]map[string][]fakeEvent{}, throttle: map[string]int{}, calls: map[string]int{}}
}

func (f *fakeLogs) put(group, stream string, at time.Time, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[group] == nil {
		f.groups[group] = map[string][]fakeEvent{}
	}
	f.groups[group][stream] = append(f.groups[group][stream], fakeEvent{at.UnixMilli(), msg})
}

// entry puts a tracker entry in an execution's stream.
func (f *fakeLogs) entry(group, execution string, at time.Time, event, seq string) {
	payload := fmt.Sprintf(`{"execution_id":%q,"n":%q}`, execution, seq)
	e := tracker.Entry{EventName: event, SequenceNumber: seq, ShardID: "shardId-000000000000", Event: json.RawMessage(payload)}
	b, _ := json.Marshal(e)
	f.put(group, execution, at, string(b))
}

func (f *fakeLogs) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeLogs) called(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.throttle[op] > 0 {
		f.throttle[op]--
		return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	return nil
}

// notFound is CloudWatch Logs' error for a missing log group, or a
// missing stream of an existing group.
func notFound() error {
	return &types.ResourceNotFoundException{Message: aws.String("The specified log group does not exist.")}
}

func streamNotFound() error {
	return &types.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
}

func (f *fakeLogs) GetLogEvents(_ context.Context, in *cloudwatchlogs.GetLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	if err := f.called("GetLogEvents"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !aws.ToBool(in.StartFromHead) {
		return nil, fmt.Errorf("track must read from the head")
	}
	streams, ok := f.groups[aws.ToString(in.LogGroupName)]
	if !ok {
		return nil, notFound()
	}
	evs, ok := streams[aws.ToString(in.LogStreamName)]
	if !ok {
		return nil, streamNotFound()
	}
	// Tokens: "f/<index of the next event>", "e/<n>" for an empty page.
	tok := aws.ToString(in.NextToken)
	from := 0
	switch {
	case tok == "" && f.emptyFirst:
		return &cloudwatchlogs.GetLogEventsOutput{NextForwardToken: aws.String("e/0")}, nil
	case strings.HasPrefix(tok, "f/"):
		from, _ = strconv.Atoi(tok[2:])
	}
	to := len(evs)
	if f.pageSize > 0 {
		to = min(len(evs), from+f.pageSize)
	}
	out := &cloudwatchlogs.GetLogEventsOutput{NextForwardToken: aws.String(fmt.Sprintf("f/%d", to))}
	for _, e := range evs[from:to] {
		out.Events = append(out.Events, types.OutputLogEvent{Timestamp: aws.Int64(e.ms), Message: aws.String(e.msg)})
	}
	return out, nil
}

func (f *fakeLogs) FilterLogEvents(_ context.Context, in *cloudwatchlogs.FilterLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	if err := f.called("FilterLogEvents"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, in)
	if f.denyFilter[aws.ToString(in.LogGroupName)] {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: logs:FilterLogEvents"}
	}
	streams, ok := f.groups[aws.ToString(in.LogGroupName)]
	if !ok {
		return nil, notFound()
	}
	var all []types.FilteredLogEvent
	for name, evs := range streams {
		for _, e := range evs {
			if e.ms >= aws.ToInt64(in.StartTime) && e.ms <= aws.ToInt64(in.EndTime) {
				all = append(all, types.FilteredLogEvent{Timestamp: aws.Int64(e.ms), Message: aws.String(e.msg), LogStreamName: aws.String(name)})
			}
		}
	}
	from, _ := strconv.Atoi(aws.ToString(in.NextToken))
	to := len(all)
	if f.pageSize > 0 {
		to = min(len(all), from+f.pageSize)
	}
	out := &cloudwatchlogs.FilterLogEventsOutput{Events: all[from:to]}
	if to < len(all) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

// wordcount is the example's config, with a prefix.
func wordcount(t *testing.T, prefix string) *config.Config {
	t.Helper()
	c := &config.Config{File: "examples/wordcount/xflow.yaml", General: config.General{NamePrefix: prefix}}
	steps := []struct{ event, lambda string }{
		{"FileUploaded", "lambda_reader"},
		{"FileDownloaded", "lambda_parser"},
		{"FileParsed", "lambda_filter"},
		{"FileFiltered", "lambda_aggregator"},
		{"FileAggregated", "lambda_summarizer"},
		{"FileSummarized", ""},
	}
	var flow []string
	for _, s := range steps {
		sub := config.Subscription{Event: s.event}
		if s.lambda != "" {
			c.Lambdas = append(c.Lambdas, config.Lambda{Name: s.lambda})
			sub.Subscribers = []config.Subscriber{{Lambda: s.lambda}}
		}
		c.Subscriptions = append(c.Subscriptions, sub)
		flow = append(flow, s.event)
	}
	c.Subscriptions = append(c.Subscriptions, config.Subscription{Event: "FileArchived"})
	c.Workflows = []config.Workflow{
		{ID: "compute_word_count", Flow: flow},
		{ID: "archive", Flow: []string{"FileArchived"}},
	}
	return c
}

// instant is a Limiter that never waits and records the waits asked.
type instant struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (i *instant) limiter() *Limiter {
	l := NewLimiter(DefaultRate)
	l.sleep = func(ctx context.Context, d time.Duration) error {
		i.mu.Lock()
		i.waits = append(i.waits, d)
		i.mu.Unlock()
		return ctx.Err()
	}
	return l
}

func (i *instant) total() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	var t time.Duration
	for _, w := range i.waits {
		t += w
	}
	return t
}

// Fixed times of the fake tests.
var (
	t0  = time.Date(2026, 5, 1, 10, 0, 0, 123e6, time.UTC)
	now = t0.Add(10 * time.Minute)
)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
