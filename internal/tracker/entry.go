package tracker

import (
	"encoding/json"
)

// Entry is one tracked event: the message of one CloudWatch Logs event in an
// execution's log stream. The log event's timestamp is the record's Kinesis
// approximate arrival time in milliseconds.
//
// The write side (Handler) and the read side (`xflow track`) share this
// format; a change to it is a change to both.
type Entry struct {
	// EventName is the event the record's stream carries (names.Scheme.Event).
	EventName string `json:"event_name"`
	// SequenceNumber is the record's Kinesis sequence number. Lambda retries
	// a batch from its first failed record, so the same record may be
	// written more than once: readers drop duplicates by this field.
	SequenceNumber string `json:"sequence_number"`
	// ShardID is the shard the record was read from, taken from the
	// record's eventID ("shardId-000000000000:<sequence number>").
	ShardID string `json:"shard_id"`
	// Event is the published event JSON as received, byte for byte but for
	// surrounding white space.
	Event json.RawMessage `json:"event"`
	// EventOmittedBytes, when not zero, says the event was too large for
	// one CloudWatch Logs event with the entry around it (Kinesis takes
	// records of 1 MiB, a log event 26 bytes less): Event then holds its
	// execution_id alone, and the event is tracked all the same.
	EventOmittedBytes int `json:"event_omitted_bytes,omitempty"`
}

// appendEntry appends the JSON of an Entry to b. It is what json.Marshal
// would produce, except that the event is copied verbatim: json.Marshal
// would compact it and escape '<', '>' and '&', and it would scan a 900 KiB
// event twice more.
func appendEntry(b []byte, eventName, sequenceNumber, shardID string, event []byte) []byte {
	b = append(b, `{"event_name":`...)
	b = appendString(b, eventName)
	b = append(b, `,"sequence_number":`...)
	b = appendString(b, sequenceNumber)
	b = append(b, `,"shard_id":`...)
	b = appendString(b, shardID)
	b = append(b, `,"event":`...)
	b = append(b, event...)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a Go string always marshals; keep the entry valid anyway
		return append(b, `""`...)
	}
	return append(b, q...)
}
