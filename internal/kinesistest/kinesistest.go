// Package kinesistest does in tests what the Lambda service does for a
// Kinesis event source mapping, which moto does not run: it reads the
// records of a stream and wraps them in the exact event Lambda delivers to
// a function, so that the tracker handler can be fed real records.
package kinesistest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Record is a record read from a stream, with where it was read.
type Record struct {
	Stream    string
	StreamARN string
	ShardID   string
	types.Record
}

// CreateStreams creates one-shard streams and deletes them when the test
// ends.
func CreateStreams(t testing.TB, client *kinesis.Client, streams ...string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range streams {
		if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(s), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatalf("create stream %s: %v", s, err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(s), EnforceConsumerDeletion: aws.Bool(true)})
		})
	}
	for _, s := range streams {
		w := kinesis.NewStreamExistsWaiter(client)
		if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(s)}, time.Minute); err != nil {
			t.Fatalf("wait for stream %s: %v", s, err)
		}
	}
}

// Read returns every record of a stream, all shards, oldest first per
// shard.
func Read(t testing.TB, client *kinesis.Client, stream string) []Record {
	t.Helper()
	ctx := context.Background()
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("describe stream %s: %v", stream, err)
	}
	arn := aws.ToString(sum.StreamDescriptionSummary.StreamARN)
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("list shards of %s: %v", stream, err)
	}
	var out []Record
	for _, sh := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName:        aws.String(stream),
			ShardId:           sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("shard iterator of %s/%s: %v", stream, aws.ToString(sh.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			page, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records of %s/%s: %v", stream, aws.ToString(sh.ShardId), err)
			}
			for _, r := range page.Records {
				out = append(out, Record{Stream: stream, StreamARN: arn, ShardID: aws.ToString(sh.ShardId), Record: r})
			}
			if len(page.Records) == 0 {
				break
			}
			iter = page.NextShardIterator
		}
	}
	return out
}

// Payload is the JSON Lambda invokes a function with for a batch of
// records: base64 data, eventID "<shard id>:<sequence number>", arrival
// time in epoch seconds with milliseconds.
func Payload(region string, recs []Record) []byte {
	type kin struct {
		KinesisSchemaVersion        string      `json:"kinesisSchemaVersion"`
		PartitionKey                string      `json:"partitionKey"`
		SequenceNumber              string      `json:"sequenceNumber"`
		Data                        string      `json:"data"`
		ApproximateArrivalTimestamp json.Number `json:"approximateArrivalTimestamp"`
	}
	type rec struct {
		Kinesis           kin    `json:"kinesis"`
		EventSource       string `json:"eventSource"`
		EventVersion      string `json:"eventVersion"`
		EventID           string `json:"eventID"`
		EventName         string `json:"eventName"`
		InvokeIdentityArn string `json:"invokeIdentityArn"`
		AwsRegion         string `json:"awsRegion"`
		EventSourceARN    string `json:"eventSourceARN"`
	}
	var body struct {
		Records []rec `json:"Records"`
	}
	for _, r := range recs {
		account := "123456789012"
		if parts := strings.Split(r.StreamARN, ":"); len(parts) > 4 {
			account = parts[4]
		}
		at := aws.ToTime(r.ApproximateArrivalTimestamp)
		body.Records = append(body.Records, rec{
			Kinesis: kin{
				KinesisSchemaVersion:        "1.0",
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              aws.ToString(r.SequenceNumber),
				Data:                        base64.StdEncoding.EncodeToString(r.Data),
				ApproximateArrivalTimestamp: json.Number(strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)),
			},
			EventSource:       "aws:kinesis",
			EventVersion:      "1.0",
			EventID:           r.ShardID + ":" + aws.ToString(r.SequenceNumber),
			EventName:         "aws:kinesis:record",
			InvokeIdentityArn: fmt.Sprintf("arn:aws:iam::%s:role/xflow-test-role", account),
			AwsRegion:         region,
			EventSourceARN:    r.StreamARN,
		})
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // only strings and numbers: cannot fail
	}
	return b
}

// Event is Payload decoded as the Lambda Go runtime decodes it for a
// handler that takes an events.KinesisEvent.
func Event(t testing.TB, region string, recs []Record) events.KinesisEvent {
	t.Helper()
	var ev events.KinesisEvent
	if err := json.Unmarshal(Payload(region, recs), &ev); err != nil {
		t.Fatalf("decode the Kinesis event: %v", err)
	}
	return ev
}
