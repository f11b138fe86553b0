package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/redrive"
)

// target is what a mapping invokes: a function's workers, or a tracker
// in this process.
type target interface {
	invoke(ctx context.Context, payload []byte) ([]byte, *FunctionError, error)
}

// mapping is one event source mapping: a function or tracker reading one
// stream. It reads batches from its checkpoint and applies Lambda's
// semantics for Kinesis, in order:
//
//   - a batch is up to BatchSize records, gathered for up to BatchWindow,
//     within the 6 MB an invocation may carry;
//   - records older than MaxRecordAge are not sent: they go to the
//     on-failure destination (condition RecordAgeExceeded);
//   - when the function fails (an error, a crash, a timeout) and
//     BisectOnError is on, the batch is split in two and each half handled
//     in turn; splitting does not use up retries, as on AWS;
//   - a batch of one record, or any batch without bisect, is retried up to
//     RetryAttempts times, then given up: its metadata goes to the
//     on-failure destination and the mapping moves on;
//   - with ReportBatchItemFailures, a response naming failed records
//     checkpoints before the first of them and retries from it; a response
//     naming records not in the batch fails the whole batch.
//
// The checkpoint is written, atomically, only once the records before it
// are done, so a crash redelivers at most the batch in flight: at least
// once, in order.
type mapping struct {
	rt        *Runtime
	stream    *stream
	streamARN string
	// function is the AWS name of the function or tracker the mapping
	// invokes: it names the mapping's checkpoint and the failures file
	// that receives the batches it gives up, as on AWS, where both belong
	// to the function.
	function string
	fnARN    string
	target   target
	settings spec.Mapping
	log      *slog.Logger

	checkpointPath string
	pos            atomic.Int64 // offset of the next record to deliver
	busy           atomic.Bool  // holding records not yet done
	reader         *reader

	// now is the clock of record ages; tests replace it.
	now func() time.Time

	stallLogged time.Time // see checkStall

	// persistWake asks persist to write the checkpoint; nil when the
	// mapping does not run, and checkpoint writes at once. written is the
	// position in the file.
	persistWake chan struct{}
	written     int64
}

// maxBatchData bounds the data of one batch so that the invocation,
// base64 and all, stays under Lambda's 6 MB.
const maxBatchData = 4 << 20

// idlePoll is how often an idle mapping looks for records appended by
// another process; appends of this process wake it at once.
const idlePoll = 50 * time.Millisecond

