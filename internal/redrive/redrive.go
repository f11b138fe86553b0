// Package redrive delivers again, to one function only, the batches of
// Kinesis records it gave up on, once its bug is fixed.
//
// A function's event source mapping sends what it gives up on to a
// failure destination: Lambda's on-failure record (stream, shard, first
// and last sequence number, batch size) in the function's SQS queue, or
// the whole batch, records included, in the stack's S3 bucket; locally,
// one line of failures/<function>.jsonl. Republishing the records would
// wake every subscriber of their events; redrive instead reads the
// records back (from the stream by shard and sequence range, or from the
// bucket's object), and invokes that function alone with them, in the
// Kinesis event shape the mapping sends, in order per shard. A batch that
// succeeds has its failure record removed; one that fails again keeps it,
// with its new error. Records the stream no longer holds (past its
// retention) are reported lost, with their execution ids as far as the
// tracker saw them, never skipped in silence.
//
// Run is the one implementation: a Source says where one function's
// failure records are and how that function is invoked, on AWS (NewAWS)
// or on the local runtime (package local). The CLI, the server's route and
// its page all end here.
package redrive

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/track"
)

// Record is one Kinesis record of a batch.
type Record struct {
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	Arrival        time.Time
}

// Failure is one batch a function gave up on, as its failure destination
// keeps it.
type Failure struct {
	// ID names the failure record where it is kept: an SQS message id, an
	// S3 object key, a failures file's request id.
	ID string
	// Where says where it is kept, for people.
	Where     string
	StreamARN string
	Stream    string
	ShardID   string
	// StartSequenceNumber and EndSequenceNumber bound the batch; BatchSize
	// counts its records.
	StartSequenceNumber, EndSequenceNumber string
	BatchSize                              int
	Condition                              string // RetryAttemptsExhausted or RecordAgeExceeded
	Time                                   time.Time
	FirstArrival, LastArrival              time.Time
	// Error is the last error known of the batch: a previous redrive's,
	// or the function's when the destination keeps it.
	Error string
	// Records are the batch's records when the destination keeps them (an
	// S3 bucket); nil when they are to be read from the stream.
	Records []Record
	// Handle is the Source's own: a receipt handle, an object key.
	Handle any
}

// Fetched is what the stream still holds of a batch.
type Fetched struct {
	Records []Record
	// Lost counts the records of the batch the stream no longer holds;
	// LostExecutions are their execution ids as far as known, and
	// LostReason says why they are gone.
	Lost           int
	LostExecutions []string
	LostReason     string
}

// Source is where one function's failure records are, and how that
// function is invoked. Run calls it from one goroutine.
type Source interface {
	// Function is the function's name (with the prefix).
	Function() string
	// Failures returns the failure records of the function, and notes on
	// what is out of reach (destinations xflow does not own, mappings
	// without one). Records returned must be handed back by Done, Keep or
	// Release.
	Failures(ctx context.Context) ([]*Failure, []string, error)
	// Fetch reads a batch's records from its stream.
	Fetch(ctx context.Context, f *Failure) (Fetched, error)
	// Invoke invokes the function with a Kinesis event; a function error
	// is functionError (its type and message), not err.
	Invoke(ctx context.Context, f *Failure, payload []byte) (response []byte, functionError string, err error)
	// EventSource is what the Kinesis event says of its source: the
	// region and the identity (the function's execution role) the mapping
	// invokes with.
	EventSource() (region, invokeIdentityARN string)
	// Done removes a failure record: its batch was delivered.
	Done(ctx context.Context, f *Failure) error
	// Keep keeps a failure record with the new error of its batch.
	Keep(ctx context.Context, f *Failure, newError string) error
	// Release hands back failure records left as they were.
	Release(ctx context.Context, fs []*Failure)
}

