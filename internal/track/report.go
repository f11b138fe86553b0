package track

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// Status is where an execution stands.
type Status string

const (
	// StatusFinished: every event of the flow was received.
	StatusFinished Status = "finished"
	// StatusFailed: a function that should produce the next expected
	// event logged a failure for this execution.
	StatusFailed Status = "failed"
	// StatusInProgress: some events were seen, the flow is not complete,
	// and no producer logged a failure (yet).
	StatusInProgress Status = "in_progress"
	// StatusNotFound: no event of the execution was seen. The execution
	// id may be wrong, or its first event not tracked yet.
	StatusNotFound Status = "not_found"
	// StatusTrackerFailing is in health.go.
)

// State is the state of one event of an execution.
type State string

const (
	StateReceived    State = "received"
	StateNotReceived State = "not_received"
	StateUnexpected  State = "unexpected" // received, but not in the flow
)

// The original xFlow's states, kept verbatim in EventsDefined (typo
// included) so that scripts written against it keep working.
const (
	origReceived   = "received"
	origUnexpected = "received_but_unexpected"
	origUnknown    = "uknown_state"
)

// Report is where one execution of a workflow stands. Its JSON keeps the
// original xFlow's keys (events_defined, events_received,
// tracking_summary) and adds the richer ones. Times are UTC; in JSON they
// are RFC 3339.
type Report struct {
	// EventsDefined maps every event of the flow, and every unexpected
	// event seen, to the original's state: "received", "uknown_state" or
	// "received_but_unexpected".
	EventsDefined map[string]string `json:"events_defined"`
	// EventsReceived is every distinct record tracked, oldest first.
	EventsReceived []Received `json:"events_received"`
	// TrackingSummary is the original's summary.
	TrackingSummary Summary `json:"tracking_summary"`

	WorkflowID  string `json:"workflow_id"`
	ExecutionID string `json:"execution_id"`
	Status      Status `json:"status"`
	CheckedAt   Time   `json:"checked_at"`
	// LogGroup and LogStream are where the tracker writes this execution;
	// LogStreamFound is false when either does not exist, LogGroupFound
	// when the log group does not (the workflow is not deployed there).
	LogGroup       string `json:"log_group"`
	LogStream      string `json:"log_stream"`
	LogGroupFound  bool   `json:"log_group_found"`
	LogStreamFound bool   `json:"log_stream_found"`
	// Hint, when the log group does not exist, says what to check.
	Hint string `json:"hint,omitempty"`
	// Events is every event of the flow, in flow order.
	Events []Event `json:"events"`
	// UnexpectedEvents are events seen that are not in the flow, in the
	// order they were first received.
	UnexpectedEvents []Event `json:"unexpected_events"`
	// FurthestEvent is the last event of the flow received, null when none
	// was.
	FurthestEvent *string `json:"furthest_event"`
	// NextExpectedEvent is the event the execution waits for, null when it
	// finished or was not found.
	NextExpectedEvent *string `json:"next_expected_event"`
	// Producers are the functions that should produce the next expected
	// event, with their log lines for this execution.
	Producers []Producer `json:"producers"`
	// UnparsedEntries are log events of the execution's stream that are
	// not tracker entries. They do not stop the report.
	UnparsedEntries []Unparsed `json:"unparsed_entries"`
	// DeadLetters are the batches with a record of this execution that a
	// function gave up on, when the report's source knows them (local
	// mode: its on-failure files); a producer of the next expected event
	// that gave up is also Failed, with the dead letter among its lines.
	DeadLetters []DeadLetter `json:"dead_letters,omitempty"`
	// Damage are the stretches of the workflow's streams that held a
	// record of this execution and could not be read, when the report's
	// source knows them (local mode: its quarantine folder). Damage on the
	// stream of the next expected event, or of the event before it, makes
	// the execution failed: the event will not come.
	Damage []Damage `json:"damage,omitempty"`
	// Tracker is what CheckTracker found of the workflow's tracker, when
	// it looked (the execution was not found or in progress); with
	// Tracker.Failing, Status is StatusTrackerFailing.
	Tracker *TrackerHealth `json:"tracker,omitempty"`
}

// Damage is a stretch of a stream that could not be read back, in which
// the execution's id could be read: a record of the execution was lost.
type Damage struct {
	Stream string `json:"stream"`
	Event  string `json:"event,omitempty"` // the stream's event, when of this workflow
	// SequenceNumber is where the stretch started; Length its bytes.
	SequenceNumber string `json:"sequence_number"`
	Length         int64  `json:"length"`
	Kind           string `json:"kind"` // "corrupt" or "torn" (a partial last record)
	Time           Time   `json:"time"` // when it was found
	// Where is where its bytes are kept.
	Where string `json:"where"`
}

