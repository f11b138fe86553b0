package tracker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/xflowhq/xflow/internal/names"
)

// EnvLogGroup is the environment variable that gives the tracker Lambda the
// log group it writes to; the tracker construct sets it.
const EnvLogGroup = names.EnvTrackLogGroup

// Limits of PutLogEvents. Since April 2025 one event may be as large as a
// whole batch (1 MB, up from 256 KB); the 26 bytes are AWS's per-event
// overhead, counted in the batch size.
const (
	maxBatchEvents  = 10_000
	maxBatchBytes   = 1_048_576
	eventOverhead   = 26
	maxMessageBytes = maxBatchBytes - eventOverhead
	maxBatchSpanMs  = int64(24 * time.Hour / time.Millisecond)
)

// Throttling is retried inside the invocation, on top of the SDK's own
// retries, before the records are handed back to Lambda.
const (
	maxAttempts  = 3
	firstBackoff = 100 * time.Millisecond
)

// maxParallel bounds concurrent writes, one execution per goroutine: enough
// to hide the latency of a batch spread over a few executions while staying
// far below the account's CreateLogStream and PutLogEvents rates.
const maxParallel = 8

// Reasons a record is not tracked. None of them can be fixed by a retry, so
// such records are counted and logged, never reported as failures.
const (
	reasonBadBase64      = "bad_base64"       // data is not base64 (only through Invoke)
	reasonBadJSON        = "bad_json"         // data is not a JSON object in UTF-8
	reasonNoExecutionID  = "no_execution_id"  // execution_id missing, null, not a string or empty
	reasonBadExecutionID = "bad_execution_id" // execution_id cannot name a log stream
	reasonUnknownStream  = "unknown_stream"   // not a Kinesis stream of this naming scheme
	reasonTooOld         = "too_old"          // CloudWatch: older than 14 days
	reasonExpired        = "expired"          // CloudWatch: older than the log group's retention
	reasonTooNew         = "too_new"          // CloudWatch: more than 2 hours in the future
)

// reasons is the order of the batch summary.
var reasons = []string{
	reasonBadBase64, reasonBadJSON, reasonNoExecutionID, reasonBadExecutionID,
	reasonUnknownStream, reasonTooOld, reasonExpired, reasonTooNew,
}

// LogsAPI is the part of the CloudWatch Logs client the tracker uses;
// *cloudwatchlogs.Client satisfies it.
type LogsAPI interface {
	CreateLogStream(ctx context.Context, params *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, params *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// Handler writes the Kinesis records of one workflow's streams to the
// workflow's tracking log group. It remembers the log streams it created for
// as long as the Lambda container lives, so it must not be copied after
// first use.
type Handler struct {
	Logs     LogsAPI      // CloudWatch Logs
	LogGroup string       // /xFlow/track/<workflow_id>, names.Scheme.TrackerLogGroup
	Names    names.Scheme // maps a stream back to its event
	Log      *slog.Logger // the tracker's own log; nil means slog.Default()

	mu      sync.Mutex
	created map[string]bool // log streams known to exist

	// sleep waits between throttled attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Handle writes one Kinesis batch. Records that could not be written
// because CloudWatch Logs failed come back as batch item failures, so that
// Lambda retries them; records that can never be written are logged and
// counted instead. The error is for a misconfigured Handler only.
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	recs := make([]record, len(ev.Records))
	for i, r := range ev.Records {
		recs[i] = record{
			sourceARN: r.EventSourceArn,
			eventID:   r.EventID,
			seq:       r.Kinesis.SequenceNumber,
			arrival:   r.Kinesis.ApproximateArrivalTimestamp.Time,
			data:      r.Kinesis.Data,
		}
	}
	return h.handle(ctx, recs)
}

// lambdaEvent is events.KinesisEvent with the data left as base64 text, so
// that one record that does not decode is rejected alone.
type lambdaEvent struct {
	Records []struct {
		EventID        string `json:"eventID"`
		EventSourceARN string `json:"eventSourceARN"`
		Kinesis        struct {
			ApproximateArrivalTimestamp events.SecondsEpochTime `json:"approximateArrivalTimestamp"`
			Data                        string                  `json:"data"`
			SequenceNumber              string                  `json:"sequenceNumber"`
		} `json:"kinesis"`
	} `json:"Records"`
}

// Invoke makes Handler a lambda.Handler, which the Lambda main starts. It
// does what Handle does, but decodes the payload itself: decoding it into
// events.KinesisEvent fails the whole invocation on a single record whose
// data is not base64, and Lambda would retry that batch until the record
// expires.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev lambdaEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode kinesis event: %w", err)
	}
	recs := make([]record, len(ev.Records))
	for i, r := range ev.Records {
		data, err := base64.StdEncoding.DecodeString(r.Kinesis.Data)
		recs[i] = record{
			sourceARN: r.EventSourceARN,
			eventID:   r.EventID,
			seq:       r.Kinesis.SequenceNumber,
			arrival:   r.Kinesis.ApproximateArrivalTimestamp.Time,
			data:      data,
			dataErr:   err,
		}
	}
	resp, err := h.handle(ctx, recs)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode kinesis event response: %w", err)
	}
	return out, nil
}

