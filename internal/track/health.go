package track

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
)

// A workflow's tracker is what track reads through: when it fails (its
// code, its permissions, its mapping), every execution looks as if it
// never started, or stalled. So when an execution is not found or in
// progress, CheckTracker looks at the tracker itself: the error lines of
// its own log group since the execution's first event, the batches its
// mapping gave up on (its failure queue), its mappings' state and how far
// behind its streams it is. When that is what is wrong, the report says so
// instead of "not found" or "in progress".

// StatusTrackerFailing: the execution is not found or in progress, and the
// workflow's tracker is failing, which explains it (Report.Tracker says
// how).
const StatusTrackerFailing Status = "tracker_failing"

// DefaultHealthWindow is how far back CheckTracker reads the tracker's log
// for an execution that was not found, whose first event's time is
// unknown: the tracker's mapping gives up on records after 6 hours (the
// generator's maximum record age), so an event it could still be failing
// on arrived within it.
const DefaultHealthWindow = 6 * time.Hour

// DefaultIteratorAgeLimit is the iterator age beyond which the tracker is
// too far behind its streams for an execution in progress to be told from
// one the tracker has not caught up with.
const DefaultIteratorAgeLimit = 5 * time.Minute

// maxHealthLines bounds the error lines kept (the last ones), and
// maxHealthPages the pages read of the tracker's log.
const (
	maxHealthLines = 20
	maxHealthPages = 50
)

// TrackerHealth is what CheckTracker found of the workflow's tracker.
type TrackerHealth struct {
	Function string `json:"function"`
	LogGroup string `json:"log_group"`
	// Since is the start of the window of its log that was read.
	Since Time `json:"since"`
	// Failing is true when the tracker explains the report's status;
	// Reason then says how, in one line: its last error line, or what
	// its failure queue or a mapping says.
	Failing bool   `json:"failing"`
	Reason  string `json:"reason,omitempty"`
	// Errors are the last error lines of its log group in the window.
	Errors []Line `json:"errors"`
	// Recovered is true when the tracker wrote to the tracking log group
	// after its last error line: the errors are past.
	Recovered bool `json:"recovered,omitempty"`
	// FailureQueue holds the batches the tracker gave up on (nil depth:
	// unknown).
	FailureQueue      string `json:"failure_queue,omitempty"`
	FailureQueueDepth *int   `json:"failure_queue_depth,omitempty"`
	// Mappings are its event source mappings, on AWS.
	Mappings []TrackerMapping `json:"mappings,omitempty"`
	// IteratorAgeMs is how far behind its streams it was lately, on AWS
	// (CloudWatch's IteratorAge, the maximum of the last 10 minutes); nil
	// when unknown.
	IteratorAgeMs *int64 `json:"iterator_age_ms,omitempty"`
	// Unchecked says what could not be checked, and why.
	Unchecked []string `json:"unchecked,omitempty"`
}

// TrackerMapping is one event source mapping of the tracker.
type TrackerMapping struct {
	Stream               string `json:"stream"`
	State                string `json:"state"`
	StateReason          string `json:"state_reason,omitempty"`
	LastProcessingResult string `json:"last_processing_result,omitempty"`
}

// TrackerState is what a backend knows of a tracker besides its log: its
// failure queue, its mappings, its iterator age.
type TrackerState struct {
	FailureQueue      string
	FailureQueueDepth *int
	Mappings          []TrackerMapping
	IteratorAgeMs     *int64
	Unchecked         []string
}

// HealthOptions tune CheckTracker; the zero value reads the tracker's log
// only.
type HealthOptions struct {
	// Now is the end of the window; time.Now when nil.
	Now func() time.Time
	// Limiter paces the CloudWatch Logs calls; NewLimiter(DefaultRate)
	// when nil.
	Limiter *Limiter
	// Skew is taken off the execution's first event for the window's
	// start; DefaultSkew when zero.
	Skew time.Duration
	// Window is how far back the log is read for an execution that was
	// not found; DefaultHealthWindow when zero.
	Window time.Duration
	// IteratorAgeLimit: DefaultIteratorAgeLimit when zero.
	IteratorAgeLimit time.Duration
	// State, when set, returns the tracker's failure queue, mappings and
	// iterator age (AWSTrackerState on AWS, local mode's from its state
	// folder).
	State func(ctx context.Context, tracker string) (*TrackerState, error)
}

