// Package trackerbench measures the tracker Lambda's handler
// (tracker.Handler) against CloudWatch Logs: how many API calls it makes
// per record and how many records per second it writes, for the batch the
// issue names, 1,000 Kinesis records across 10 executions.
package trackerbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// Options shape a run.
type Options struct {
	Records    int // per batch (default 1000)
	Executions int // executions the batch is spread over (default 10)
	Rounds     int // batches per case (default 5)
}

// Case is one measured situation.
type Case struct {
	Name string
	// Per batch, medians over the rounds.
	CreateLogStream, PutLogEvents int
	CallsPerRecord                float64
	RecordsPerSecond              float64
	Batch                         time.Duration
}

// counting wraps the client and counts its calls.
type counting struct {
	c             *cloudwatchlogs.Client
	creates, puts atomic.Int64
}

func (c *counting) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opt ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	c.creates.Add(1)
	return c.c.CreateLogStream(ctx, in, opt...)
}

func (c *counting) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opt ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	c.puts.Add(1)
	return c.c.PutLogEvents(ctx, in, opt...)
}

// Run creates a tracking log group, measures two cases and deletes the
// group: batches of new executions (each execution's log stream is created,
// as in the first batch after a workflow starts) and batches of executions
// the container has already seen (the steady state).
func Run(ctx context.Context, client *cloudwatchlogs.Client, o Options) ([]Case, error) {
	if o.Records <= 0 {
		o.Records = 1000
	}
	if o.Executions <= 0 {
		o.Executions = 10
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	group := fmt.Sprintf("/xFlow/track/bench-%d", time.Now().UnixNano())
	if _, err := client.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		return nil, fmt.Errorf("create log group: %w", err)
	}
	defer client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})

	api := &counting{c: client}
	h := &tracker.Handler{Logs: api, LogGroup: group, Names: names.New(""), Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	seq := 0
	t0 := time.Now().Add(-time.Hour)
	batch := func(execPrefix string) events.KinesisEvent {
		var ev events.KinesisEvent
		for i := 0; i < o.Records; i++ {
			seq++
			ev.Records = append(ev.Records, events.KinesisEventRecord{
				EventID:        fmt.Sprintf("shardId-000000000000:%056d", seq),
				EventSource:    "aws:kinesis",
				EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/Event00001",
				Kinesis: events.KinesisRecord{
					ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: t0.Add(time.Duration(seq) * time.Millisecond)},
					Data:                        []byte(fmt.Sprintf(`{"execution_id":"%s-%d","step":%d}`, execPrefix, i%o.Executions, i)),
					SequenceNumber:              fmt.Sprintf("%056d", seq),
				},
			})
		}
		return ev
	}
	measure := func(name string, prefix func(round int) string) (Case, error) {
		var walls []time.Duration
		var creates, puts []int
		for r := 0; r < o.Rounds; r++ {
			ev := batch(prefix(r))
			c0, p0 := api.creates.Load(), api.puts.Load()
			start := time.Now()
			resp, err := h.Handle(ctx, ev)
			wall := time.Since(start)
			if err != nil {
				return Case{}, err
			}
			if n := len(resp.BatchItemFailures); n > 0 {
				return Case{}, fmt.Errorf("%s: %d batch item failures", name, n)
			}
			walls = append(walls, wall)
			creates = append(creates, int(api.creates.Load()-c0))
			puts = append(puts, int(api.puts.Load()-p0))
		}
		slices.Sort(walls)
		slices.Sort(creates)
		slices.Sort(puts)
		m := walls[len(walls)/2]
		c := Case{Name: name, CreateLogStream: creates[len(creates)/2], PutLogEvents: puts[len(puts)/2], Batch: m}
		c.CallsPerRecord = float64(c.CreateLogStream+c.PutLogEvents) / float64(o.Records)
		c.RecordsPerSecond = float64(o.Records) / m.Seconds()
		return c, nil
	}
	fresh, err := measure("new executions (first batch)", func(r int) string { return fmt.Sprintf("ex%d", r) })
	if err != nil {
		return nil, err
	}
	// Warm the steady-state executions once, then measure.
	if _, err := h.Handle(ctx, batch("steady")); err != nil {
		return nil, err
	}
	steady, err := measure("known executions (later batches)", func(int) string { return "steady" })
	if err != nil {
		return nil, err
	}
	return []Case{fresh, steady}, nil
}