func (m *mapping) openCheckpoint(stateDir string) error {
	dir := filepath.Join(stateDir, "checkpoints", m.stream.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m.checkpointPath = filepath.Join(dir, m.function)
	data, err := os.ReadFile(m.checkpointPath)
	switch {
	case err == nil:
		pos, err := parseSeq(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", m.checkpointPath, err)
		}
		m.pos.Store(pos)
		m.written = pos
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	// A new mapping starts at the oldest record, or at the end of the
	// stream for LATEST, which it remembers at once.
	if m.settings.StartingPosition == "LATEST" {
		end, err := m.stream.end()
		if err != nil {
			return err
		}
		return m.checkpoint(end)
	}
	return nil
}

// checkpointInterval is the least time between two writes of a running
// mapping's checkpoint.
const checkpointInterval = 100 * time.Millisecond

// checkpoint moves the mapping past the records before pos. While the
// mapping runs, the file is written in the background (see persist), so
// that the next batch need not wait for it, at most every
// checkpointInterval: at high load many batches end in that time, and
// only the last of them is written. A crash then delivers again the
// batches that ended since the last write, which at least once allows;
// Stop writes the last one.
func (m *mapping) checkpoint(pos int64) error {
	m.pos.Store(pos)
	if m.persistWake == nil {
		return m.writeCheckpoint(pos)
	}
	select {
	case m.persistWake <- struct{}{}:
	default: // a write is due already; it takes the newest position
	}
	return nil
}

func (m *mapping) writeCheckpoint(pos int64) error {
	if err := writeFileAtomic(m.checkpointPath, []byte(strconv.FormatInt(pos, 10)+"\n")); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", m.checkpointPath, err)
	}
	m.written = pos
	return nil
}

// persist writes the checkpoint whenever it moved, until stop is closed;
// then it writes the last position. A failed write (a full disk) is
// logged and tried again a second later: delivery goes on meanwhile, and
// a crash would deliver again from the last position written.
func (m *mapping) persist(stop <-chan struct{}) {
	failing := false
	var last time.Time
	for {
		select {
		case <-m.persistWake:
		case <-stop:
			if pos := m.pos.Load(); pos != m.written {
				if err := m.writeCheckpoint(pos); err != nil {
					m.log.Error("could not write the last checkpoint: the next start delivers again from "+strconv.FormatInt(m.written, 10), "error", err)
				}
			}
			return
		}
		// At most one write per checkpointInterval: the write is what a
		// loaded runtime spends most of its own time on otherwise.
		if wait := checkpointInterval - time.Since(last); wait > 0 {
			select {
			case <-stop:
			case <-time.After(wait):
			}
		}
		pos := m.pos.Load()
		if pos == m.written {
			continue
		}
		last = time.Now()
		if err := m.writeCheckpoint(pos); err != nil {
			if !failing {
				m.log.Error("could not write the checkpoint; trying again every second (a crash now would deliver again from "+strconv.FormatInt(m.written, 10)+")", "error", err)
			}
			failing = true
			select {
			case <-stop:
			case <-time.After(time.Second):
			}
			select {
			case m.persistWake <- struct{}{}:
			default:
			}
			continue
		}
		if failing {
			m.log.Info("the checkpoint is written again", "checkpoint", pos)
			failing = false
		}
	}
}

// run delivers until ctx is done; the batch in flight is finished first,
// or left without checkpoint if it needs more attempts.
func (m *mapping) run(ctx context.Context) {
	m.reader = m.stream.newReader()
	defer m.reader.close()
	m.written = m.pos.Load()
	m.persistWake = make(chan struct{}, 1)
	stop, persisted := make(chan struct{}), make(chan struct{})
	go func() {
		m.persist(stop)
		close(persisted)
	}()
	defer func() {
		close(stop)
		<-persisted
		m.persistWake = nil
	}()
	batchSize := max(m.settings.BatchSize, 1)
	window := time.Duration(m.settings.BatchWindowSeconds) * time.Second
	for ctx.Err() == nil {
		m.busy.Store(true)
		wake := m.stream.waitChan()
		recs, err := m.reader.read(m.pos.Load(), batchSize, maxBatchData)
		if err != nil && len(recs) == 0 {
			m.log.Error("read stream", "error", err)
			m.busy.Store(false)
			m.sleep(ctx, nil, time.Second)
			continue
		}
		if len(recs) == 0 {
			if after := m.reader.after; after > m.pos.Load() {
				// Padding where damage was: nothing to deliver, nothing
				// to wait for.
				m.pos.Store(after)
			}
			m.busy.Store(false)
			m.checkStall()
			m.sleep(ctx, wake, idlePoll)
			continue
		}
		if window > 0 && len(recs) < batchSize {
			recs = m.gather(ctx, recs, batchSize, window)
		}
		if err := m.handle(ctx, recs, 0); err != nil {
			m.log.Error("could not finish a batch; it is delivered again in a second", "first", recs[0].SequenceNumber(), "error", err)
			m.sleep(ctx, nil, time.Second)
		}
	}
	m.busy.Store(false)
}

// stallReport is how often a mapping whose checkpoint is past the end of
// its stream says so.
const stallReport = time.Minute

// checkStall logs, once a minute, a checkpoint past the end of the
// stream: the stream was cut below it while the runtime ran (Start
// refuses such a checkpoint), so records appended until the stream
// reaches it again would not be delivered.
func (m *mapping) checkStall() {
	if time.Since(m.stallLogged) < stallReport {
		return
	}
	end, err := m.stream.end()
	if pos := m.pos.Load(); err == nil && pos > end {
		m.stallLogged = time.Now()
		m.log.Error(fmt.Sprintf("checkpoint %s is at %d, past the end of stream %s (%d): records appended below it are not delivered; stop, then start with --repair to move it to the end", m.checkpointPath, pos, m.stream.name, end))
	}
}

// gather waits up to the batch window for a batch to fill.
func (m *mapping) gather(ctx context.Context, recs []Record, size int, window time.Duration) []Record {
	deadline := time.Now().Add(window)
	for len(recs) < size {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			break
		}
		wake := m.stream.waitChan()
		more, _ := m.reader.read(recs[len(recs)-1].Next, size-len(recs), maxBatchData)
		recs = append(recs, more...)
		if len(more) == 0 {
			m.sleep(ctx, wake, min(left, idlePoll))
		}
	}
	return recs
}

func (m *mapping) sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// idle reports whether the mapping has delivered everything the stream
// holds now.
func (m *mapping) idle() bool {
	if m.busy.Load() {
		return false
	}
	end, err := m.stream.end()
	return err == nil && m.pos.Load() >= end
}