// DeadLetter is a batch a function gave up on after its retries, or
// because its records were too old: Lambda's on-failure record.
type DeadLetter struct {
	Function  string `json:"function"` // the Lambda function's name
	Stream    string `json:"stream"`
	Event     string `json:"event,omitempty"` // the stream's event, when of this workflow
	Condition string `json:"condition"`       // RetryAttemptsExhausted or RecordAgeExceeded
	Time      Time   `json:"time"`
	// StartSequenceNumber and EndSequenceNumber bound the batch.
	StartSequenceNumber string `json:"start_sequence_number"`
	EndSequenceNumber   string `json:"end_sequence_number"`
	// Error is the function's last error on the batch, when known.
	Error string `json:"error,omitempty"`
	// Where is where the whole record is kept.
	Where string `json:"where"`
}

// Summary is the original xFlow's tracking_summary.
type Summary struct {
	// LastReceivedEvent is the event of the last record tracked, in or out
	// of the flow; null when none was.
	LastReceivedEvent *string `json:"last_received_event"`
	// Subscribers are the config names of the lambdas listening on
	// LastReceivedEvent.
	Subscribers []string `json:"subscribers"`
	// ExecutionPath draws the flow as the original did:
	// "A ---> B ---> X - - -> C - - - > D" when C and D were not received.
	ExecutionPath string `json:"execution_path"`
}

// Received is one distinct tracked record, as the original listed them.
type Received struct {
	Timestamp Time `json:"timestamp"`
	// Data is the published event with "event_name" added, as the
	// original's tracker logged it.
	Data           json.RawMessage `json:"data"`
	EventName      string          `json:"event_name"`
	SequenceNumber string          `json:"sequence_number"`
	ShardID        string          `json:"shard_id"`
	// EventOmittedBytes, when not zero, is the size of an event too large
	// to be kept with its tracking entry: Data then holds its
	// execution_id alone.
	EventOmittedBytes int `json:"event_omitted_bytes,omitempty"`
}

// Event is the state of one event of an execution.
type Event struct {
	Name   string `json:"event"`
	Stream string `json:"stream"`
	State  State  `json:"state"`
	// ReceivedAt is the Kinesis arrival time of the event's first record;
	// SequenceNumber and ShardID identify that record.
	ReceivedAt     *Time  `json:"received_at,omitempty"`
	SequenceNumber string `json:"sequence_number,omitempty"`
	ShardID        string `json:"shard_id,omitempty"`
	// Records counts distinct records of the event (more than one when it
	// was published more than once); DuplicatesDropped counts deliveries
	// of a record already counted, from Lambda's retries.
	Records           int `json:"records"`
	DuplicatesDropped int `json:"duplicates_dropped"`
}

// Producer is a function that should produce the next expected event,
// with its log lines for this execution.
type Producer struct {
	Lambda   string `json:"lambda"`   // the config's name
	Function string `json:"function"` // the Lambda function's name
	LogGroup string `json:"log_group"`
	// Since and Until bound the lines read: from the time the event before
	// the next expected one was received, less a skew, until the report.
	Since Time `json:"since"`
	Until Time `json:"until"`
	// LogGroupFound is false when the function's log group does not
	// exist: it never ran, or never logged.
	LogGroupFound bool `json:"log_group_found"`
	// Failed is true when one of the lines is a failure.
	Failed bool `json:"failed"`
	// Truncated is true when there were more lines than Options.MaxLines;
	// the first ones are kept.
	Truncated bool   `json:"truncated"`
	Lines     []Line `json:"lines"`
}

// Line is one log event of a producer that concerns the execution: it
// names the execution id as a whole word, or it is a "Task timed out" line
// of an invocation that does.
type Line struct {
	Time      Time   `json:"time"`
	LogStream string `json:"log_stream"`
	Message   string `json:"message"`
	// Failure is true when the line holds an error, a traceback, a
	// timeout or a crash.
	Failure bool `json:"failure"`
}

// Unparsed is a log event of the execution's stream that is not a tracker
// entry.
type Unparsed struct {
	Time    Time   `json:"time"`
	Message string `json:"message"` // the first maxUnparsed bytes
	Error   string `json:"error"`
}

const maxUnparsed = 512

// logEvent is one log event of the execution's stream.
type logEvent struct {
	ms  int64
	msg string
}

// recordKey identifies a Kinesis record: a sequence number is unique
// within a stream, and a stream carries one event.
type recordKey struct{ event, shard, seq string }