// record is one Kinesis record, whichever way it was decoded.
type record struct {
	sourceARN string
	eventID   string
	seq       string
	arrival   time.Time
	data      []byte
	dataErr   error // data was not base64
}

// logEvent is one entry ready for PutLogEvents.
type logEvent struct {
	ts  int64
	msg string
	rec int // index of the record in the batch
}

// execution is what one batch holds for one execution id.
type execution struct {
	id     string
	stream string // log stream
	events []logEvent
}

// rejection is one record that will never be written.
type rejection struct {
	rec         int
	executionID string // when known
	reason      string
	detail      string
}

// writeResult is the outcome of writing one execution.
type writeResult struct {
	written  int
	rejected []rejection
	failed   []int // records to retry
	err      error // why they failed
}

func (h *Handler) handle(ctx context.Context, recs []record) (events.KinesisEventResponse, error) {
	if h.Logs == nil || h.LogGroup == "" {
		return events.KinesisEventResponse{}, errors.New("tracker handler needs Logs and LogGroup")
	}
	var rejected []rejection
	var execs []*execution
	byID := map[string]*execution{}
	for i, r := range recs {
		id, msg, reason, detail := h.prepare(r)
		if reason != "" {
			rejected = append(rejected, rejection{rec: i, executionID: id, reason: reason, detail: detail})
			continue
		}
		ex := byID[id]
		if ex == nil {
			// CheckExecutionID passed in prepare, so LogStream cannot fail.
			stream, _ := names.LogStream(id)
			ex = &execution{id: id, stream: stream}
			byID[id] = ex
			execs = append(execs, ex)
		}
		ex.events = append(ex.events, logEvent{ts: r.arrival.UnixMilli(), msg: msg, rec: i})
	}

	results := make([]writeResult, len(execs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for i, ex := range execs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = h.write(ctx, ex)
		})
	}
	wg.Wait()

	// Log in one goroutine, after the writes, so the tracker's log reads in
	// a stable order.
	log := h.log()
	written := 0
	var failed []int
	for i, res := range results {
		written += res.written
		rejected = append(rejected, res.rejected...)
		failed = append(failed, res.failed...)
		if res.err != nil {
			log.Error("write failed; Lambda will retry these records",
				"execution_id", execs[i].id, "records", len(res.failed), "error", res.err.Error())
		}
	}
	slices.SortFunc(rejected, func(a, b rejection) int { return cmp.Compare(a.rec, b.rec) })
	counts := map[string]int{}
	for _, rj := range rejected {
		r := recs[rj.rec]
		counts[rj.reason]++
		attrs := []any{"stream", streamOf(r.sourceARN), "sequence_number", r.seq, "reason", rj.reason, "detail", rj.detail}
		if rj.executionID != "" {
			attrs = append(attrs, "execution_id", rj.executionID)
		}
		log.Warn("record not tracked", attrs...)
	}
	byReason := make([]any, 0, len(counts))
	for _, reason := range reasons {
		if n := counts[reason]; n > 0 {
			byReason = append(byReason, slog.Int(reason, n))
		}
	}
	log.Info("batch tracked",
		"received", len(recs), "written", written, "failed", len(failed), "rejected", len(rejected),
		slog.Group("rejected_by_reason", byReason...))

	var resp events.KinesisEventResponse
	slices.Sort(failed)
	for _, i := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: recs[i].seq})
	}
	return resp, nil
}

