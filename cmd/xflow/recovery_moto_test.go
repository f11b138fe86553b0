package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/cfnlint"
	"github.com/xflowhq/xflow/internal/deploy"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// recoveryConfig is the workflow of the recovery tests on moto: ship sends
// what it gives up on to its queue, audit to the stack's bucket, and
// everything is traced.
const recoveryConfig = `general:
  name_prefix: %s
  tracing: active
lambdas:
  - name: ship
    source: ship.py
    handler: handle
    runtime: python3.12
  - name: audit
    source: audit.py
    handler: handle
    runtime: python3.12
    emits: []
subscriptions:
  - event: Ordered
    subscribers:
      - ship
      - lambda: audit
        on_failure: bucket
  - event: Shipped
    subscribers:
workflows:
  - id: orders
    flow: [Ordered, Shipped]
`

// invocationsRe is the path of Lambda's Invoke.
var invocationsRe = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations$`)

// invocation is one Invoke the redrive made.
type invocation struct {
	function string
	payload  []byte
}

// lambdaRouter stands between xflow and moto for the Lambda API only
// (AWS_ENDPOINT_URL_LAMBDA): it records each Invoke and sends it to
// invokeTo, every other call to moto. It answers nothing itself.
type lambdaRouter struct {
	moto *url.URL

	mu       sync.Mutex
	invokeTo *url.URL
	invoked  []invocation
}

func (l *lambdaRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	target := l.moto
	if m := invocationsRe.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		fn, _ := url.PathUnescape(m[1])
		l.mu.Lock()
		l.invoked = append(l.invoked, invocation{fn, body})
		target = l.invokeTo
		l.mu.Unlock()
	}
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
}

func (l *lambdaRouter) take() []invocation {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.invoked
	l.invoked = nil
	return out
}

func (l *lambdaRouter) route(to *url.URL) {
	l.mu.Lock()
	l.invokeTo = to
	l.mu.Unlock()
}

// wholeMillisRe finds a time in CloudWatch Logs' JSON written with a
// fraction of a millisecond.
var wholeMillisRe = regexp.MustCompile(`("(?:timestamp|ingestionTime|firstEventTimestamp|lastEventTimestamp|lastIngestionTime)":\s*)(\d+)\.\d+`)

// logsRounder stands between xflow and moto for CloudWatch Logs only
// (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) and rounds the times of its answers
// to whole milliseconds: moto 5.2.1's Lambda writes the log events of the
// functions it invokes with a fractional timestamp (its unix_time_millis
// is a float), which the AWS SDK for Go refuses ("invalid int"), where
// CloudWatch Logs has whole milliseconds only. Nothing else is changed.
func logsRounder(t *testing.T, moto *url.URL) *httptest.Server {
	t.Helper()
	proxy := httputil.NewSingleHostReverseProxy(moto)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = wholeMillisRe.ReplaceAll(body, []byte("${1}${2}"))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
		resp.Header.Del("Content-Encoding")
		return nil
	}
	ts := httptest.NewServer(proxy)
	t.Cleanup(ts.Close)
	return ts
}

// startMotoWithoutDocker starts a moto_server of this test's own whose
// Lambda runs no container (use_docker off, through /moto-api/config),
// and returns its URL. That setting switches moto's whole Lambda backend
// to one that answers Invoke with the payload it was given, and knows
// none of the functions and mappings a deploy made: so the shared moto,
// which has them, keeps its setting, and only the Invoke calls come here.
func startMotoWithoutDocker(t *testing.T) *url.URL {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	needTool(t, "moto_server", "pip install 'moto[server]'", err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://localhost:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/moto-api/config")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server on %d does not answer after 60 s:\n%s", port, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Post(base+"/moto-api/config", "application/json", strings.NewReader(`{"lambda": {"use_docker": false}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// moto answers with its whole configuration.
	var conf struct {
		Lambda struct {
			UseDocker *bool `json:"use_docker"`
		} `json:"lambda"`
	}
	if json.Unmarshal(got, &conf) != nil || conf.Lambda.UseDocker == nil || *conf.Lambda.UseDocker {
		t.Fatalf("/moto-api/config answered %s, want lambda.use_docker false", got)
	}
	u, _ := url.Parse(base)
	return u
}