// newReport rebuilds the state of the flow from the execution's log
// events, in log order (oldest first).
func newReport(c *config.Config, w *config.Workflow, executionID string, evs []logEvent) *Report {
	scheme := names.New(c.General.NamePrefix)
	r := &Report{
		EventsDefined:    map[string]string{},
		EventsReceived:   []Received{},
		TrackingSummary:  Summary{Subscribers: []string{}},
		WorkflowID:       w.ID,
		ExecutionID:      executionID,
		Events:           make([]Event, len(w.Flow)),
		UnexpectedEvents: []Event{},
		Producers:        []Producer{},
		UnparsedEntries:  []Unparsed{},
	}
	flowIndex := map[string]int{}
	unexpectedIndex := map[string]int{}
	for i, name := range w.Flow {
		r.Events[i] = Event{Name: name, Stream: scheme.Stream(name), State: StateNotReceived}
		flowIndex[name] = i
		r.EventsDefined[name] = origUnknown
	}
	seen := map[recordKey]bool{}
	for i, le := range evs {
		at := Time{time.UnixMilli(le.ms).UTC()}
		var ent tracker.Entry
		if err := json.Unmarshal([]byte(le.msg), &ent); err != nil || ent.EventName == "" {
			reason := "not a tracker entry: no event_name"
			if err != nil {
				reason = "not a tracker entry: " + err.Error()
			}
			r.UnparsedEntries = append(r.UnparsedEntries, Unparsed{Time: at, Message: clip(le.msg, maxUnparsed), Error: reason})
			continue
		}
		var e *Event
		if j, ok := flowIndex[ent.EventName]; ok {
			e = &r.Events[j]
		} else {
			j, ok := unexpectedIndex[ent.EventName]
			if !ok {
				j = len(r.UnexpectedEvents)
				unexpectedIndex[ent.EventName] = j
				r.UnexpectedEvents = append(r.UnexpectedEvents, Event{Name: ent.EventName, Stream: scheme.Stream(ent.EventName), State: StateUnexpected})
				r.EventsDefined[ent.EventName] = origUnexpected
			}
			e = &r.UnexpectedEvents[j]
		}
		key := recordKey{ent.EventName, ent.ShardID, ent.SequenceNumber}
		if ent.SequenceNumber == "" {
			key.seq = fmt.Sprintf("#%d", i) // no way to tell a duplicate: count it
		}
		if seen[key] {
			e.DuplicatesDropped++
			continue
		}
		seen[key] = true
		e.Records++
		if e.ReceivedAt == nil {
			e.ReceivedAt = &at
			e.SequenceNumber, e.ShardID = ent.SequenceNumber, ent.ShardID
			if e.State == StateNotReceived {
				e.State = StateReceived
				r.EventsDefined[ent.EventName] = origReceived
			}
		}
		r.EventsReceived = append(r.EventsReceived, Received{
			Timestamp:         at,
			Data:              withEventName(ent.Event, ent.EventName),
			EventName:         ent.EventName,
			SequenceNumber:    ent.SequenceNumber,
			ShardID:           ent.ShardID,
			EventOmittedBytes: ent.EventOmittedBytes,
		})
		r.TrackingSummary.LastReceivedEvent = ptr(ent.EventName)
	}

	if last := r.TrackingSummary.LastReceivedEvent; last != nil {
		if subs := c.SubscribersOf(*last); subs != nil {
			r.TrackingSummary.Subscribers = subs
		}
	}
	for _, e := range r.Events {
		if e.State == StateReceived {
			r.FurthestEvent = ptr(e.Name)
		}
	}
	r.TrackingSummary.ExecutionPath = executionPath(r.Events)
	if len(r.EventsReceived) == 0 {
		r.Status = StatusNotFound
	}
	return r
}

// executionPath draws the flow as the original xFlow did: the events
// received joined by " ---> ", then " ---> X - - -> " and the events not
// received joined by " - - - > ".
func executionPath(evs []Event) string {
	var got, missing []string
	for _, e := range evs {
		if e.State == StateReceived {
			got = append(got, e.Name)
		} else {
			missing = append(missing, e.Name)
		}
	}
	path := strings.Join(got, " ---> ")
	if len(missing) > 0 {
		if path != "" {
			path += " ---> "
		}
		path += "X - - -> " + strings.Join(missing, " - - - > ")
	}
	return path
}

// withEventName is the event with "event_name" set, as the original's
// tracker logged it. An event that is not an object is left as it is.
func withEventName(event json.RawMessage, name string) json.RawMessage {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(event, &fields); err != nil || fields == nil {
		if len(event) == 0 {
			return json.RawMessage("null")
		}
		return event
	}
	q, _ := json.Marshal(name)
	fields["event_name"] = q
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the event's "<", ">" and "&" as sent
	if err := enc.Encode(fields); err != nil {
		return event
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
