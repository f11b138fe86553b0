package publish

// These tests publish to Kinesis on moto_server and read the records back.

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
)

// onMoto is a config with a unique prefix whose streams exist on moto.
func onMoto(t *testing.T) (*Publisher, *kinesis.Client, *config.Config) {
	t.Helper()
	client := kinesis.NewFromConfig(awstest.Config(t))
	c := testConfig(t, awstest.Unique("pub")+"-")
	var streams []string
	for _, e := range c.Events() {
		streams = append(streams, names.New(c.General.NamePrefix).Stream(e))
	}
	kinesistest.CreateStreams(t, client, streams...)
	return New(client, c), client, c
}

// landed is what a record read back from a stream says.
type landed struct {
	Stream, Shard, Seq, PartitionKey, Data string
}

func TestPublishLandsOnStream(t *testing.T) {
	p, client, c := onMoto(t)
	ctx := context.Background()
	prefix := c.General.NamePrefix
	sends := []struct{ event, payload string }{
		{"FileUploaded", `{"execution_id": "ex-1", "file": "a.txt"}`},
		{"FileDownloaded", "\n{\"execution_id\": \"ex-1\", \"contents\": \"<html> & more\"}\n"},
		{"FileUploaded", `{"execution_id": "ex-2", "file": "` + strings.Repeat("b", 400) + `"}`},
	}
	var want []landed
	for _, s := range sends {
		res, err := p.Publish(ctx, s.event, []byte(s.payload))
		if err != nil {
			t.Fatalf("publish %s: %v", s.event, err)
		}
		rec, _ := Prepare(c, s.event, []byte(s.payload))
		if res.Stream != prefix+s.event || res.ShardID == "" || res.SequenceNumber == "" || res.ExecutionID != rec.ExecutionID {
			t.Errorf("result of %s = %+v", s.event, res)
		}
		want = append(want, landed{res.Stream, res.ShardID, res.SequenceNumber, rec.ExecutionID, strings.TrimSpace(s.payload)})
	}
	var got []landed
	for _, stream := range []string{prefix + "FileUploaded", prefix + "FileDownloaded", prefix + "FileParsed"} {
		for _, r := range kinesistest.Read(t, client, stream) {
			got = append(got, landed{r.Stream, r.ShardID, aws.ToString(r.SequenceNumber), aws.ToString(r.PartitionKey), string(r.Data)})
		}
	}
	// Read order is by stream; publish order put FileDownloaded second.
	want[1], want[2] = want[2], want[1]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records on the streams (-want +got):\n%s", diff)
	}
}

// TestPublishRefusedSendsNothing publishes every kind of bad event to
// moto, then counts the records on every stream.
func TestPublishRefusedSendsNothing(t *testing.T) {
	p, client, c := onMoto(t)
	ctx := context.Background()
	for _, tc := range []struct {
		event, payload string
		kind           error
	}{
		{"FileUplaoded", `{"execution_id": "ex-1"}`, ErrUnknownEvent},
		{"FileUploaded", `{"execution_id": "ex-1"`, ErrInvalidEvent},
		{"FileUploaded", `{"id": "ex-1"}`, ErrInvalidEvent},
		{"FileUploaded", `{"execution_id": "a*b"}`, ErrInvalidEvent},
		{"FileUploaded", `{"execution_id": "ex-1", "pad": "` + strings.Repeat("x", spec.MaxRecordBytes) + `"}`, ErrTooLarge},
	} {
		if _, err := p.Publish(ctx, tc.event, []byte(tc.payload)); !errors.Is(err, tc.kind) {
			t.Errorf("publish %s %.40s: err = %v, want %v", tc.event, tc.payload, err, tc.kind)
		}
	}
	for _, e := range c.Events() {
		stream := names.New(c.General.NamePrefix).Stream(e)
		if n := len(kinesistest.Read(t, client, stream)); n != 0 {
			t.Errorf("%s holds %d records after refused publishes, want 0", stream, n)
		}
	}
}

func TestPublish900KiB(t *testing.T) {
	p, client, c := onMoto(t)
	payload := padded(t, "ex-big", 900*1024)
	res, err := p.Publish(context.Background(), "FileParsed", payload)
	if err != nil {
		t.Fatal(err)
	}
	recs := kinesistest.Read(t, client, c.General.NamePrefix+"FileParsed")
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if string(r.Data) != string(payload) || aws.ToString(r.PartitionKey) != "ex-big" || aws.ToString(r.SequenceNumber) != res.SequenceNumber {
		t.Errorf("record: %d bytes, key %q, seq %s; want %d bytes, key ex-big, seq %s",
			len(r.Data), aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber), len(payload), res.SequenceNumber)
	}
}

func TestPublishMissingStream(t *testing.T) {
	client := kinesis.NewFromConfig(awstest.Config(t))
	c := testConfig(t, awstest.Unique("nostream")+"-")
	_, err := New(client, c).Publish(context.Background(), "FileUploaded", []byte(`{"execution_id":"ex-1"}`))
	if !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("err = %v, want ErrStreamNotFound", err)
	}
	if !strings.Contains(err.Error(), "stream "+c.General.NamePrefix+"FileUploaded of event FileUploaded does not exist") {
		t.Errorf("message does not name the stream and the event: %v", err)
	}
}
