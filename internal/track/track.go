// Package track is the read side of execution tracking: it tells where one
// execution of a workflow stands, as `xflow track` and the server's
// GET /track/... report it.
//
// The tracker Lambda (package tracker) writes every event of a workflow's
// flow to the log group /xFlow/track/<workflow_id>, one log stream per
// execution_id, one tracker.Entry per record. Track reads that log stream
// once, from the head, and rebuilds the state of every event of the flow:
// received (when, which record, how many duplicate deliveries were dropped)
// or not, and the events seen that are not in the flow. When the execution
// has not finished, it names the next expected event and the functions that
// should have produced it (the subscribers of the event before it), and
// reads their own log groups for the lines of this execution since that
// event was received, so that a traceback or a timeout shows up beside the
// report. That is what the original xFlow promised and never built.
//
// Calls are few and paced: one paged GetLogEvents read of the execution's
// log stream, then one paged FilterLogEvents read per producing function,
// run concurrently, all through a Limiter (CloudWatch Logs allows about 5
// such reads per second per account), backing off on ThrottlingException.
//
// track and tracker differ by two letters and are the two sides of one
// thing: package track (this one) reads, package tracker
// (internal/tracker) is the Lambda that writes; tracker.Entry is their
// contract.
package track

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/names"
)

// Kinds of refused requests, for errors.Is. The server maps
// ErrUnknownWorkflow to 404 and ErrInvalidExecutionID to 400. An execution
// nobody has seen is not an error: its report has StatusNotFound.
var (
	ErrUnknownWorkflow    = errors.New("unknown workflow")
	ErrInvalidExecutionID = errors.New("invalid execution id")
)