// prepare turns a record into the message of its entry, or says why it
// cannot be tracked.
func (h *Handler) prepare(r record) (executionID, msg, reason, detail string) {
	stream := streamOf(r.sourceARN)
	if stream == "" {
		return "", "", reasonUnknownStream, fmt.Sprintf("event source %q is not a Kinesis stream", r.sourceARN)
	}
	event, ok := h.Names.Event(stream)
	if !ok {
		return "", "", reasonUnknownStream, fmt.Sprintf("stream %q does not carry the name prefix %q", stream, h.Names.Prefix)
	}
	if r.dataErr != nil {
		return "", "", reasonBadBase64, r.dataErr.Error()
	}
	if !utf8.Valid(r.data) {
		return "", "", reasonBadJSON, "data is not valid UTF-8"
	}
	// A map rather than a struct: encoding/json matches struct fields
	// case-insensitively, and "Execution_ID" is not "execution_id".
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.data, &fields); err != nil {
		return "", "", reasonBadJSON, err.Error()
	}
	if fields == nil { // the data was null
		return "", "", reasonBadJSON, "data is null, not a JSON object"
	}
	raw, ok := fields["execution_id"]
	if !ok {
		return "", "", reasonNoExecutionID, "no execution_id"
	}
	if raw[0] != '"' {
		return "", "", reasonNoExecutionID, fmt.Sprintf("execution_id is %s, not a string", raw)
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", "", reasonNoExecutionID, err.Error()
	}
	if id == "" {
		return "", "", reasonNoExecutionID, "execution_id is empty"
	}
	if err := names.CheckExecutionID(id); err != nil {
		return "", "", reasonBadExecutionID, err.Error()
	}
	shard, _, _ := strings.Cut(r.eventID, ":")
	b := make([]byte, 0, len(r.data)+len(event)+len(r.seq)+len(shard)+80)
	b = appendEntry(b, event, r.seq, shard, bytes.TrimSpace(r.data))
	if len(b) > maxMessageBytes {
		// Track the record without its payload rather than not at all:
		// where the execution stands matters more than what it carried.
		stub, _ := json.Marshal(map[string]string{"execution_id": id})
		omitted, _ := json.Marshal(Entry{EventName: event, SequenceNumber: r.seq, ShardID: shard, Event: stub, EventOmittedBytes: len(r.data)})
		h.log().Warn("event tracked without its payload, too large for a CloudWatch Logs event with the entry around it",
			"event", event, "sequence_number", r.seq, "execution_id", id, "bytes", len(r.data), "limit", maxMessageBytes)
		return id, string(omitted), "", ""
	}
	return id, string(b), "", ""
}

// streamOf is the stream name of a Kinesis stream ARN
// (arn:aws:kinesis:<region>:<account>:stream/<name>), or "".
func streamOf(arn string) string {
	_, name, ok := strings.Cut(arn, ":stream/")
	if !ok || !strings.HasPrefix(arn, "arn:") || strings.ContainsAny(name, ":/") {
		return ""
	}
	return name
}

// write writes the entries of one execution in chronological order, in as
// few PutLogEvents calls as the limits allow. After the first call that
// fails, the rest of the execution is not tried: the error would most
// likely repeat, and Lambda retries a stream from its first failed record
// anyway.
func (h *Handler) write(ctx context.Context, ex *execution) writeResult {
	var res writeResult
	// Stable: records of a batch come from one shard in sequence order, and
	// equal arrival times keep that order.
	slices.SortStableFunc(ex.events, func(a, b logEvent) int { return cmp.Compare(a.ts, b.ts) })
	batches := split(ex.events)
	fail := func(from int, err error) writeResult {
		for _, b := range batches[from:] {
			for _, e := range b {
				res.failed = append(res.failed, e.rec)
			}
		}
		res.err = err
		return res
	}
	if err := h.ensureStream(ctx, ex.stream); err != nil {
		return fail(0, err)
	}
	for i, b := range batches {
		info, err := h.put(ctx, ex.stream, b)
		var notFound *types.ResourceNotFoundException
		if err != nil && errors.As(err, &notFound) {
			// The stream was deleted since this container created it:
			// create it again, once.
			h.forget(ex.stream)
			if err = h.ensureStream(ctx, ex.stream); err == nil {
				info, err = h.put(ctx, ex.stream, b)
			}
		}
		if err != nil {
			return fail(i, err)
		}
		n := len(b)
		for j, e := range b {
			if reason := rejectedBy(info, j); reason != "" {
				n--
				res.rejected = append(res.rejected, rejection{rec: e.rec, executionID: ex.id, reason: reason,
					detail: fmt.Sprintf("CloudWatch Logs rejected the event with timestamp %s", time.UnixMilli(e.ts).UTC().Format(time.RFC3339Nano))})
			}
		}
		res.written += n
	}
	return res
}

