package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// DeadLetter is a batch a mapping gave up on: one line of
// failures/<function>.jsonl, Lambda's on-failure record, with the
// execution ids (partition keys) of its records read back from the
// stream, so that track and the server can say which executions lost an
// event. What redrive did with it is in failures/redriven/<function>.jsonl
// (see redriveMark): the failures file itself is only appended to, by
// the mappings.
type DeadLetter struct {
	Function            string          `json:"function"`
	Condition           string          `json:"condition"` // RetryAttemptsExhausted or RecordAgeExceeded
	Time                time.Time       `json:"time"`
	Stream              string          `json:"stream"`
	StartSequenceNumber string          `json:"start_sequence_number"`
	EndSequenceNumber   string          `json:"end_sequence_number"`
	BatchSize           int             `json:"batch_size"`
	ExecutionIDs        []string        `json:"execution_ids"`
	Error               string          `json:"error,omitempty"` // the function's last error on the batch, or its last redrive's
	Record              json.RawMessage `json:"record"`          // as Lambda writes it
	// RequestID is the record's requestContext.requestId; Line its line
	// in the failures file (from 1).
	RequestID string `json:"request_id"`
	Line      int    `json:"line"`
	// Redriven is when redrive delivered the batch; zero while it waits.
	Redriven time.Time `json:"redriven,omitzero"`
}

// redriveMark is one line of failures/redriven/<function>.jsonl: what a
// redrive did with a dead letter. The last mark of a dead letter counts.
type redriveMark struct {
	Key     string    `json:"key"` // deadLetterKey
	Time    time.Time `json:"time"`
	Outcome string    `json:"outcome"` // redrive.OutcomeRedriven or redrive.OutcomeFailed
	Error   string    `json:"error,omitempty"`
}

// deadLetterKey names a dead letter among its function's: its request id
// (one per invocation given up) and its batch.
func deadLetterKey(requestID, start, end string) string {
	return requestID + "/" + start + "/" + end
}

// failuresPath is the file of a function's dead letters, Lambda's
// on-failure records (what the failure queue holds on AWS); function is
// its AWS name.
func failuresPath(stateDir, function string) string {
	return filepath.Join(stateDir, "failures", function+".jsonl")
}

// redrivenPath is the file of a function's redrive marks.
func redrivenPath(stateDir, function string) string {
	return filepath.Join(stateDir, "failures", "redriven", function+".jsonl")
}

// readMarks reads the last redrive mark of each dead letter of a function.
func readMarks(stateDir, function string) (map[string]redriveMark, error) {
	marks := map[string]redriveMark{}
	f, err := os.Open(redrivenPath(stateDir, function))
	if errors.Is(err, fs.ErrNotExist) {
		return marks, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m redriveMark
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.Key == "" {
			continue // a line cut short by a crash
		}
		marks[m.Key] = m
	}
	return marks, sc.Err()
}

// writeMark appends a redrive mark, fsynced: like deleting an SQS
// message, marking a batch redriven must outlive a crash, or it would be
// delivered again.
func writeMark(stateDir, function string, m redriveMark) error {
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := redrivenPath(stateDir, function)
	failuresMu.Lock()
	defer failuresMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("mark the batch: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if size := fi.Size(); size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err = f.Write(append(line, '\n')); err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Truncate(fi.Size())
		return fmt.Errorf("mark the batch in %s: %w", path, err)
	}
	return nil
}