// Error is a refused request; errors.Is(err, ErrUnknownWorkflow) and the
// like tell the kind.
type Error struct {
	Kind error  // ErrUnknownWorkflow or ErrInvalidExecutionID
	Msg  string // the whole message, written for people
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

// LogsAPI is the part of the CloudWatch Logs client Track uses;
// *cloudwatchlogs.Client satisfies it.
type LogsAPI interface {
	GetLogEvents(ctx context.Context, params *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
	FilterLogEvents(ctx context.Context, params *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// Defaults of Options.
const (
	DefaultSkew     = time.Minute
	DefaultMaxLines = 200
)

// Options tune a Track call; the zero value is what the CLI uses.
type Options struct {
	// Now is the end of the producers' log window; time.Now when nil.
	Now func() time.Time
	// Skew is how long before the last received event the producers' log
	// window starts, for the clock difference between Kinesis arrival
	// times and the functions' log timestamps. DefaultSkew when zero or
	// negative.
	Skew time.Duration
	// Limiter paces the calls to CloudWatch Logs. The quota is per
	// account, so concurrent Track calls (the server's) should share one.
	// A new NewLimiter(DefaultRate) when nil.
	Limiter *Limiter
	// MaxLines bounds the lines kept per producer; DefaultMaxLines when
	// zero. A producer whose lines were cut says so (Truncated).
	MaxLines int
	// MissingGroupHint is what the text report suggests when the
	// workflow's tracking log group does not exist; DefaultMissingGroupHint
	// (AWS) when empty.
	MissingGroupHint string
	// DeadLetters, when set, returns the batches with a record of an
	// execution that functions gave up on (local mode reads them from its
	// on-failure files; on AWS they are in each function's failure
	// destination, which track does not read).
	DeadLetters func(ctx context.Context, executionID string) ([]DeadLetter, error)
	// Damage, when set, returns the damage found in the streams that held
	// a record of an execution (local mode's quarantine folder).
	Damage func(ctx context.Context, executionID string) ([]Damage, error)
}

// DefaultMissingGroupHint: on AWS the tracking log group is created with
// the stack, so without it the workflow is not deployed where we look.
const DefaultMissingGroupHint = "is the workflow deployed (xflow deploy) in this account and region, with this name_prefix?"

// LocalMissingGroupHint: locally the tracking log group is made when the
// runtime first starts on a state folder.
const LocalMissingGroupHint = "has the workflow run on this state folder (xflow run, or xflow server --local)?"

// Check refuses a workflow id that is not in c and an execution id that
// cannot name a log stream, without calling AWS. Track calls it first; the
// CLI and the server call it before they set up a client.
func Check(c *config.Config, workflowID, executionID string) (*config.Workflow, error) {
	w, err := CheckWorkflow(c, workflowID)
	if err != nil {
		return nil, err
	}
	if err := names.CheckExecutionID(executionID); err != nil {
		return nil, &Error{Kind: ErrInvalidExecutionID, Msg: err.Error()}
	}
	return w, nil
}

// CheckWorkflow returns the workflow of c with this id; one that is not in
// c is an *Error of kind ErrUnknownWorkflow whose message names the
// workflows c has.
func CheckWorkflow(c *config.Config, workflowID string) (*config.Workflow, error) {
	w, ok := c.Workflow(workflowID)
	if !ok {
		ids := make([]string, 0, len(c.Workflows))
		for _, w := range c.Workflows {
			ids = append(ids, w.ID)
		}
		file := c.File
		if file == "" {
			file = "the config"
		}
		msg := fmt.Sprintf("workflow %q is not in %s", workflowID, file)
		if len(ids) == 0 {
			msg += " (it defines no workflows: add a workflows: section)"
		} else if hint := didyoumean.Hint(workflowID, ids, "its workflows are"); hint != "" {
			msg += " (" + hint + ")"
		}
		return nil, &Error{Kind: ErrUnknownWorkflow, Msg: msg}
	}
	return w, nil
}

// Track reports where one execution of a workflow stands. An unknown
// workflow or an invalid execution id is an *Error; an execution whose log
// stream (or whose workflow's log group) does not exist is a report with
// StatusNotFound. Other errors come from CloudWatch Logs.
func Track(ctx context.Context, api LogsAPI, c *config.Config, workflowID, executionID string, opts Options) (*Report, error) {
	w, err := Check(c, workflowID, executionID)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	scheme := names.New(c.General.NamePrefix)
	group := scheme.TrackerLogGroup(w.ID)
	stream, _ := names.LogStream(executionID) // Check passed

	r := &reader{api: api, limiter: opts.Limiter}
	entries, state, err := r.readStream(ctx, group, stream)
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	groupFound := state != streamOrGroupMissing
	if !groupFound {
		if groupFound, err = r.groupExists(ctx, group, now); err != nil {
			return nil, err
		}
	}
	rep := newReport(c, w, executionID, entries)
	rep.LogGroup, rep.LogStream = group, stream
	rep.LogGroupFound, rep.LogStreamFound = groupFound, state == streamFound
	if !groupFound {
		rep.Hint = cmp.Or(opts.MissingGroupHint, DefaultMissingGroupHint)
	}
	rep.CheckedAt = Time{now.UTC()}
	if opts.Damage != nil {
		ds, err := opts.Damage(ctx, executionID)
		if err != nil {
			return nil, fmt.Errorf("read the damage of %s: %w", executionID, err)
		}
		rep.addDamage(ds)
	}
	rep.findProducers(c, scheme, opts.Skew)

	var wg sync.WaitGroup
	errs := make([]error, len(rep.Producers))
	for i := range rep.Producers {
		wg.Go(func() {
			errs[i] = r.readProducer(ctx, &rep.Producers[i], executionID, opts.MaxLines)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.DeadLetters != nil {
		dls, err := opts.DeadLetters(ctx, executionID)
		if err != nil {
			return nil, fmt.Errorf("read the dead letters of %s: %w", executionID, err)
		}
		rep.addDeadLetters(dls)
		if rep.Status == StatusNotFound && len(rep.DeadLetters) > 0 {
			// No record of the execution could be tracked (its payload
			// is not a JSON object with this execution_id: base64 sent
			// by mistake, say), yet a function gave up on a record whose
			// partition key is the execution id. The execution exists,
			// and is stuck at its first event.
			rep.Status = StatusInProgress
			rep.NextExpectedEvent = ptr(rep.Events[0].Name)
		}
	}
	rep.settle()
	return rep, nil
}

// addDeadLetters keeps the dead letters of the workflow's streams, naming
// their events, and counts one of a producer of the next expected event
// on the stream it reads as that producer's failure: it will not publish
// the event.
func (r *Report) addDeadLetters(dls []DeadLetter) {
	events := map[string]string{} // stream → event
	for _, e := range r.Events {
		events[e.Stream] = e.Name
	}
	from := r.producersStream()
	for _, d := range dls {
		ev, ok := events[d.Stream]
		if !ok {
			continue
		}
		d.Event = ev
		r.DeadLetters = append(r.DeadLetters, d)
		if d.Stream != from {
			continue
		}
		for i := range r.Producers {
			p := &r.Producers[i]
			if p.Function != d.Function {
				continue
			}
			p.Failed = true
			p.Lines = append(p.Lines, Line{
				Time:      d.Time,
				LogStream: d.Where,
				Message:   d.describe(),
				Failure:   true,
			})
			slices.SortStableFunc(p.Lines, func(a, b Line) int { return a.Time.Compare(b.Time.Time) })
		}
	}
}

// addDamage keeps the damage of the workflow's streams, naming their
// events. An execution whose every tracked record was lost to damage is
// no longer "not found": it started, and its damage says where it ended.
func (r *Report) addDamage(ds []Damage) {
	events := map[string]string{} // stream → event
	for _, e := range r.Events {
		events[e.Stream] = e.Name
	}
	for _, d := range ds {
		ev, ok := events[d.Stream]
		if !ok {
			continue
		}
		d.Event = ev
		r.Damage = append(r.Damage, d)
	}
	if len(r.Damage) > 0 && r.Status == StatusNotFound {
		r.Status = StatusInProgress
	}
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Skew <= 0 {
		o.Skew = DefaultSkew
	}
	if o.Limiter == nil {
		o.Limiter = NewLimiter(DefaultRate)
	}
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultMaxLines
	}
	return o
}

// findProducers names the next expected event and the functions that
// should have produced it: the subscribers of the flow event before it
// that emit it (all of that event's subscribers when none says it does).
// Their log window runs from the time that event was received, less the
// skew, until now.
func (r *Report) findProducers(c *config.Config, scheme names.Scheme, skew time.Duration) {
	if r.Status == StatusNotFound {
		return
	}
	next := r.nextIndex()
	if next < 0 {
		return
	}
	r.NextExpectedEvent = ptr(r.Events[next].Name)
	if next == 0 {
		return // the first event comes from a client, not a function
	}
	prev := r.Events[next-1]
	subs := c.SubscribersOf(prev.Name)
	var emitters []string
	for _, s := range subs {
		if slices.Contains(c.EmitsOf(s), r.Events[next].Name) {
			emitters = append(emitters, s)
		}
	}
	if len(emitters) == 0 {
		emitters = subs
	}
	since := Time{prev.ReceivedAt.Add(-skew).UTC()}
	if since.After(r.CheckedAt.Time) { // an arrival time ahead of this clock
		since = r.CheckedAt
	}
	for _, l := range emitters {
		fn := scheme.Function(l)
		r.Producers = append(r.Producers, Producer{
			Lambda:   l,
			Function: fn,
			LogGroup: names.FunctionLogGroup(fn),
			Since:    since,
			Until:    r.CheckedAt,
			Lines:    []Line{},
		})
	}
}

// nextIndex is the index in the flow of the next expected event: the one
// after the furthest event received, or when the furthest is the last
// event of the flow, the first one not received; -1 when every event was.
func (r *Report) nextIndex() int {
	furthest := -1
	for i, e := range r.Events {
		if e.State == StateReceived {
			furthest = i
		}
	}
	if furthest+1 < len(r.Events) {
		return furthest + 1
	}
	for i, e := range r.Events {
		if e.State != StateReceived {
			return i
		}
	}
	return -1
}

// settle sets the status once the producers' lines are in.
func (r *Report) settle() {
	if r.Status == StatusNotFound {
		return
	}
	if r.nextIndex() < 0 {
		r.Status = StatusFinished
		return
	}
	r.Status = StatusInProgress
	for _, p := range r.Producers {
		if p.Failed {
			r.Status = StatusFailed
		}
	}
	if r.FurthestEvent == nil && len(r.DeadLetters) > 0 {
		r.Status = StatusFailed // nothing tracked, and a record of it given up on
	}
	// Damage to the next expected event's record, or to the record its
	// producers were to read, means it will not come.
	if next := r.NextExpectedEvent; next != nil {
		from := r.producersStream()
		for _, d := range r.Damage {
			if d.Event == *next || from != "" && d.Stream == from {
				r.Status = StatusFailed
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// producersStream is the stream the producers of the next expected event
// read: that of the event before it; "" when there is none.
func (r *Report) producersStream() string {
	for i, e := range r.Events {
		if r.NextExpectedEvent != nil && e.Name == *r.NextExpectedEvent && i > 0 {
			return r.Events[i-1].Stream
		}
	}
	return ""
}

// isProducers tells whether a dead letter is a producer's, on the stream
// producers read (from, see producersStream).
func (r *Report) isProducers(d DeadLetter, from string) bool {
	if from == "" || d.Stream != from {
		return false
	}
	for _, p := range r.Producers {
		if p.Function == d.Function {
			return true
		}
	}
	return false
}

// describe says what a dead letter is, for the text report.
func (d DeadLetter) describe() string {
	s := fmt.Sprintf("gave up on the %s batch %s–%s (%s)", d.Event, d.StartSequenceNumber, d.EndSequenceNumber, d.Condition)
	if d.Error != "" {
		first, _, _ := strings.Cut(d.Error, "\n")
		s += ": " + clip(first, 600)
	}
	return s + "; the record is in " + d.Where
}
