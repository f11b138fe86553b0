// Package publish puts one event of a workflow on its Kinesis stream, as
// `xflow publish` and the server's POST /publish do.
//
// An event is checked before anything is sent: it must be an event of the
// config, one JSON object in UTF-8 with a string execution_id that can name
// the execution's tracking log stream, and fit in one Kinesis record. The
// partition key is the execution id, so the events of one execution stay in
// order on a shard; the original xFlow used the whole payload, which Kinesis
// refuses above 256 characters.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/jsontext"
	"github.com/xflowhq/xflow/internal/names"
)

// Kinds of refused events, for errors.Is. The server maps ErrUnknownEvent
// to 404, ErrInvalidEvent to 400 and ErrTooLarge to 413.
var (
	ErrUnknownEvent = errors.New("unknown event")
	ErrInvalidEvent = errors.New("invalid event")
	ErrTooLarge     = errors.New("event too large")
	// ErrStreamNotFound means the event's stream does not exist: the
	// workflow is not deployed, or under another name prefix or region.
	ErrStreamNotFound = errors.New("stream not found")
)

// Error is an event refused before it was sent, or a stream that is not
// there. errors.Is(err, ErrInvalidEvent) and the like tell the kind.
type Error struct {
	Kind error  // ErrUnknownEvent, ErrInvalidEvent, ErrTooLarge or ErrStreamNotFound
	Msg  string // the whole message, written for people
	Err  error  // the cause, when AWS reported one
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// KinesisAPI is the part of the Kinesis client Publisher uses;
// *kinesis.Client satisfies it.
type KinesisAPI interface {
	PutRecord(ctx context.Context, params *kinesis.PutRecordInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// Publisher puts events of one config on their streams. It is safe for
// concurrent use.
type Publisher struct {
	Kinesis KinesisAPI
	Config  *config.Config
}

// New returns a Publisher of c's events through api.
func New(api KinesisAPI, c *config.Config) *Publisher {
	return &Publisher{Kinesis: api, Config: c}
}

// Result is where a published event landed.
type Result struct {
	Stream         string `json:"stream"`
	ShardID        string `json:"shard_id"`
	SequenceNumber string `json:"sequence_number"`
	ExecutionID    string `json:"execution_id"`
}

// Record is an event that passed every check, ready to send.
type Record struct {
	Event       string
	Stream      string
	ExecutionID string // also the partition key
	Data        []byte // the payload without surrounding white space
}

// Publish checks an event and puts it on its stream. Nothing is sent when
// a check fails.
func (p *Publisher) Publish(ctx context.Context, event string, payload []byte) (Result, error) {
	rec, err := Prepare(p.Config, event, payload)
	if err != nil {
		return Result{}, err
	}
	return p.Send(ctx, rec)
}

// Send puts a prepared record on its stream.
func (p *Publisher) Send(ctx context.Context, rec *Record) (Result, error) {
	out, err := p.Kinesis.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String(rec.Stream),
		PartitionKey: aws.String(rec.ExecutionID),
		Data:         rec.Data,
	})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return Result{}, &Error{Kind: ErrStreamNotFound, Err: err, Msg: fmt.Sprintf(
				"stream %s of event %s does not exist: deploy the workflow first (xflow deploy), and check the region and general.name_prefix",
				rec.Stream, rec.Event)}
		}
		return Result{}, fmt.Errorf("put %s on stream %s: %w", rec.Event, rec.Stream, err)
	}
	return Result{
		Stream:         rec.Stream,
		ShardID:        aws.ToString(out.ShardId),
		SequenceNumber: aws.ToString(out.SequenceNumber),
		ExecutionID:    rec.ExecutionID,
	}, nil
}

