package local

import (
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/xflowhq/xflow/config"
)

// tinyConfig writes a config and its files into a temporary folder.
func tinyConfig(t *testing.T, yaml string, files map[string]string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "xflow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(path, []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const oneStep = `
lambdas:
  - name: step
    source: step.py
    handler: handle
    runtime: python3.12
subscriptions:
  - event: In
    subscribers: [step]
  - event: Out
    subscribers:
workflows:
  - id: wf
    flow: [In, Out]
`

func startKinesis(t *testing.T) (*Streams, *kinesisServer) {
	t.Helper()
	c := tinyConfig(t, oneStep, map[string]string{"step.py": "def handle(e, c): pass\n"})
	s, err := OpenStreams(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	k, err := startKinesisServer(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.close(ctx); s.Close() })
	return s, k
}

// TestKinesisWithGoSDK: the AWS SDK for Go v2 publishes to the local
// endpoint as to Kinesis.
func TestKinesisWithGoSDK(t *testing.T) {
	s, k := startKinesis(t)
	client := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(k.endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("a", "b", ""),
	})
	out, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("In"), Data: []byte(`{"execution_id":"e"}`), PartitionKey: aws.String("e")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ShardId) != shardID || len(aws.ToString(out.SequenceNumber)) != 20 {
		t.Errorf("PutRecord = %+v", out)
	}
	many, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("In"), Records: []types.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("k")}, {Data: []byte("b"), PartitionKey: aws.String("k")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(many.FailedRecordCount) != 0 || len(many.Records) != 2 || !(*many.Records[0].SequenceNumber > *out.SequenceNumber) {
		t.Errorf("PutRecords = %+v", many)
	}
	recs, _ := s.Records("In", 0, 10)
	if len(recs) != 3 || string(recs[2].Data) != "b" || recs[0].PartitionKey != "e" {
		t.Errorf("stream In holds %v", recs)
	}
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("Out")})
	if err != nil || sum.StreamDescriptionSummary.StreamStatus != types.StreamStatusActive {
		t.Errorf("DescribeStreamSummary: %v %+v", err, sum)
	}
	list, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || strings.Join(list.StreamNames, ",") != "In,Out" {
		t.Errorf("ListStreams: %v %v", err, list)
	}
	_, err = client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("Nope"), Data: []byte("x"), PartitionKey: aws.String("k")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("PutRecord to an unknown stream: %v, want ResourceNotFoundException", err)
	}
	_, err = client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("In"), Data: []byte("x"), PartitionKey: aws.String("")})
	var ia *types.InvalidArgumentException
	var ve interface{ ErrorCode() string }
	if !errors.As(err, &ia) && !errors.As(err, &ve) {
		t.Errorf("PutRecord without a partition key: %v", err)
	}
}

// TestKinesisErrorShape: errors are Kinesis's JSON with status 400.
func TestKinesisErrorShape(t *testing.T) {
	_, k := startKinesis(t)
	req, _ := http.NewRequest("POST", k.endpoint(), strings.NewReader(`{"StreamName":"Nope","Data":"eA==","PartitionKey":"k"}`))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"__type":"ResourceNotFoundException"`) || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Errorf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestKinesisWithBoto3: boto3, as the handlers use it, with nothing but
// AWS_ENDPOINT_URL_KINESIS and dummy credentials.
func TestKinesisWithBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 with boto3 is needed on CI")
		}
		t.Skip("SKIP: python3 with boto3 is not available")
	}
	s, k := startKinesis(t)
	script := `
import boto3, botocore.exceptions
k = boto3.client("kinesis")
out = k.put_record(StreamName="In", Data=b"hello", PartitionKey="p")
print(out["ShardId"], out["SequenceNumber"])
out = k.put_records(StreamName="In", Records=[{"Data": b"a", "PartitionKey": "p"}, {"Data": b"b", "PartitionKey": "p"}])
print(out["FailedRecordCount"], len(out["Records"]))
try:
    k.put_record(StreamName="Nope", Data=b"x", PartitionKey="p")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_KINESIS="+k.endpoint(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_ENDPOINT_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "shardId-000000000000 00000000000000000000\n0 2\nResourceNotFoundException 400\n"
	if string(out) != want {
		t.Errorf("boto3 printed\n%s\nwant\n%s", out, want)
	}
	if recs, _ := s.Records("In", 0, 10); len(recs) != 3 {
		t.Errorf("stream In holds %d records, want 3", len(recs))
	}
}
