package redrive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/esm"
)

// OnFailureRecord is Lambda's on-failure record of a Kinesis batch: the
// body of an SQS message, an S3 object (which adds the invocation's
// payload) or a line of local mode's failures file (which adds the
// function's last error).
type OnFailureRecord struct {
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
	Version          string `json:"version"`
	Timestamp        string `json:"timestamp"`
	KinesisBatchInfo *struct {
		ShardID                         string `json:"shardId"`
		StartSequenceNumber             string `json:"startSequenceNumber"`
		EndSequenceNumber               string `json:"endSequenceNumber"`
		ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
		ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
		BatchSize                       int    `json:"batchSize"`
		StreamARN                       string `json:"streamArn"`
	} `json:"KinesisBatchInfo"`
	// Payload is the invocation's event, in an S3 destination's record: a
	// JSON string of the event, as AWS documents it (an object is taken
	// too).
	Payload json.RawMessage `json:"payload,omitempty"`
	// XflowError is local mode's: the function's last error on the batch.
	XflowError string `json:"xflowError,omitempty"`
	// XflowRedrive is written by redrive on a record it keeps: the time
	// and error of the last attempt.
	XflowRedrive *RedriveAttempt `json:"xflowRedrive,omitempty"`
}

// RedriveAttempt is the last failed redrive of a batch.
type RedriveAttempt struct {
	Time  string `json:"time"`
	Error string `json:"error"`
}

// ParseRecord reads an on-failure record into a Failure (ID, Where and
// Handle are the caller's to set). A record that is not of a Kinesis
// batch is an error that says what it is.
func ParseRecord(body []byte) (*Failure, *OnFailureRecord, error) {
	var r OnFailureRecord
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("not a Lambda on-failure record: %w", err)
	}
	b := r.KinesisBatchInfo
	if b == nil {
		return nil, nil, errors.New("not the on-failure record of a Kinesis batch (no KinesisBatchInfo)")
	}
	stream, ok := esm.StreamName(b.StreamARN)
	if !ok {
		return nil, nil, fmt.Errorf("the record's streamArn %q is not a Kinesis stream's", b.StreamARN)
	}
	if b.ShardID == "" || b.StartSequenceNumber == "" || b.EndSequenceNumber == "" {
		return nil, nil, errors.New("the record's KinesisBatchInfo lacks its shard or sequence numbers")
	}
	f := &Failure{
		StreamARN: b.StreamARN, Stream: stream, ShardID: b.ShardID,
		StartSequenceNumber: b.StartSequenceNumber, EndSequenceNumber: b.EndSequenceNumber,
		BatchSize: b.BatchSize, Condition: r.RequestContext.Condition,
		Time:         parseTime(r.Timestamp),
		FirstArrival: parseTime(b.ApproximateArrivalOfFirstRecord),
		LastArrival:  parseTime(b.ApproximateArrivalOfLastRecord),
		Error:        r.XflowError,
	}
	if rc := r.ResponseContext; f.Error == "" && rc != nil && rc.FunctionError != "" {
		f.Error = "function error (" + rc.FunctionError + ")"
	}
	if a := r.XflowRedrive; a != nil && a.Error != "" {
		f.Error = a.Error
	}
	if len(r.Payload) > 0 {
		recs, err := payloadRecords(r.Payload)
		if err != nil {
			return nil, nil, fmt.Errorf("the record's payload: %w", err)
		}
		f.Records = recs
	}
	return f, &r, nil
}

// payloadRecords reads the records of an invocation's event.
func payloadRecords(raw json.RawMessage) ([]Record, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	var ev struct {
		Records []EventRecord `json:"Records"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("not a Kinesis event: %w", err)
	}
	if len(ev.Records) == 0 {
		return nil, errors.New("a Kinesis event without records")
	}
	out := make([]Record, len(ev.Records))
	for i, r := range ev.Records {
		if r.Kinesis.SequenceNumber == "" {
			return nil, fmt.Errorf("record %d has no sequence number", i)
		}
		ms := int64(r.Kinesis.ApproximateArrivalTimestamp*1000 + 0.5)
		out[i] = Record{
			SequenceNumber: r.Kinesis.SequenceNumber,
			PartitionKey:   r.Kinesis.PartitionKey,
			Data:           r.Kinesis.Data,
			Arrival:        time.UnixMilli(ms).UTC(),
		}
	}
	return out, nil
}

// WithAttempt returns body with xflowRedrive set: a record kept after a
// failed redrive says why, and when.
func WithAttempt(body []byte, at time.Time, newError string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	a, _ := json.Marshal(RedriveAttempt{Time: at.UTC().Format(time.RFC3339Nano), Error: newError})
	m["xflowRedrive"] = a
	return json.Marshal(m)
}

// parseTime reads Lambda's times ("2019-11-14T00:13:49.717Z"); zero when
// absent or unreadable.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