// logStreamsAPI lists log streams; the CloudWatch Logs client and the
// local log store both have it. CheckTracker uses it, when the LogsAPI it
// is given has it, to see whether the tracker wrote after its last error.
type logStreamsAPI interface {
	DescribeLogStreams(ctx context.Context, params *cloudwatchlogs.DescribeLogStreamsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
}

// trackerFilter narrows the read of the tracker's log to the lines that
// may be errors; trackerFailure decides (an emulator may ignore the
// pattern).
const trackerFilter = `?"ERROR" ?"error" ?"Error" ?"panic" ?"Task timed out" ?"Status: error" ?"Status: timeout" ?"Runtime."`

// trackerFailure tells whether a line of the tracker's own log is an
// error: what isFailure says of any function's line, or a line that starts
// with "error", as a runtime or an emulator writes one ("error running
// docker: …" on moto).
func trackerFailure(msg string) bool {
	return isFailure(msg) || strings.HasPrefix(strings.ToLower(strings.TrimSpace(msg)), "error")
}

// CheckTracker looks at the workflow's tracker when the report's execution
// was not found or is in progress (other reports are left as they are),
// and sets rep.Tracker; when the tracker is failing, rep.Status becomes
// StatusTrackerFailing. A workflow whose tracking log group does not exist
// is not deployed there: nothing is checked.
func CheckTracker(ctx context.Context, api LogsAPI, c *config.Config, rep *Report, opts HealthOptions) error {
	if rep.Status != StatusNotFound && rep.Status != StatusInProgress || !rep.LogGroupFound {
		return nil
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	limiter := cmp.Or(opts.Limiter, NewLimiter(DefaultRate))
	r := &reader{api: api, limiter: limiter}
	scheme := names.New(c.General.NamePrefix)
	fn := scheme.Tracker(rep.WorkflowID)
	h := &TrackerHealth{Function: fn, LogGroup: names.FunctionLogGroup(fn), Errors: []Line{}}
	until := now().UTC()
	since := until.Add(-cmp.Or(opts.Window, DefaultHealthWindow))
	if len(rep.EventsReceived) > 0 {
		since = rep.EventsReceived[0].Timestamp.Add(-cmp.Or(opts.Skew, DefaultSkew))
	}
	h.Since = Time{since}

	if err := r.readTrackerErrors(ctx, h, since, until); err != nil {
		return err
	}
	if n := len(h.Errors); n > 0 {
		last := h.Errors[n-1].Time.Time
		if ls, ok := api.(logStreamsAPI); ok {
			wrote, err := lastWrite(ctx, r, ls, rep.LogGroup)
			if err != nil {
				return err
			}
			h.Recovered = wrote.After(last)
		}
	}
	if opts.State != nil {
		st, err := opts.State(ctx, fn)
		if err != nil {
			return fmt.Errorf("check the tracker %s: %w", fn, err)
		}
		if st != nil {
			h.FailureQueue, h.FailureQueueDepth = st.FailureQueue, st.FailureQueueDepth
			h.Mappings, h.IteratorAgeMs, h.Unchecked = st.Mappings, st.IteratorAgeMs, st.Unchecked
		}
	}
	h.Reason = h.failing(cmp.Or(opts.IteratorAgeLimit, DefaultIteratorAgeLimit))
	h.Failing = h.Reason != ""
	rep.Tracker = h
	if h.Failing {
		rep.Status = StatusTrackerFailing
	}
	return nil
}

// failing says why the tracker is failing, "" when nothing says it is: an
// error line it did not recover from, batches it gave up on, a mapping
// that is disabled or cannot invoke it, or lagging behind its streams.
func (h *TrackerHealth) failing(ageLimit time.Duration) string {
	if n := len(h.Errors); n > 0 && !h.Recovered {
		first, _, _ := strings.Cut(strings.TrimSpace(h.Errors[n-1].Message), "\n")
		return clip(strings.TrimSpace(first), 600)
	}
	if d := h.FailureQueueDepth; d != nil && *d > 0 {
		return fmt.Sprintf("it gave up on %d batch%s of records, whose descriptions wait in its failure queue %s", *d, pluralES(*d), h.FailureQueue)
	}
	for _, m := range h.Mappings {
		switch {
		case m.State == "Disabled" || m.State == "Disabling":
			s := fmt.Sprintf("its mapping from stream %s is %s", m.Stream, strings.ToLower(m.State))
			if m.StateReason != "" {
				s += " (" + m.StateReason + ")"
			}
			return s
		case strings.HasPrefix(m.LastProcessingResult, "PROBLEM"):
			return fmt.Sprintf("its mapping from stream %s says %s", m.Stream, m.LastProcessingResult)
		}
	}
	if a := h.IteratorAgeMs; a != nil && time.Duration(*a)*time.Millisecond > ageLimit {
		return fmt.Sprintf("it is %s behind its streams (iterator age), more than %s", (time.Duration(*a) * time.Millisecond).Round(time.Second), ageLimit)
	}
	return ""
}

func pluralES(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}

// readTrackerErrors reads the error lines of the tracker's log group in
// the window, keeping the last maxHealthLines. A log group that does not
// exist holds none.
func (r *reader) readTrackerErrors(ctx context.Context, h *TrackerHealth, since, until time.Time) error {
	var token *string
	for range maxHealthPages {
		var out *cloudwatchlogs.FilterLogEventsOutput
		err := r.call(ctx, func() error {
			var err error
			out, err = r.api.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
				LogGroupName:  aws.String(h.LogGroup),
				FilterPattern: aws.String(trackerFilter),
				StartTime:     aws.Int64(since.UnixMilli()),
				EndTime:       aws.Int64(until.UnixMilli()),
				NextToken:     token,
			})
			return err
		})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the log of the tracker %s in %s: %w", h.Function, h.LogGroup, err)
		}
		for _, e := range out.Events {
			msg := aws.ToString(e.Message)
			if !trackerFailure(msg) {
				continue
			}
			h.Errors = append(h.Errors, Line{
				Time:      Time{time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC()},
				LogStream: aws.ToString(e.LogStreamName),
				Message:   clip(msg, 4096),
				Failure:   true,
			})
		}
		// Pages come by log stream on moto, interleaved on AWS.
		slices.SortStableFunc(h.Errors, func(a, b Line) int { return a.Time.Compare(b.Time.Time) })
		if len(h.Errors) > maxHealthLines {
			h.Errors = slices.Clone(h.Errors[len(h.Errors)-maxHealthLines:])
		}
		if aws.ToString(out.NextToken) == "" {
			return nil
		}
		token = out.NextToken
	}
	return nil
}

// lastWrite is the time of the last event written to a log group, by its
// log streams' last event times; zero when it has none.
func lastWrite(ctx context.Context, r *reader, api logStreamsAPI, group string) (time.Time, error) {
	var out *cloudwatchlogs.DescribeLogStreamsOutput
	err := r.call(ctx, func() error {
		var err error
		out, err = api.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(group),
			OrderBy:      types.OrderByLastEventTime,
			Descending:   aws.Bool(true),
			Limit:        aws.Int32(1),
		})
		return err
	})
	if isNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("list the log streams of %s: %w", group, err)
	}
	if len(out.LogStreams) == 0 {
		return time.Time{}, nil
	}
	s := out.LogStreams[0]
	ms := max(aws.ToInt64(s.LastEventTimestamp), aws.ToInt64(s.LastIngestionTime))
	return time.UnixMilli(ms).UTC(), nil
}
