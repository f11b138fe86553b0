package redrive

import (
	"encoding/json"

	"github.com/xflowhq/xflow/constructs/spec"
)

// EventSource is what a Kinesis event says of where its records come
// from, besides the records.
type EventSource struct {
	StreamARN string
	ShardID   string
	Region    string
	// InvokeIdentityARN is the identity the mapping invokes with: the
	// function's execution role.
	InvokeIdentityARN string
}

// EventRecord is a record as Lambda delivers it from Kinesis.
type EventRecord struct {
	Kinesis struct {
		KinesisSchemaVersion        string  `json:"kinesisSchemaVersion"`
		PartitionKey                string  `json:"partitionKey"`
		SequenceNumber              string  `json:"sequenceNumber"`
		Data                        []byte  `json:"data"` // base64 in JSON
		ApproximateArrivalTimestamp float64 `json:"approximateArrivalTimestamp"`
	} `json:"kinesis"`
	EventSource       string `json:"eventSource"`
	EventVersion      string `json:"eventVersion"`
	EventID           string `json:"eventID"`
	EventName         string `json:"eventName"`
	InvokeIdentityArn string `json:"invokeIdentityArn"`
	AWSRegion         string `json:"awsRegion"`
	EventSourceARN    string `json:"eventSourceARN"`
}

// Event is the Kinesis event of records from src: the event an event
// source mapping sends, which local mode's mappings send too.
func Event(recs []Record, src EventSource) []byte {
	out, _ := json.Marshal(map[string]any{"Records": eventRecords(recs, src)})
	return out
}

func eventRecords(recs []Record, src EventSource) []EventRecord {
	out := make([]EventRecord, len(recs))
	for i, r := range recs {
		k := &out[i]
		k.Kinesis.KinesisSchemaVersion = "1.0"
		k.Kinesis.PartitionKey = r.PartitionKey
		k.Kinesis.SequenceNumber = r.SequenceNumber
		k.Kinesis.Data = r.Data
		k.Kinesis.ApproximateArrivalTimestamp = float64(r.Arrival.UnixMilli()) / 1000
		k.EventSource = "aws:kinesis"
		k.EventVersion = "1.0"
		k.EventID = src.ShardID + ":" + r.SequenceNumber
		k.EventName = "aws:kinesis:record"
		k.InvokeIdentityArn = src.InvokeIdentityARN
		k.AWSRegion = src.Region
		k.EventSourceARN = src.StreamARN
	}
	return out
}

// Payloads are the events that deliver recs in order, each within
// spec.MaxInvokeBytes: one, unless the records outweigh one invocation. A
// batch is only split when it was read back differently from how Lambda
// sent it.
func Payloads(recs []Record, src EventSource) [][]byte {
	var out [][]byte
	for len(recs) > 0 {
		n := len(recs)
		p := Event(recs, src)
		for len(p) > spec.MaxInvokeBytes && n > 1 {
			n /= 2
			p = Event(recs[:n], src)
		}
		out = append(out, p)
		recs = recs[n:]
	}
	return out
}