// Options say what to redrive.
type Options struct {
	// Lambda is the config's name of the function.
	Lambda string `json:"lambda"`
	// Executions, when given, keep the batches that hold a record of one
	// of them.
	Executions []string `json:"executions,omitempty"`
	// Since, when not zero, keeps the batches given up at or after it.
	Since time.Time `json:"since,omitzero"`
	// DryRun says what would be redriven and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Outcomes of a batch.
const (
	OutcomeRedriven     = "redriven"      // delivered; its failure record removed
	OutcomeFailed       = "failed"        // the function failed again; its record kept, with the new error
	OutcomeLost         = "lost"          // none of its records is in the stream any more; its record kept
	OutcomeNotAttempted = "not_attempted" // an earlier batch of its shard failed again: order per shard is kept
	OutcomeWouldRedrive = "would_redrive" // a dry run
)

// Report says what a redrive did, batch by batch.
type Report struct {
	Lambda   string `json:"lambda"`
	Function string `json:"function"`
	DryRun   bool   `json:"dry_run"`
	// Notes say what redrive cannot reach: destinations xflow does not
	// own, mappings without a destination.
	Notes   []string `json:"notes"`
	Batches []Batch  `json:"batches"`
	// Counts of Batches by outcome.
	Redriven     int `json:"redriven"`
	Failed       int `json:"failed"`
	Lost         int `json:"lost"`
	NotAttempted int `json:"not_attempted"`
	// LostRecords counts the records lost, in lost batches and in batches
	// redriven without them.
	LostRecords int `json:"lost_records"`
}

// Batch is one failure record and what became of it.
type Batch struct {
	ID                  string     `json:"id"`
	Where               string     `json:"where"`
	Stream              string     `json:"stream"`
	Event               string     `json:"event,omitempty"`
	ShardID             string     `json:"shard_id"`
	StartSequenceNumber string     `json:"start_sequence_number"`
	EndSequenceNumber   string     `json:"end_sequence_number"`
	BatchSize           int        `json:"batch_size"`
	Condition           string     `json:"condition"`
	GivenUpAt           track.Time `json:"given_up_at"`
	// Error is the error the batch was given up with, when known.
	Error string `json:"error,omitempty"`
	// ExecutionIDs are those of its records (their partition keys), lost
	// ones included as far as known.
	ExecutionIDs []string `json:"execution_ids"`
	// Records counts the records delivered (or to deliver).
	Records int `json:"records"`
	// Lost counts the records the stream no longer holds, with their
	// execution ids as far as known and why.
	Lost             int      `json:"lost"`
	LostExecutionIDs []string `json:"lost_execution_ids,omitempty"`
	LostReason       string   `json:"lost_reason,omitempty"`
	Outcome          string   `json:"outcome"`
	// NewError is the function's error when it failed again, or what kept
	// the batch from being delivered.
	NewError string `json:"new_error,omitempty"`
}

// Run redrives what src's function gave up on, as opts select. Batches go
// in order per shard (stream, shard, first sequence number); a batch that
// fails again stops its shard, whose later batches stay for the next run.
// An error is returned only when the failure records could not be read;
// a batch that cannot be delivered is reported as failed.
func Run(ctx context.Context, src Source, c *config.Config, opts Options) (*Report, error) {
	rep := &Report{Lambda: opts.Lambda, Function: src.Function(), DryRun: opts.DryRun, Notes: []string{}, Batches: []Batch{}}
	fs, notes, err := src.Failures(ctx)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	// Whatever is not acted upon is handed back, even when the run stops
	// early (ctx ends): nothing received is held longer than needed.
	pending := map[*Failure]bool{}
	for _, f := range fs {
		pending[f] = true
	}
	defer func() {
		var left []*Failure
		for _, f := range fs {
			if pending[f] {
				left = append(left, f)
			}
		}
		if len(left) > 0 {
			src.Release(context.WithoutCancel(ctx), left)
		}
	}()

	scheme := names.New(c.General.NamePrefix)
	type item struct {
		f    *Failure
		b    Batch
		recs []Record
	}
	var items []*item
	for _, f := range fs {
		if !opts.Since.IsZero() && f.Time.Before(opts.Since) {
			continue
		}
		recs, fetched := f.Records, Fetched{}
		if recs == nil {
			if fetched, err = src.Fetch(ctx, f); err != nil {
				return nil, fmt.Errorf("read the records of the batch %s–%s of %s: %w", f.StartSequenceNumber, f.EndSequenceNumber, f.Stream, err)
			}
			recs = fetched.Records
		}
		b := newBatch(f, recs, fetched)
		if ev, ok := scheme.Event(f.Stream); ok {
			b.Event = ev
		}
		if len(opts.Executions) > 0 && !slices.ContainsFunc(b.ExecutionIDs, func(id string) bool { return slices.Contains(opts.Executions, id) }) {
			continue
		}
		items = append(items, &item{f: f, b: b, recs: recs})
	}
	slices.SortStableFunc(items, func(x, y *item) int {
		return cmp.Or(cmp.Compare(x.f.Stream, y.f.Stream), cmp.Compare(x.f.ShardID, y.f.ShardID),
			CompareSequenceNumbers(x.f.StartSequenceNumber, y.f.StartSequenceNumber))
	})

	region, identity := src.EventSource()
	blocked := map[string]string{} // stream/shard → the batch that failed again
	for _, it := range items {
		b := &it.b
		shard := it.f.Stream + "/" + it.f.ShardID
		switch {
		case len(it.recs) == 0:
			// Nothing left to deliver; the record stays, as the only trace.
			b.Outcome = OutcomeLost
		case opts.DryRun:
			b.Outcome = OutcomeWouldRedrive
		case blocked[shard] != "":
			b.Outcome = OutcomeNotAttempted
			b.NewError = "the batch " + blocked[shard] + " of the same shard failed again, and batches of a shard are redriven in order (--execution redrives one execution's batches alone)"
		case ctx.Err() != nil:
			b.Outcome = OutcomeNotAttempted
			b.NewError = "stopped: " + ctx.Err().Error()
		default:
			delete(pending, it.f)
			deliver(ctx, src, it.f, b, it.recs, region, identity)
			if b.Outcome == OutcomeFailed {
				blocked[shard] = it.f.StartSequenceNumber + "–" + it.f.EndSequenceNumber
			}
		}
		rep.add(*b)
	}
	return rep, nil
}

// deliver invokes the function with a batch and removes or keeps its
// failure record.
func deliver(ctx context.Context, src Source, f *Failure, b *Batch, recs []Record, region, identity string) {
	for _, payload := range Payloads(recs, EventSource{StreamARN: f.StreamARN, ShardID: f.ShardID, Region: region, InvokeIdentityARN: identity}) {
		resp, fnErr, err := src.Invoke(ctx, f, payload)
		switch {
		case err != nil:
			fnErr = "could not invoke " + src.Function() + ": " + err.Error()
		case fnErr == "":
			fnErr = itemFailures(resp)
		}
		if fnErr != "" {
			b.Outcome, b.NewError = OutcomeFailed, fnErr
			if kerr := src.Keep(context.WithoutCancel(ctx), f, fnErr); kerr != nil {
				b.NewError += "; and its failure record could not be updated: " + kerr.Error()
			}
			return
		}
	}
	b.Outcome = OutcomeRedriven
	if err := src.Done(context.WithoutCancel(ctx), f); err != nil {
		// Delivered, yet still listed: the next run delivers it again,
		// which at-least-once delivery allows.
		b.NewError = "delivered, but its failure record could not be removed (a later redrive delivers the batch again): " + err.Error()
	}
}

// itemFailures reads a partial batch response: a function that names
// failed records did not process the batch.
func itemFailures(resp []byte) string {
	var r struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if json.Unmarshal(resp, &r) != nil || len(r.BatchItemFailures) == 0 {
		return ""
	}
	ids := make([]string, 0, len(r.BatchItemFailures))
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return "the function reported records as failed (batchItemFailures): " + strings.Join(ids, ", ")
}

func newBatch(f *Failure, recs []Record, fetched Fetched) Batch {
	b := Batch{
		ID: f.ID, Where: f.Where, Stream: f.Stream, ShardID: f.ShardID,
		StartSequenceNumber: f.StartSequenceNumber, EndSequenceNumber: f.EndSequenceNumber,
		BatchSize: f.BatchSize, Condition: f.Condition, GivenUpAt: track.Time{Time: f.Time.UTC()},
		Error: f.Error, ExecutionIDs: []string{}, Records: len(recs),
		Lost: fetched.Lost, LostExecutionIDs: fetched.LostExecutions, LostReason: fetched.LostReason,
	}
	for _, r := range recs {
		if !slices.Contains(b.ExecutionIDs, r.PartitionKey) {
			b.ExecutionIDs = append(b.ExecutionIDs, r.PartitionKey)
		}
	}
	for _, id := range fetched.LostExecutions {
		if !slices.Contains(b.ExecutionIDs, id) {
			b.ExecutionIDs = append(b.ExecutionIDs, id)
		}
	}
	return b
}

func (r *Report) add(b Batch) {
	r.Batches = append(r.Batches, b)
	r.LostRecords += b.Lost
	switch b.Outcome {
	case OutcomeRedriven:
		r.Redriven++
	case OutcomeFailed:
		r.Failed++
	case OutcomeLost:
		r.Lost++
	case OutcomeNotAttempted:
		r.NotAttempted++
	}
}

// Err is an error when a batch failed again, was not attempted, or lost
// records: the CLI's exit status. Nil for a dry run.
func (r *Report) Err() error {
	if r.DryRun || r.Failed+r.NotAttempted+r.LostRecords == 0 {
		return nil
	}
	var parts []string
	if r.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d batch%s failed again", r.Failed, es(r.Failed)))
	}
	if r.NotAttempted > 0 {
		parts = append(parts, fmt.Sprintf("%d not attempted", r.NotAttempted))
	}
	if r.LostRecords > 0 {
		parts = append(parts, fmt.Sprintf("%d record%s lost", r.LostRecords, s(r.LostRecords)))
	}
	return errors.New("redrive of " + r.Lambda + ": " + strings.Join(parts, ", ") + " (above)")
}

// CompareSequenceNumbers orders two Kinesis sequence numbers, decimal
// numbers of up to 128 bits (longer is larger; leading zeros, which local
// mode writes, do not count).
func CompareSequenceNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

func es(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}

func s(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