// rejectedBy says why CloudWatch Logs dropped the i-th event of a
// PutLogEvents call, or "". The end indexes are exclusive and the start
// index inclusive, as AWS documents RejectedLogEventsInfo.
func rejectedBy(info *types.RejectedLogEventsInfo, i int) string {
	if info == nil {
		return ""
	}
	switch {
	case info.TooOldLogEventEndIndex != nil && i < int(*info.TooOldLogEventEndIndex):
		return reasonTooOld
	case info.ExpiredLogEventEndIndex != nil && i < int(*info.ExpiredLogEventEndIndex):
		return reasonExpired
	case info.TooNewLogEventStartIndex != nil && i >= int(*info.TooNewLogEventStartIndex):
		return reasonTooNew
	}
	return ""
}

// split cuts chronologically sorted events into PutLogEvents batches: at
// most 10,000 events, 1,048,576 bytes counting 26 bytes per event, and less
// than 24 hours between the first and the last event.
func split(evs []logEvent) [][]logEvent {
	var out [][]logEvent
	start, size := 0, 0
	for i, e := range evs {
		n := len(e.msg) + eventOverhead
		if i > start && (i-start == maxBatchEvents || size+n > maxBatchBytes || e.ts-evs[start].ts >= maxBatchSpanMs) {
			out = append(out, evs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(evs) {
		out = append(out, evs[start:])
	}
	return out
}

func (h *Handler) ensureStream(ctx context.Context, stream string) error {
	h.mu.Lock()
	known := h.created[stream]
	h.mu.Unlock()
	if known {
		return nil
	}
	err := h.retry(ctx, func() error {
		_, err := h.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName:  aws.String(h.LogGroup),
			LogStreamName: aws.String(stream),
		})
		return err
	})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create log stream %s in %s: %w", stream, h.LogGroup, err)
	}
	h.mu.Lock()
	if h.created == nil {
		h.created = map[string]bool{}
	}
	h.created[stream] = true
	h.mu.Unlock()
	return nil
}

func (h *Handler) forget(stream string) {
	h.mu.Lock()
	delete(h.created, stream)
	h.mu.Unlock()
}

func (h *Handler) put(ctx context.Context, stream string, evs []logEvent) (*types.RejectedLogEventsInfo, error) {
	in := make([]types.InputLogEvent, len(evs))
	for i := range evs {
		in[i] = types.InputLogEvent{Message: &evs[i].msg, Timestamp: &evs[i].ts}
	}
	var out *cloudwatchlogs.PutLogEventsOutput
	err := h.retry(ctx, func() error {
		var err error
		out, err = h.Logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName:  aws.String(h.LogGroup),
			LogStreamName: aws.String(stream),
			LogEvents:     in,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("put log events for %s in %s: %w", stream, h.LogGroup, err)
	}
	return out.RejectedLogEventsInfo, nil
}

// retry calls f until it succeeds, fails with anything but throttling, or
// has been tried maxAttempts times, backing off exponentially with jitter.
func (h *Handler) retry(ctx context.Context, f func() error) error {
	delay := firstBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !isThrottling(err) || attempt == maxAttempts {
			return err
		}
		d := delay/2 + rand.N(delay)
		if werr := h.wait(ctx, d); werr != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %v)", err, werr)
		}
		delay *= 2
	}
}

func isThrottling(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException"
}

func (h *Handler) wait(ctx context.Context, d time.Duration) error {
	if h.sleep != nil {
		return h.sleep(ctx, d)
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

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
