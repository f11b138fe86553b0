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
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/xflowhq/xflow/internal/config"
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

// TestKinesisFidelity: what real clients saw differ from Kinesis.
// ListStreams pages by Limit, ExclusiveStartStreamName and NextToken, and
// says HasMoreStreams; an ExplicitHashKey that is not a decimal number of
// the hash key range is refused as Kinesis refuses it; every answer, an
// error too, carries x-amzn-RequestId, which the SDK reports.
func TestKinesisFidelity(t *testing.T) {
	_, k := startKinesis(t)
	client := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(k.endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("a", "b", ""),
	})

	pages := []struct {
		in        kinesis.ListStreamsInput
		want      string
		more      bool
		withToken bool // pass the previous page's NextToken
	}{
		{in: kinesis.ListStreamsInput{}, want: "In,Out"},
		{in: kinesis.ListStreamsInput{Limit: aws.Int32(1)}, want: "In", more: true},
		{in: kinesis.ListStreamsInput{Limit: aws.Int32(1)}, want: "Out", withToken: true},
		{in: kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String("In")}, want: "Out"},
		{in: kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String("Out")}, want: ""},
		{in: kinesis.ListStreamsInput{Limit: aws.Int32(10000)}, want: "In,Out"},
	}
	var token *string
	for i, p := range pages {
		in := p.in
		if p.withToken {
			in.NextToken = token
		}
		out, err := client.ListStreams(ctx, &in)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if got := strings.Join(out.StreamNames, ","); got != p.want || aws.ToBool(out.HasMoreStreams) != p.more || len(out.StreamSummaries) != len(out.StreamNames) {
			t.Errorf("page %d: %q, more %v, %d summaries; want %q, more %v", i, got, aws.ToBool(out.HasMoreStreams), len(out.StreamSummaries), p.want, p.more)
		}
		if p.more != (out.NextToken != nil) {
			t.Errorf("page %d: NextToken %v with HasMoreStreams %v", i, out.NextToken, p.more)
		}
		token = out.NextToken
		if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || len(id) != 36 {
			t.Errorf("page %d: request id %q", i, id)
		}
	}
	var seen []string
	for pg := kinesis.NewListStreamsPaginator(client, &kinesis.ListStreamsInput{Limit: aws.Int32(1)}); pg.HasMorePages(); {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, out.StreamNames...)
	}
	if strings.Join(seen, ",") != "In,Out" {
		t.Errorf("the SDK's paginator listed %v, want In, Out", seen)
	}

	refused := []struct {
		name string
		call func() error
		code string
	}{
		{"limit 0", func() error {
			_, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(0)})
			return err
		}, "ValidationException"},
		{"limit 10001", func() error {
			_, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(10001)})
			return err
		}, "ValidationException"},
		{"token and start", func() error {
			_, err := client.ListStreams(ctx, &kinesis.ListStreamsInput{NextToken: aws.String("SW4"), ExclusiveStartStreamName: aws.String("In")})
			return err
		}, "InvalidArgumentException"},
		{"hash key not a number", func() error { return putWithHashKey(client, "not-a-number") }, "ValidationException"},
		{"hash key with leading zero", func() error { return putWithHashKey(client, "007") }, "ValidationException"},
		{"hash key 2^128", func() error { return putWithHashKey(client, "340282366920938463463374607431768211456") }, "InvalidArgumentException"},
		{"hash key in PutRecords", func() error {
			_, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("In"), Records: []types.PutRecordsRequestEntry{
				{Data: []byte("a"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("-1")}}})
			return err
		}, "ValidationException"},
	}
	for _, r := range refused {
		err := r.call()
		var api interface{ ErrorCode() string }
		var re *awshttp.ResponseError
		switch {
		case !errors.As(err, &api) || api.ErrorCode() != r.code:
			t.Errorf("%s: %v, want %s", r.name, err, r.code)
		case !errors.As(err, &re) || len(re.ServiceRequestID()) != 36:
			t.Errorf("%s: the error names no request id: %v", r.name, err)
		}
	}
	for _, h := range []string{"0", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728"} {
		if err := putWithHashKey(client, h); err != nil {
			t.Errorf("ExplicitHashKey %s: %v", h, err)
		}
	}
}

func putWithHashKey(client *kinesis.Client, key string) error {
	_, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("In"), Data: []byte("x"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(key)})
	return err
}