// kinesisEvent is what a redrive invoked a function with.
type kinesisEvent struct {
	Records []struct {
		Kinesis struct {
			KinesisSchemaVersion string `json:"kinesisSchemaVersion"`
			PartitionKey         string `json:"partitionKey"`
			SequenceNumber       string `json:"sequenceNumber"`
			Data                 []byte `json:"data"`
		} `json:"kinesis"`
		EventSource       string `json:"eventSource"`
		EventID           string `json:"eventID"`
		EventName         string `json:"eventName"`
		InvokeIdentityArn string `json:"invokeIdentityArn"`
		AWSRegion         string `json:"awsRegion"`
		EventSourceARN    string `json:"eventSourceARN"`
	} `json:"Records"`
}

// TestRecoveryOnMoto is acceptance 2, 4 and 6 of redrive, on one deploy
// (the real CDK CLI) on moto:
//
//   - 4: moto runs no function (no Docker), so the tracker it invokes for
//     each published record fails and its log group holds the error: track
//     says the tracker is failing, in text and JSON;
//   - 2: a failure record in ship's SQS queue with a real sequence range
//     of the real stream is redriven: exactly those records, to ship only,
//     in the Kinesis event shape; its message is deleted; a record past
//     the stream's retention is reported lost with its execution ids, and
//     its message kept; one that fails again (Invoke on the shared moto,
//     which has no Docker) keeps its message with its new error;
//   - 6: on_failure: bucket synthesizes cfn-lint clean and deploys; a
//     failure object in Lambda's S3 format (written here, since moto runs
//     no mapping) is redriven to audit only, records past the stream's
//     retention included, and deleted.
func TestRecoveryOnMoto(t *testing.T) {
	awsCfg := awstest.Config(t)
	if testing.Short() {
		t.Skip("deploys with the CDK")
	}
	_, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3", "the build packages the handlers", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	prefix := strings.ReplaceAll(awstest.Unique("rec"), "-", "_") + "_"
	scheme := names.New(prefix)
	dir := t.TempDir()
	file := filepath.Join(dir, "xflow.yaml")
	for name, content := range map[string]string{
		"xflow.yaml": fmt.Sprintf(recoveryConfig, prefix),
		"ship.py":    "def handle(event, context):\n    return None\n",
		"audit.py":   "def handle(event, context):\n    return None\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The deploy, with the real CDK CLI.
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	bopts := deploy.Options{Direct: true, Version: "test", Out: io.Discard, Err: io.Discard, Context: generator.DefaultContext()}
	bopts.Context[spec.ContextBootstrapVersionRule] = false
	if err := deploy.Bootstrap(ctx, aws.ToString(id.Account), awsCfg.Region, bopts); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, out, errOut := xflow(t, "", "deploy", "-c", file, "--direct", "--no-bootstrap-rule"); code != 0 {
		t.Fatalf("deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("deploy on moto took %s", time.Since(start).Round(time.Second))
	templates, _ := filepath.Glob(filepath.Join(dir, ".xflow", "cdk.out", "*.template.json"))
	if len(templates) == 0 {
		t.Fatal("the deploy left no template in .xflow/cdk.out")
	}
	if res := cfnlint.Check(t, templates...); len(res.Warnings()) > 0 {
		t.Errorf("cfn-lint warnings:\n%s", strings.Join(res.Warnings(), "\n"))
	}

	lc := lambda.NewFromConfig(awsCfg)
	sc := sqs.NewFromConfig(awsCfg)
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	kc := kinesis.NewFromConfig(awsCfg)
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	stream := scheme.Stream("Ordered")
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(sum.StreamDescriptionSummary.StreamARN)
	destination := func(fn string) (string, string) {
		t.Helper()
		out, err := lc.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(fn)})
		if err != nil || len(out.EventSourceMappings) != 1 {
			t.Fatalf("mappings of %s: %v, %v", fn, out, err)
		}
		m := out.EventSourceMappings[0]
		return aws.ToString(m.DestinationConfig.OnFailure.Destination), aws.ToString(m.UUID)
	}
	shipFn, auditFn := scheme.Function("ship"), scheme.Function("audit")
	queueARN, _ := destination(shipFn)
	bucketARN, auditUUID := destination(auditFn)
	bucket, ok := strings.CutPrefix(bucketARN, "arn:aws:s3:::")
	if !strings.HasPrefix(queueARN, "arn:aws:sqs:") || !ok {
		t.Fatalf("ship sends failures to %s, audit to %s; want a queue and a bucket", queueARN, bucketARN)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("the failure bucket %s: %v", bucket, err)
	}
	queueName := queueARN[strings.LastIndex(queueARN, ":")+1:]
	q, err := sc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queueName)})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	shipConf, err := lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(shipFn)})
	if err != nil {
		t.Fatal(err)
	}

	// Three orders. moto invokes the tracker (and ship and audit) for each
	// record it is put, in a container it cannot start.
	seqOf := map[string]string{}
	published := regexp.MustCompile(`sequence number (\d+)\n$`)
	for _, ex := range []string{"ex-a", "ex-b", "ex-c"} {
		code, out, errOut := xflow(t, "", "publish", "-c", file, "Ordered", `{"execution_id": "`+ex+`"}`)
		m := published.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("publish %s: exit %d\n%s\n%s", ex, code, out, errOut)
		}
		seqOf[ex] = m[1]
	}

	// 4: the tracker's log holds the error, and track says so.
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", logsRounder(t, mustURL(t, awstest.Endpoint(t))).URL)
	code, out, errOut := xflow(t, "", "track", "-c", file, "orders", "ex-a")
	t.Logf("xflow track orders ex-a:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "workflow orders, execution ex-a: the tracker of this workflow is failing: error running docker") {
		t.Errorf("track: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = xflow(t, "", "track", "-c", file, "orders", "ex-a", "--json")
	var rep struct {
		Status  string `json:"status"`
		Tracker struct {
			Function string `json:"function"`
			Failing  bool   `json:"failing"`
			Reason   string `json:"reason"`
			Mappings []struct {
				Stream string `json:"stream"`
			} `json:"mappings"`
		} `json:"tracker"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Status != "tracker_failing" || !rep.Tracker.Failing ||
		!strings.HasPrefix(rep.Tracker.Reason, "error running docker") || rep.Tracker.Function != scheme.Tracker("orders") || len(rep.Tracker.Mappings) != 2 {
		t.Errorf("track --json: exit %d, %v\n%s", code, err, out)
	}

	// The tracker saw two records that the stream no longer holds, 30
	// hours ago: their entries name their executions.
	old := time.Now().Add(-30 * time.Hour).Truncate(time.Millisecond)
	h := &tracker.Handler{Logs: logs, LogGroup: scheme.TrackerLogGroup("orders"), Names: scheme, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var gone []kinesistest.Record
	for i, ex := range []string{"ex-old1", "ex-old2"} {
		gone = append(gone, kinesistest.Record{Stream: stream, StreamARN: streamARN, ShardID: "shardId-000000000000", Record: kinesistypes.Record{
			SequenceNumber: aws.String(fmt.Sprint(900 + i)), PartitionKey: aws.String(ex),
			Data: []byte(`{"execution_id": "` + ex + `"}`), ApproximateArrivalTimestamp: aws.Time(old),
		}})
	}
	if resp, err := h.Handle(ctx, kinesistest.Event(t, awsCfg.Region, gone)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("tracker: %v %+v", err, resp)
	}

	// Lambda's on-failure records in ship's queue.
	record := func(start, end string, size int, arrival time.Time) string {
		return fmt.Sprintf(`{"requestContext":{"requestId":"%s","functionArn":"%s","condition":"RetryAttemptsExhausted","approximateInvokeCount":4},`+
			`"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"%s",`+
			`"KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"%s","endSequenceNumber":"%s","approximateArrivalOfFirstRecord":"%s",`+
			`"approximateArrivalOfLastRecord":"%s","batchSize":%d,"streamArn":"%s"}}`,
			"req-"+start, aws.ToString(shipConf.FunctionArn), time.Now().UTC().Format(time.RFC3339Nano), start, end,
			arrival.UTC().Format("2006-01-02T15:04:05.000Z"), arrival.UTC().Format("2006-01-02T15:04:05.000Z"), size, streamARN)
	}
	for _, body := range []string{record(seqOf["ex-a"], seqOf["ex-b"], 2, time.Now()), record("900", "901", 2, old)} {
		if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	depth := func() int {
		out, err := sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: []sqstypesName{"ApproximateNumberOfMessages"}})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &n)
		return n
	}

	// From here on, Invoke goes to the moto without Docker.
	router := &lambdaRouter{moto: mustURL(t, awstest.Endpoint(t))}
	noDocker := startMotoWithoutDocker(t)
	router.route(noDocker)
	ts := httptest.NewServer(router)
	defer ts.Close()
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", ts.URL)

	// 2: a dry run lists both batches and touches nothing.
	code, out, errOut = xflow(t, "", "redrive", "-c", file, "ship", "--dry-run")
	if code != 0 || !strings.Contains(out, "2 records in retention (executions ex-a, ex-b)") || !strings.Contains(out, "lost, the stream no longer holds any of its 2 records") ||
		!strings.Contains(out, "2 records lost (past the stream's retention of 24 hours") || !strings.Contains(out, "executions ex-old1, ex-old2") {
		t.Errorf("redrive --dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	if inv := router.take(); len(inv) != 0 {
		t.Errorf("the dry run invoked %d times", len(inv))
	}
	if n := depth(); n != 2 {
		t.Errorf("after the dry run the queue holds %d messages visible, want 2", n)
	}

	// A record another consumer holds is not passed over in silence.
	held, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, VisibilityTimeout: 60})
	if err != nil || len(held.Messages) != 1 {
		t.Fatalf("hide one message: %v, %d received", err, len(held.Messages))
	}
	code, out, errOut = xflow(t, "", "redrive", "-c", file, "ship", "--dry-run")
	if code != 0 || !strings.Contains(out, "holds about 1 more failure record, hidden from this run") {
		t.Errorf("redrive --dry-run with a message held elsewhere: exit %d, want a note of it\n%s\n%s", code, out, errOut)
	}
	if _, err := sc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queueURL), ReceiptHandle: held.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}

	// 2: the redrive.
	code, out, errOut = xflow(t, "", "redrive", "-c", file, "ship")
	t.Logf("xflow redrive ship:\n%s%s", out, errOut)
	if code != 1 || !strings.Contains(out, "redriven, 2 records (executions ex-a, ex-b)") || !strings.Contains(out, "1 redriven, 0 failed again, 1 lost") ||
		!strings.Contains(errOut, "2 records lost") {
		t.Errorf("redrive: exit %d, want 1 (records lost)\n%s\n%s", code, out, errOut)
	}
	inv := router.take()
	if len(inv) != 1 || inv[0].function != shipFn {
		t.Fatalf("invocations %v, want one of %s", inv, shipFn)
	}
	var ev kinesisEvent
	if err := json.Unmarshal(inv[0].payload, &ev); err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for i, r := range ev.Records {
		seqs = append(seqs, r.Kinesis.SequenceNumber)
		ex := []string{"ex-a", "ex-b"}[min(i, 1)]
		if r.Kinesis.PartitionKey != ex || string(r.Kinesis.Data) != `{"execution_id": "`+ex+`"}` || r.Kinesis.KinesisSchemaVersion != "1.0" ||
			r.EventSource != "aws:kinesis" || r.EventName != "aws:kinesis:record" || r.EventID != "shardId-000000000000:"+r.Kinesis.SequenceNumber ||
			r.EventSourceARN != streamARN || r.AWSRegion != awsCfg.Region || r.InvokeIdentityArn != aws.ToString(shipConf.Role) {
			t.Errorf("record %d of the event: %+v", i, r)
		}
	}
	if !slices.Equal(seqs, []string{seqOf["ex-a"], seqOf["ex-b"]}) {
		t.Errorf("the event holds %v, want exactly %s and %s", seqs, seqOf["ex-a"], seqOf["ex-b"])
	}
	if bodies := receiveAll(t, sc, queueURL); len(bodies) != 1 || !strings.Contains(bodies[0], `"startSequenceNumber":"900"`) {
		t.Errorf("the queue holds %v, want only the lost batch's record", bodies)
	}

	// 2: a batch that fails again (the shared moto has no Docker) keeps
	// its message, with its new error.
	if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(record(seqOf["ex-c"], seqOf["ex-c"], 1, time.Now()))}); err != nil {
		t.Fatal(err)
	}
	router.route(router.moto)
	code, out, errOut = xflow(t, "", "redrive", "-c", file, "ship", "--execution", "ex-c")
	if code != 1 || !strings.Contains(out, "failed again (execution ex-c): error running docker") {
		t.Errorf("redrive of ex-c: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if inv := router.take(); len(inv) != 1 || inv[0].function != shipFn {
		t.Errorf("invocations %v, want one of %s", inv, shipFn)
	}
	kept := false
	for _, b := range receiveAll(t, sc, queueURL) {
		var m struct {
			KinesisBatchInfo struct {
				StartSequenceNumber string `json:"startSequenceNumber"`
			} `json:"KinesisBatchInfo"`
			XflowRedrive struct {
				Error string `json:"error"`
			} `json:"xflowRedrive"`
		}
		if json.Unmarshal([]byte(b), &m) == nil && m.KinesisBatchInfo.StartSequenceNumber == seqOf["ex-c"] && strings.Contains(m.XflowRedrive.Error, "error running docker") {
			kept = true
		}
	}
	if !kept {
		t.Error("the batch that failed again is not in the queue with its new error")
	}

	// 6: a failure object in Lambda's S3 format, with a record the stream
	// never held any more (30 hours old) and one it holds.
	router.route(noDocker)
	data := func(ex string) string {
		return base64.StdEncoding.EncodeToString([]byte(`{"execution_id": "` + ex + `"}`))
	}
	event := fmt.Sprintf(`{"Records":[`+
		`{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"ex-gone","sequenceNumber":"0","data":"%s","approximateArrivalTimestamp":%.3f},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:0","eventName":"aws:kinesis:record","eventSourceARN":"%s"},`+
		`{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"ex-b","sequenceNumber":"%s","data":"%s","approximateArrivalTimestamp":%.3f},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000000000000:%s","eventName":"aws:kinesis:record","eventSourceARN":"%s"}]}`,
		data("ex-gone"), float64(old.UnixMilli())/1000, streamARN, seqOf["ex-b"], data("ex-b"), float64(time.Now().UnixMilli())/1000, seqOf["ex-b"], streamARN)
	payload, _ := json.Marshal(event)
	auditConf, err := lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(auditFn)})
	if err != nil {
		t.Fatal(err)
	}
	object := strings.Replace(record("0", seqOf["ex-b"], 2, old), aws.ToString(shipConf.FunctionArn), aws.ToString(auditConf.FunctionArn), 1)
	object = strings.TrimSuffix(object, "}") + `,"payload":` + string(payload) + `}`
	now := time.Now().UTC()
	key := fmt.Sprintf("aws/lambda/%s/shardId-000000000000/%s/%s-6f1c2a4e-1d2b-4c3d-9e8f-0a1b2c3d4e5f", auditUUID, now.Format("2006/01/02"), now.Format("2006-01-02T15.04.05"))
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(object)}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = xflow(t, "", "redrive", "-c", file, "audit")
	t.Logf("xflow redrive audit:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "redriven, 2 records (executions ex-gone, ex-b)") {
		t.Errorf("redrive of audit: exit %d\n%s\n%s", code, out, errOut)
	}
	inv = router.take()
	if len(inv) != 1 || inv[0].function != auditFn {
		t.Fatalf("invocations %v, want one of %s only", inv, auditFn)
	}
	ev = kinesisEvent{}
	if err := json.Unmarshal(inv[0].payload, &ev); err != nil || len(ev.Records) != 2 ||
		string(ev.Records[0].Kinesis.Data) != `{"execution_id": "ex-gone"}` || ev.Records[0].Kinesis.SequenceNumber != "0" ||
		ev.Records[1].Kinesis.SequenceNumber != seqOf["ex-b"] || ev.Records[0].InvokeIdentityArn != aws.ToString(auditConf.Role) {
		t.Errorf("audit was invoked with %s (%v)", inv[0].payload, err)
	}
	left, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("aws/lambda/")})
	if err != nil || len(left.Contents) != 0 {
		t.Errorf("the bucket still holds %d failure records (%v), want none", len(left.Contents), err)
	}
}

// sqstypesName names a queue attribute.
type sqstypesName = sqstypes.QueueAttributeName

// receiveAll returns the bodies of the messages of a queue and makes them
// visible again. It counts the queue's messages first and receives until it
// has seen each: a receive whose answer was lost and retried by the SDK
// (seen under load) hides its messages for the visibility timeout, so they
// are received again a second later instead of being missed.
func receiveAll(t *testing.T, sc *sqs.Client, queueURL string) []string {
	t.Helper()
	ctx := context.Background()
	attrs, err := sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypesName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	var total int
	for _, v := range attrs.Attributes {
		var n int
		fmt.Sscan(v, &n)
		total += n
	}
	bodies := map[string]string{}
	receipts := map[string]string{}
	for deadline := time.Now().Add(20 * time.Second); len(bodies) < total && time.Now().Before(deadline); {
		out, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			bodies[aws.ToString(m.MessageId)] = aws.ToString(m.Body)
			receipts[aws.ToString(m.MessageId)] = aws.ToString(m.ReceiptHandle)
		}
	}
	for _, r := range receipts {
		sc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(r), VisibilityTimeout: 0})
	}
	out := slices.Collect(maps.Values(bodies))
	slices.Sort(out)
	return out
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