// handle delivers a batch until it is done: processed, or given up. It
// returns early without checkpointing when ctx is done and the batch
// needs another attempt, so that the next start delivers it again.
func (m *mapping) handle(ctx context.Context, batch []Record, retries int) error {
	for {
		var err error
		if batch, err = m.expire(batch); err != nil || len(batch) == 0 {
			return err
		}
		if ctx.Err() != nil {
			return nil // stopping: the next start delivers the batch again
		}
		resp, fe, ierr := m.target.invoke(ctx, m.payload(batch))
		if ierr != nil {
			if errors.Is(ierr, errStopped) {
				return nil
			}
			fe = &FunctionError{Type: "Runtime.Unknown", Message: ierr.Error()}
		}
		if fe == nil {
			failed := -1
			if m.settings.ReportBatchItemFailures {
				failed, fe = batchItemFailure(resp, batch)
			}
			if fe == nil && failed < 0 {
				return m.checkpoint(batch[len(batch)-1].Next)
			}
			if failed > 0 {
				// The records before the first failure are done.
				if err := m.checkpoint(batch[failed].Seq); err != nil {
					return err
				}
				batch = batch[failed:]
			}
			if fe == nil {
				fe = &FunctionError{Type: "BatchItemFailure", Message: fmt.Sprintf("the function reported record %s as failed", batch[0].SequenceNumber())}
			}
		}
		if m.settings.BisectOnError && len(batch) > 1 {
			half := len(batch) / 2
			m.log.Info("function failed; bisecting the batch", "records", len(batch), "first", batch[0].SequenceNumber(), "error", fe.Error())
			if err := m.handle(ctx, batch[:half], retries); err != nil || ctx.Err() != nil && m.pos.Load() < batch[half-1].Next {
				return err
			}
			return m.handle(ctx, batch[half:], retries)
		}
		if retries >= m.settings.RetryAttempts {
			if err := m.giveUp(batch, "RetryAttemptsExhausted", fe, retries+1); err != nil {
				return err
			}
			return m.checkpoint(batch[len(batch)-1].Next)
		}
		retries++
		m.log.Info("function failed; retrying the batch", "records", len(batch), "first", batch[0].SequenceNumber(), "retry", retries, "of", m.settings.RetryAttempts, "error", fe.Error())
		if ctx.Err() != nil {
			return nil
		}
		m.sleep(ctx, nil, retryDelay(retries))
	}
}

// retryDelay backs off between attempts at one batch.
func retryDelay(n int) time.Duration {
	return min(50*time.Millisecond<<min(n-1, 5), time.Second)
}

// expire sends the records older than MaxRecordAge to the on-failure
// destination and returns the rest. Records are in arrival order, so the
// old ones come first.
func (m *mapping) expire(batch []Record) ([]Record, error) {
	if m.settings.MaxRecordAgeSeconds <= 0 {
		return batch, nil
	}
	oldest := m.now().Add(-time.Duration(m.settings.MaxRecordAgeSeconds) * time.Second)
	n := 0
	for n < len(batch) && batch[n].Arrival.Before(oldest) {
		n++
	}
	if n == 0 {
		return batch, nil
	}
	if err := m.giveUp(batch[:n], "RecordAgeExceeded", nil, 0); err != nil {
		return nil, err
	}
	if err := m.checkpoint(batch[n-1].Next); err != nil {
		return nil, err
	}
	return batch[n:], nil
}

// batchItemFailure reads a partial batch response: the index of the
// first failed record, or -1; or an error when the response fails the
// whole batch, as Lambda treats it.
func batchItemFailure(resp []byte, batch []Record) (int, *FunctionError) {
	resp = bytes.TrimSpace(resp)
	if len(resp) == 0 || string(resp) == "null" {
		return -1, nil
	}
	var r struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		return 0, &FunctionError{Type: "InvalidBatchItemFailureResponse", Message: "the response is not a partial batch response: " + err.Error()}
	}
	first := -1
	for _, f := range r.BatchItemFailures {
		id := ""
		if f.ItemIdentifier != nil {
			id = *f.ItemIdentifier
		}
		i := -1
		for j, rec := range batch {
			if rec.SequenceNumber() == id {
				i = j
				break
			}
		}
		if i < 0 {
			return 0, &FunctionError{Type: "InvalidBatchItemFailureResponse", Message: fmt.Sprintf("itemIdentifier %q is not a sequence number of the batch", id)}
		}
		if first < 0 || i < first {
			first = i
		}
	}
	return first, nil
}