// DeadLetters reads every dead letter of a state folder, oldest first per
// function.
func DeadLetters(stateDir string) ([]DeadLetter, error) {
	files, err := filepath.Glob(filepath.Join(stateDir, "failures", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []DeadLetter
	for _, path := range files {
		fn := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		marks, err := readMarks(stateDir, fn)
		if err != nil {
			f.Close()
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			n++
			var rec onFailure
			line := sc.Bytes()
			if err := json.Unmarshal(line, &rec); err != nil {
				continue // a line cut short by a crash
			}
			b := rec.KinesisBatchInfo
			d := DeadLetter{
				Function:            fn,
				Condition:           rec.RequestContext.Condition,
				StartSequenceNumber: b.StartSequenceNumber,
				EndSequenceNumber:   b.EndSequenceNumber,
				BatchSize:           b.BatchSize,
				Error:               rec.XflowError,
				Record:              append(json.RawMessage(nil), line...),
				RequestID:           rec.RequestContext.RequestID,
				Line:                n,
			}
			if m, ok := marks[deadLetterKey(d.RequestID, d.StartSequenceNumber, d.EndSequenceNumber)]; ok {
				switch m.Outcome {
				case redrive.OutcomeRedriven:
					d.Redriven = m.Time
				case redrive.OutcomeFailed:
					d.Error = m.Error
				}
			}
			d.Time, _ = time.Parse(isoMillis, rec.Timestamp)
			if _, name, ok := strings.Cut(b.StreamARN, ":stream/"); ok {
				d.Stream = name
				d.ExecutionIDs, err = partitionKeysIn(stateDir, name, b.StartSequenceNumber, b.EndSequenceNumber)
				if err != nil {
					f.Close()
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
			out = append(out, d)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// partitionKeysIn returns the distinct partition keys of a stream's
// records from one sequence number to another, both included.
func partitionKeysIn(stateDir, name, from, to string) ([]string, error) {
	start, err1 := parseSeq(from)
	end, err2 := parseSeq(to)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	s, ok, err := openExistingStream(stateDir, name)
	if err != nil || !ok {
		return nil, err
	}
	defer s.close()
	r := s.newReadOnlyReader()
	defer r.close()
	var keys []string
	for pos := start; pos <= end; {
		recs, err := r.read(pos, 100, 1<<62)
		if err != nil || len(recs) == 0 {
			return keys, err
		}
		for _, rec := range recs {
			if rec.Seq > end {
				return keys, nil
			}
			if !slices.Contains(keys, rec.PartitionKey) {
				keys = append(keys, rec.PartitionKey)
			}
			pos = rec.Next
		}
	}
	return keys, nil
}

// TrackDeadLetters gives track the dead letters of one execution of a
// state folder (see track.Options.DeadLetters). Reading them means reading
// every failure file and the stream records of every batch, so they are
// read again only when a failure file changed: the server tracks a page of
// executions at a time, and each page would read them all again.
func TrackDeadLetters(stateDir string) func(ctx context.Context, executionID string) ([]track.DeadLetter, error) {
	var (
		mu   sync.Mutex
		seen string // the failure files' names, sizes and times when read
		all  []DeadLetter
	)
	return func(ctx context.Context, executionID string) ([]track.DeadLetter, error) {
		mu.Lock()
		defer mu.Unlock()
		state, err := failuresState(stateDir)
		if err != nil {
			return nil, err
		}
		if state != seen || all == nil {
			if all, err = DeadLetters(stateDir); err != nil {
				return nil, err
			}
			seen = state
		}
		var out []track.DeadLetter
		for _, d := range all {
			if !slices.Contains(d.ExecutionIDs, executionID) || !d.Redriven.IsZero() {
				continue // a batch redriven is no longer given up
			}
			out = append(out, track.DeadLetter{
				Function:            d.Function,
				Stream:              d.Stream,
				Condition:           d.Condition,
				Time:                track.Time{Time: d.Time},
				StartSequenceNumber: d.StartSequenceNumber,
				EndSequenceNumber:   d.EndSequenceNumber,
				Error:               d.Error,
				Where:               failuresPath(stateDir, d.Function),
			})
		}
		return out, nil
	}
}

// failuresState sums up the failure files of a state folder and their
// redrive marks: it changes whenever one is written.
func failuresState(stateDir string) (string, error) {
	var b strings.Builder
	for _, dir := range []string{filepath.Join(stateDir, "failures"), filepath.Join(stateDir, "failures", "redriven")} {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%s/%s %d %d\n", filepath.Base(dir), e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String(), nil
}

// TrackOptions are track's options for a local state folder: no quota to
// pace (files, not a metered API), local mode's hint when the workflow
// never ran there, and the folder's dead letters.
func TrackOptions(stateDir string) track.Options {
	return track.Options{
		Limiter:          track.NewLimiter(0),
		MissingGroupHint: track.LocalMissingGroupHint,
		DeadLetters:      TrackDeadLetters(stateDir),
		Damage:           TrackDamage(stateDir),
	}
}