// Prepare checks an event against c and returns the record to send. It
// needs no AWS access, so callers can refuse bad input before they set up
// a client.
func Prepare(c *config.Config, event string, payload []byte) (*Record, error) {
	if _, ok := c.Subscription(event); !ok {
		msg := fmt.Sprintf("event %q is not in %s", event, configName(c))
		if hint := didyoumean.Hint(event, c.Events(), "its events are"); hint != "" {
			msg += " (" + hint + ")"
		}
		return nil, refuse(ErrUnknownEvent, "%s", msg)
	}
	data := bytes.TrimSpace(payload)
	// The partition key weighs at least a byte; refuse a payload that is
	// too large on its own before reading it.
	if len(data) >= spec.MaxRecordBytes {
		return nil, tooLarge(len(data), 0)
	}
	if err := checkObject(data); err != nil {
		return nil, err
	}
	id, err := executionID(data)
	if err != nil {
		return nil, err
	}
	if size := len(data) + len(id); size > spec.MaxRecordBytes {
		return nil, tooLarge(len(data), len(id))
	}
	return &Record{
		Event:       event,
		Stream:      names.New(c.General.NamePrefix).Stream(event),
		ExecutionID: id,
		Data:        data,
	}, nil
}

func configName(c *config.Config) string {
	if c.File == "" {
		return "the config"
	}
	return c.File
}

func tooLarge(data, key int) *Error {
	if key == 0 {
		return refuse(ErrTooLarge, "the event is %d bytes, more than the %d bytes (1 MiB) of a Kinesis record", data, spec.MaxRecordBytes)
	}
	return refuse(ErrTooLarge,
		"the event is %d bytes and its partition key (the execution_id) %d bytes: %d bytes in all, more than the %d bytes (1 MiB) of a Kinesis record",
		data, key, data+key, spec.MaxRecordBytes)
}

// checkObject refuses anything but one JSON object in UTF-8, saying where
// the problem is.
func checkObject(data []byte) error {
	if len(data) == 0 {
		return refuse(ErrInvalidEvent, `the event is empty; write a JSON object such as {"execution_id": "ex-1"}`)
	}
	if !utf8.Valid(data) {
		return refuse(ErrInvalidEvent, "the event is not valid UTF-8 at %s", jsontext.Position(data, jsontext.InvalidUTF8(data)))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return refuse(ErrInvalidEvent, "the event is not valid JSON: %v at %s", syn, jsontext.Position(data, int(syn.Offset)-1))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return refuse(ErrInvalidEvent, "the event is not valid JSON: it ends at %s before the object is complete", jsontext.Position(data, len(data)))
		default:
			return refuse(ErrInvalidEvent, "the event is not valid JSON: %v", err)
		}
	}
	if v[0] != '{' {
		return refuse(ErrInvalidEvent, `the event is %s, not a JSON object; write {"execution_id": "ex-1", ...}`, jsontext.Kind(v))
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return refuse(ErrInvalidEvent, "the event must be one JSON object, but more follows it at %s",
			jsontext.Position(data, len(data)-len(rest)))
	}
	return nil
}

// executionID returns the object's execution_id, which must be a
// non-empty string that can name a log stream and a partition key.
func executionID(data []byte) (string, error) {
	// A map rather than a struct: encoding/json matches struct fields
	// case-insensitively, and the tracker reads "execution_id" exactly.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return "", refuse(ErrInvalidEvent, "the event is not valid JSON: %v", err)
	}
	raw, ok := fields["execution_id"]
	if !ok {
		return "", refuse(ErrInvalidEvent, `the event has no "execution_id"; add "execution_id": "<id>" so that its execution can be tracked`)
	}
	if n := topLevelCount(data, "execution_id"); n > 1 {
		// Readers disagree on which one counts (JSON leaves it open).
		return "", refuse(ErrInvalidEvent, `the event has "execution_id" %d times; give it once`, n)
	}
	if raw[0] != '"' {
		return "", refuse(ErrInvalidEvent, `"execution_id" is %s, not a string`, jsontext.Kind(raw))
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", refuse(ErrInvalidEvent, `"execution_id" is not a valid string: %v`, err)
	}
	if err := names.CheckExecutionID(id); err != nil {
		return "", refuse(ErrInvalidEvent, "%v", err)
	}
	if n := utf8.RuneCountInString(id); n > spec.MaxPartitionKey {
		return "", refuse(ErrInvalidEvent, "execution_id is %d characters long; it is the Kinesis partition key, which allows at most %d", n, spec.MaxPartitionKey)
	}
	return id, nil
}

// topLevelCount counts a key among the fields of a valid JSON object,
// which a map cannot tell.
func topLevelCount(data []byte, key string) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return 0
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if k, _ := tok.(string); k == key {
			n++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return n
		}
	}
	return n
}