// payload is the Kinesis event of a batch, as Lambda sends it (the shape
// redrive sends too).
func (m *mapping) payload(batch []Record) []byte {
	return redrive.Event(redriveRecords(batch), redrive.EventSource{
		StreamARN: m.streamARN, ShardID: shardID, Region: m.rt.region, InvokeIdentityARN: m.rt.roleARN,
	})
}

// kinesisEventRecord is a record as Lambda delivers it from Kinesis.
type kinesisEventRecord = redrive.EventRecord

// redriveRecords are records of a stream as redrive takes them.
func redriveRecords(recs []Record) []redrive.Record {
	out := make([]redrive.Record, len(recs))
	for i, r := range recs {
		out[i] = redrive.Record{SequenceNumber: r.SequenceNumber(), PartitionKey: r.PartitionKey, Data: r.Data, Arrival: r.Arrival}
	}
	return out
}

// onFailure is Lambda's on-failure record for a Kinesis batch it gave up.
type onFailure struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext *struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext,omitempty"`
	Version          string    `json:"version"`
	Timestamp        string    `json:"timestamp"`
	KinesisBatchInfo batchInfo `json:"KinesisBatchInfo"`
	// XflowError is local mode's addition to Lambda's record: the last
	// error of the function on the batch, which Lambda leaves in the
	// function's log alone.
	XflowError string `json:"xflowError,omitempty"`
}

type batchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// failuresMu serializes appends to the failures files of a runtime.
var failuresMu sync.Mutex

// giveUp records a batch that will not be delivered again: in the
// function's failures file when the destination is the queue xflow makes
// (or an ARN, which cannot be reached from here), nowhere for "none".
func (m *mapping) giveUp(batch []Record, condition string, fe *FunctionError, invokes int) error {
	first, last := batch[0], batch[len(batch)-1]
	attrs := []any{"condition", condition, "records", len(batch), "first", first.SequenceNumber(), "last", last.SequenceNumber(), "partition_keys", partitionKeys(batch)}
	if fe != nil {
		attrs = append(attrs, "error", fe.Error())
	}
	if m.settings.OnFailure == spec.OnFailureNone {
		m.log.Warn("gave up on records; on_failure is none, so they are dropped", attrs...)
		return nil
	}
	var rec onFailure
	rec.RequestContext.RequestID = newRequestID()
	if fe != nil && fe.requestID != "" {
		rec.RequestContext.RequestID = fe.requestID
	}
	rec.RequestContext.FunctionARN = m.fnARN
	rec.RequestContext.Condition = condition
	rec.RequestContext.ApproximateInvokeCount = invokes
	if fe != nil {
		rec.ResponseContext = &struct {
			StatusCode      int    `json:"statusCode"`
			ExecutedVersion string `json:"executedVersion"`
			FunctionError   string `json:"functionError"`
		}{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: "Unhandled"}
	}
	rec.Version = "1.0"
	rec.Timestamp = time.Now().UTC().Format(isoMillis)
	if fe != nil {
		rec.XflowError = fe.Error()
	}
	rec.KinesisBatchInfo = batchInfo{
		ShardID:                         shardID,
		StartSequenceNumber:             first.SequenceNumber(),
		EndSequenceNumber:               last.SequenceNumber(),
		ApproximateArrivalOfFirstRecord: first.Arrival.UTC().Format(isoMillis),
		ApproximateArrivalOfLastRecord:  last.Arrival.UTC().Format(isoMillis),
		BatchSize:                       len(batch),
		StreamARN:                       m.streamARN,
	}
	line, _ := json.Marshal(rec)
	path := failuresPath(m.rt.stateDir, m.function)
	failuresMu.Lock()
	defer failuresMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("record failed batch: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("record failed batch: %w", err)
	}
	if size := fi.Size(); size > 0 {
		// A line cut short by a crash must not swallow this one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		// Like a message in SQS, a dead letter must outlive a crash.
		err = f.Sync()
	}
	if err != nil {
		// A full disk: leave no part of the line, which the next one
		// would join; the batch is given up again at the next attempt.
		f.Truncate(fi.Size())
		return fmt.Errorf("record failed batch in %s: %w", path, err)
	}
	m.log.Warn("gave up on records; their metadata is in "+path, attrs...)
	return nil
}

func partitionKeys(batch []Record) string {
	seen := map[string]bool{}
	var keys []string
	for _, r := range batch {
		if !seen[r.PartitionKey] && len(keys) < 10 {
			seen[r.PartitionKey] = true
			keys = append(keys, r.PartitionKey)
		}
	}
	return strings.Join(keys, ",")
}
