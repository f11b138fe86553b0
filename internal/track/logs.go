package track

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

// DefaultRate is the calls per second a Limiter allows by default:
// CloudWatch Logs' quota for GetLogEvents and FilterLogEvents is about 5 per
// second per account.
const DefaultRate = 5

// Throttling. The SDK's retryer (internal/awsconfig) already retries a
// throttled call; on top of that a call still throttled slows every call
// sharing the Limiter, then is tried again.
const (
	maxAttempts   = 4
	firstThrottle = time.Second
)

// maxPages stops a read whose token never repeats, which AWS guarantees
// it eventually does.
const maxPages = 10_000

// Limiter spaces calls evenly: at most one call per 1/rate seconds, the
// first one at once. After a throttling error it holds every caller back
// for a while. It is safe for concurrent use; share one among the Track
// calls of one account.
type Limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time // earliest time of the next call

	// sleep waits; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewLimiter returns a Limiter of rate calls per second; rate <= 0 means
// no limit.
func NewLimiter(rate float64) *Limiter {
	l := &Limiter{}
	if rate > 0 {
		l.interval = time.Duration(float64(time.Second) / rate)
	}
	return l
}

// Wait blocks until the caller may make a call, or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := now
	if l.next.After(at) {
		at = l.next
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return l.wait(ctx, d)
	}
	return ctx.Err()
}

// hold delays every call for d from now.
func (l *Limiter) hold(d time.Duration) {
	l.mu.Lock()
	if t := time.Now().Add(d); t.After(l.next) {
		l.next = t
	}
	l.mu.Unlock()
}

func (l *Limiter) wait(ctx context.Context, d time.Duration) error {
	if l.sleep != nil {
		return l.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reader makes Track's calls, paced and retried.
type reader struct {
	api     LogsAPI
	limiter *Limiter
}

// call runs f after the limiter allows it, again after a backoff while
// CloudWatch Logs throttles it.
func (r *reader) call(ctx context.Context, f func() error) error {
	backoff := firstThrottle
	for attempt := 1; ; attempt++ {
		if err := r.limiter.Wait(ctx); err != nil {
			return err
		}
		err := f()
		if err == nil || !isThrottling(err) || attempt == maxAttempts {
			return err
		}
		r.limiter.hold(backoff/2 + rand.N(backoff))
		backoff *= 2
	}
}

func isThrottling(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException"
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// isStreamNotFound tells a missing log stream from a missing log group by
// the message, the only difference between GetLogEvents' two errors on
// AWS ("The specified log stream does not exist." and "… log group …").
// moto words both as a missing log group, so anything but a missing
// stream is checked by groupExists.
func isStreamNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf) && strings.Contains(nf.ErrorMessage(), "log stream")
}

// groupExists asks for at most one event of the last millisecond of a log
// group: an empty answer when it exists, ResourceNotFound when not. It
// uses FilterLogEvents, which track needs anyway on the functions' log
// groups; a policy that does not allow it on the tracking log group makes
// the answer unknown, taken as "exists" (the report then says only that
// the execution was not seen), rather than an error.
func (r *reader) groupExists(ctx context.Context, group string, now time.Time) (bool, error) {
	end := now.UnixMilli()
	err := r.call(ctx, func() error {
		_, err := r.api.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group),
			StartTime:    aws.Int64(end - 1),
			EndTime:      aws.Int64(end),
			Limit:        aws.Int32(1),
		})
		return err
	})
	var ae smithy.APIError
	switch {
	case isNotFound(err):
		return false, nil
	case errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException":
		return true, nil
	case err != nil:
		return false, fmt.Errorf("check log group %s: %w", group, err)
	}
	return true, nil
}

// streamState is what readStream found.
type streamState int

const (
	streamFound          streamState = iota
	streamMissing                    // in an existing log group
	streamOrGroupMissing             // the stream, and perhaps its log group
)

// readStream reads a whole log stream from its head, saying whether the
// stream does not exist.
func (r *reader) readStream(ctx context.Context, group, stream string) (evs []logEvent, state streamState, err error) {
	var token *string
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, streamMissing, fmt.Errorf("read %s in %s: stopped after %d pages", stream, group, maxPages)
		}
		var out *cloudwatchlogs.GetLogEventsOutput
		err := r.call(ctx, func() error {
			var err error
			out, err = r.api.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
				LogGroupName:  aws.String(group),
				LogStreamName: aws.String(stream),
				StartFromHead: aws.Bool(true),
				NextToken:     token,
			})
			return err
		})
		if isStreamNotFound(err) {
			return nil, streamMissing, nil
		}
		if isNotFound(err) {
			return nil, streamOrGroupMissing, nil
		}
		if err != nil {
			return nil, streamMissing, fmt.Errorf("read log stream %s in %s: %w", stream, group, err)
		}
		for _, e := range out.Events {
			evs = append(evs, logEvent{ms: aws.ToInt64(e.Timestamp), msg: aws.ToString(e.Message)})
		}
		// The end of the stream is when AWS hands back the token it was
		// given; pages before it may be empty.
		next := out.NextForwardToken
		if next == nil || (token != nil && *next == *token) {
			return evs, streamFound, nil
		}
		token = next
	}
}

// readProducer reads a producer's log group for the lines of one
// execution in its window, in one paged FilterLogEvents read. The filter
// pattern only narrows the read (CloudWatch matches a quoted term as a
// substring, and moto ignores patterns it does not understand); lines
// selects the execution's lines exactly.
func (r *reader) readProducer(ctx context.Context, p *Producer, executionID string, maxLines int) error {
	var candidates []Line
	var token *string
	p.LogGroupFound = true
	for page := 0; ; page++ {
		if page == maxPages {
			return fmt.Errorf("read %s: stopped after %d pages", p.LogGroup, maxPages)
		}
		var out *cloudwatchlogs.FilterLogEventsOutput
		err := r.call(ctx, func() error {
			var err error
			out, err = r.api.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
				LogGroupName:  aws.String(p.LogGroup),
				FilterPattern: aws.String(filterPattern(executionID)),
				StartTime:     aws.Int64(p.Since.UnixMilli()),
				EndTime:       aws.Int64(p.Until.UnixMilli()),
				NextToken:     token,
			})
			return err
		})
		if isNotFound(err) {
			p.LogGroupFound = false
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the logs of %s in %s: %w", p.Function, p.LogGroup, err)
		}
		for _, e := range out.Events {
			l := Line{
				Time:      Time{time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC()},
				LogStream: aws.ToString(e.LogStreamName),
				Message:   aws.ToString(e.Message),
			}
			if isCandidate(l.Message, executionID) {
				candidates = append(candidates, l)
			}
		}
		// Lines that name the execution bound the read; a few correlated
		// timeout lines more do not matter.
		if aws.ToString(out.NextToken) == "" || len(candidates) > 2*maxLines {
			p.Truncated = aws.ToString(out.NextToken) != ""
			break
		}
		token = out.NextToken
	}
	// Pages come by log stream on moto, interleaved on AWS: order by time.
	slices.SortStableFunc(candidates, func(a, b Line) int { return a.Time.Compare(b.Time.Time) })
	p.Lines = selectLines(candidates, executionID)
	for _, l := range p.Lines {
		p.Failed = p.Failed || l.Failure
	}
	if len(p.Lines) > maxLines {
		p.Lines, p.Truncated = p.Lines[:maxLines], true
	}
	return nil
}
