package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kinesistypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/esm"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// The AWS clients the AWS source uses, narrowed to their calls.
type (
	LambdaAPI interface {
		esm.LambdaAPI
		GetFunctionConfiguration(ctx context.Context, params *lambda.GetFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
		Invoke(ctx context.Context, params *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
	}
	SQSAPI interface {
		esm.SQSAPI
		ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
		DeleteMessage(ctx context.Context, params *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
		SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
		ChangeMessageVisibility(ctx context.Context, params *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
		GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	}
	S3API interface {
		ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
		GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
		PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
		DeleteObject(ctx context.Context, params *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	}
	KinesisAPI interface {
		DescribeStreamSummary(ctx context.Context, params *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
		GetShardIterator(ctx context.Context, params *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
		GetRecords(ctx context.Context, params *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	}
	LogsAPI interface {
		FilterLogEvents(ctx context.Context, params *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
	}
)

// Limits of one run on AWS.
const (
	// MaxFailures bounds the failure records one run reads: a queue or a
	// bucket holding more is redriven over several runs, and the report
	// says so.
	MaxFailures = 1000
	// receiveVisibility hides the messages a run received from any other
	// consumer while it reads their records; each is hidden again for the
	// function's timeout before its batch is invoked.
	receiveVisibility = 15 * time.Minute
	// maxObjectBytes bounds an S3 failure record: a batch of at most 6 MB
	// of invocation, and Lambda's metadata.
	maxObjectBytes = 16 << 20
	// maxRecordPages bounds the GetRecords calls of one batch.
	maxRecordPages = 200
)

// AWS redrives on AWS: failure records from each function's SQS queue or
// the stack's S3 bucket, records from Kinesis, invocations with Lambda's
// Invoke. It is safe for concurrent use; each run gets its own Source.
type AWS struct {
	config  *config.Config
	region  string
	lambda  LambdaAPI
	sqs     SQSAPI
	s3      S3API
	kinesis KinesisAPI
	logs    LogsAPI
	now     func() time.Time
}

// NewAWS returns the AWS redrive of c, with the SDK configuration cfg.
func NewAWS(cfg aws.Config, c *config.Config) *AWS {
	return &AWS{
		config: c, region: cfg.Region,
		lambda: lambda.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg, pathStyle(cfg)),
		kinesis: kinesis.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg), now: time.Now,
	}
}

// pathStyle addresses buckets in the URL's path when an endpoint other
// than AWS's is configured (AWS_ENDPOINT_URL, as for an emulator): the
// bucket's own host name (bucket.localhost) resolves nowhere there. AWS's
// own endpoints keep virtual-hosted addressing.
func pathStyle(cfg aws.Config) func(*s3.Options) {
	custom := cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	return func(o *s3.Options) {
		o.UsePathStyle = o.UsePathStyle || custom
		// Lambda's failure objects carry no checksum to validate; the
		// SDK would say so on stderr for each.
		o.DisableLogOutputChecksumValidationSkipped = true
	}
}

// Redrive runs a redrive of one lambda of the config.
func (a *AWS) Redrive(ctx context.Context, opts Options) (*Report, error) {
	src, err := a.source(opts.Lambda)
	if err != nil {
		return nil, err
	}
	return Run(ctx, src, a.config, opts)
}

// ErrUnknownLambda is a lambda that is not in the config:
// errors.Is(err, ErrUnknownLambda) tells a *LambdaError.
var ErrUnknownLambda = errors.New("unknown lambda")

// LambdaError refuses a lambda that is not in the config; its message
// names the ones it has.
type LambdaError struct{ Msg string }

func (e *LambdaError) Error() string { return e.Msg }
func (e *LambdaError) Unwrap() error { return ErrUnknownLambda }

// CheckLambda refuses a lambda that is not in c, naming the ones it has.
func CheckLambda(c *config.Config, lambda string) error {
	if _, ok := c.Lambda(lambda); ok {
		return nil
	}
	var all []string
	for _, l := range c.Lambdas {
		all = append(all, l.Name)
	}
	msg := fmt.Sprintf("lambda %q is not in %s", lambda, cmpOr(c.File, "the config"))
	if hint := didyoumean.Hint(lambda, all, "its lambdas are"); hint != "" {
		msg += " (" + hint + ")"
	}
	return &LambdaError{Msg: msg}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *AWS) source(lambdaName string) (*awsSource, error) {
	if err := CheckLambda(a.config, lambdaName); err != nil {
		return nil, err
	}
	scheme := names.New(a.config.General.NamePrefix)
	return &awsSource{a: a, lambda: lambdaName, fn: scheme.Function(lambdaName), scheme: scheme, retention: map[string]int{}}, nil
}

type awsSource struct {
	a       *AWS
	lambda  string
	fn      string
	scheme  names.Scheme
	role    string
	timeout time.Duration

	mu        sync.Mutex
	retention map[string]int // stream → hours
}

// queueHandle and objectHandle are the Handles of the failures a run read.
type queueHandle struct {
	url, receipt string
	body         []byte
}

type objectHandle struct {
	bucket, key string
	body        []byte
}

func (s *awsSource) Function() string { return s.fn }

func (s *awsSource) EventSource() (string, string) { return s.a.region, s.role }

// Failures finds the function's mappings (Lambda's own record of where
// each sends what it gives up on), then reads the failure records of each
// destination xflow made: its queue, the stack's bucket.
func (s *awsSource) Failures(ctx context.Context) ([]*Failure, []string, error) {
	conf, err := s.a.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(s.fn)})
	if _, ok := errors.AsType[*lambdatypes.ResourceNotFoundException](err); ok {
		return nil, nil, fmt.Errorf("function %s does not exist in %s: is the workflow deployed (xflow deploy) in this account and region, with this name_prefix?", s.fn, s.a.region)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the function %s: %w", s.fn, err)
	}
	s.role = aws.ToString(conf.Role)
	s.timeout = time.Duration(aws.ToInt32(conf.Timeout)) * time.Second
	mappings, err := esm.List(ctx, s.a.lambda, s.fn)
	if err != nil {
		return nil, nil, err
	}
	var notes []string
	if len(mappings) == 0 {
		notes = append(notes, fmt.Sprintf("function %s has no event source mapping: it is subscribed to no stream, so it gives nothing up", s.fn))
	}
	queues, buckets := map[string]bool{}, map[string][]string{} // ARN; bucket → mapping UUIDs
	var order []string
	for _, m := range mappings {
		setting := s.setting(m.Stream)
		switch {
		case m.Destination == "":
			notes = append(notes, fmt.Sprintf("its mapping from %s has no on-failure destination (on_failure: none): the batches it gave up on were dropped", m.Stream))
		case setting != config.OnFailureQueue && setting != config.OnFailureBucket:
			notes = append(notes, fmt.Sprintf("its mapping from %s sends failures to %s, which xflow does not own: redrive does not read it (out of scope: read the records there)", m.Stream, m.Destination))
		case esm.Service(m.Destination) == "sqs":
			if !queues[m.Destination] {
				order = append(order, m.Destination)
			}
			queues[m.Destination] = true
		case esm.Service(m.Destination) == "s3":
			name, ok := esm.BucketName(m.Destination)
			if !ok {
				notes = append(notes, fmt.Sprintf("its mapping from %s sends failures to %s, not a bucket's ARN", m.Stream, m.Destination))
				continue
			}
			if _, ok := buckets[name]; !ok {
				order = append(order, name)
			}
			buckets[name] = append(buckets[name], m.UUID)
		default:
			notes = append(notes, fmt.Sprintf("its mapping from %s sends failures to %s, which is neither a queue nor a bucket", m.Stream, m.Destination))
		}
	}
	var out []*Failure
	release := func() { s.Release(context.WithoutCancel(ctx), out) }
	for _, d := range order {
		var fs []*Failure
		var dn []string
		if queues[d] {
			fs, dn, err = s.readQueue(ctx, d, MaxFailures-len(out))
		} else {
			fs, dn, err = s.readBucket(ctx, d, buckets[d], MaxFailures-len(out))
		}
		out = append(out, fs...)
		notes = append(notes, dn...)
		if err != nil {
			release()
			return nil, nil, err
		}
	}
	return out, notes, nil
}

// setting is the config's on_failure of the lambda's subscription to the
// event of a stream.
func (s *awsSource) setting(stream string) string {
	ev, ok := s.scheme.Event(stream)
	if !ok {
		return ""
	}
	sub, ok := s.a.config.Subscription(ev)
	if !ok {
		return ""
	}
	for _, who := range sub.Subscribers {
		if who.Lambda == s.lambda {
			return sub.Settings(who).OnFailure
		}
	}
	return ""
}

// readQueue receives up to max messages of a failure queue, hiding them
// while the run lasts. Long polling (1 s) asks every server of the queue,
// so an empty answer means the queue has nothing visible left.
func (s *awsSource) readQueue(ctx context.Context, arn string, max int) ([]*Failure, []string, error) {
	url, err := esm.QueueURL(ctx, s.a.sqs, arn)
	if err != nil {
		return nil, nil, err
	}
	var out []*Failure
	var notes []string
	var foreign []queueHandle
	defer func() {
		for _, h := range foreign {
			s.show(context.WithoutCancel(ctx), h)
		}
	}()
	for len(out) < max {
		resp, err := s.a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: int32(min(10, max-len(out))),
			VisibilityTimeout:   int32(receiveVisibility / time.Second),
			WaitTimeSeconds:     1,
		})
		if err != nil {
			return out, notes, fmt.Errorf("receive from the failure queue %s: %w", url, err)
		}
		if len(resp.Messages) == 0 {
			return out, append(notes, s.hiddenNote(ctx, url, len(out)+len(foreign))...), nil
		}
		for _, m := range resp.Messages {
			h := queueHandle{url: url, receipt: aws.ToString(m.ReceiptHandle), body: []byte(aws.ToString(m.Body))}
			f, rec, err := ParseRecord(h.body)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("message %s of %s is left as it is: %v", aws.ToString(m.MessageId), url, err))
				foreign = append(foreign, h)
				continue
			case !s.ownRecord(rec):
				notes = append(notes, fmt.Sprintf("message %s of %s is left as it is: it is the record of %s, not of %s", aws.ToString(m.MessageId), url, rec.RequestContext.FunctionARN, s.fn))
				foreign = append(foreign, h)
				continue
			}
			f.ID, f.Where, f.Handle = aws.ToString(m.MessageId), "message "+aws.ToString(m.MessageId)+" of the failure queue "+url, h
			out = append(out, f)
		}
	}
	notes = append(notes, fmt.Sprintf("%s may hold more than the %d failure records one run reads: run again for the rest", url, max))
	return out, notes, nil
}

// hiddenNote says when the queue holds messages that this run could not
// see: another redrive (or another consumer) holds them, or a run that
// stopped short, or an answer lost on the way and retried, left them hidden
// for up to receiveVisibility. Without it such records would be passed over
// in silence.
func (s *awsSource) hiddenNote(ctx context.Context, url string, held int) []string {
	resp, err := s.a.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		return []string{fmt.Sprintf("could not tell whether %s holds failure records hidden from this run: %v", url, err)}
	}
	n, _ := strconv.Atoi(resp.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if n -= held; n <= 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s holds about %d more failure record%s, hidden from this run: another redrive is reading them, or one that stopped less than %s ago received them; run again once they show", url, n, pluralS(n), fmt.Sprintf("%d minutes", int(receiveVisibility.Minutes())))}
}

// ownRecord tells whether a record names this function (its ARN may carry
// a version or alias).
func (s *awsSource) ownRecord(r *OnFailureRecord) bool {
	arn := r.RequestContext.FunctionARN
	return arn == "" || strings.HasSuffix(arn, ":function:"+s.fn) || strings.Contains(arn, ":function:"+s.fn+":")
}

// readBucket reads the failure records of the function's mappings in the
// stack's bucket: Lambda writes each under aws/lambda/<mapping UUID>/.
func (s *awsSource) readBucket(ctx context.Context, bucket string, uuids []string, max int) ([]*Failure, []string, error) {
	var out []*Failure
	var notes []string
	for _, uuid := range uuids {
		var token *string
		for {
			page, err := s.a.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
				Bucket: aws.String(bucket), Prefix: aws.String("aws/lambda/" + uuid + "/"), ContinuationToken: token,
			})
			if err != nil {
				return out, notes, fmt.Errorf("list the failure records in the bucket %s: %w", bucket, err)
			}
			for _, o := range page.Contents {
				if len(out) == max {
					notes = append(notes, fmt.Sprintf("the bucket %s may hold more than the %d failure records one run reads: run again for the rest", bucket, max))
					return out, notes, nil
				}
				key := aws.ToString(o.Key)
				if aws.ToInt64(o.Size) > maxObjectBytes {
					notes = append(notes, fmt.Sprintf("s3://%s/%s is left as it is: %d bytes, more than a failure record of Lambda's weighs", bucket, key, aws.ToInt64(o.Size)))
					continue
				}
				body, err := s.getObject(ctx, bucket, key)
				if err != nil {
					return out, notes, err
				}
				f, rec, err := ParseRecord(body)
				if err == nil && f.Records == nil {
					err = errors.New("it holds no payload")
				}
				if err != nil {
					notes = append(notes, fmt.Sprintf("s3://%s/%s is left as it is: %v", bucket, key, err))
					continue
				}
				if !s.ownRecord(rec) {
					continue
				}
				f.ID, f.Where, f.Handle = key, "s3://"+bucket+"/"+key, objectHandle{bucket: bucket, key: key, body: body}
				out = append(out, f)
			}
			if !aws.ToBool(page.IsTruncated) || aws.ToString(page.NextContinuationToken) == "" {
				break
			}
			token = page.NextContinuationToken
		}
	}
	return out, notes, nil
}

func (s *awsSource) getObject(ctx context.Context, bucket, key string) ([]byte, error) {
	obj, err := s.a.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(io.LimitReader(obj.Body, maxObjectBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return body, nil
}

// Fetch reads a batch from its shard: an iterator at its first sequence
// number, then records up to its last. What the stream no longer holds is
// lost: past its retention, or trimmed with a closed shard.
func (s *awsSource) Fetch(ctx context.Context, f *Failure) (Fetched, error) {
	var out Fetched
	lost := func(reason string) (Fetched, error) {
		out.Lost = max(f.BatchSize-len(out.Records), 0)
		if out.Lost == 0 && len(out.Records) == 0 {
			out.Lost = 1 // a record without its batch size: at least its first record
		}
		if out.Lost > 0 {
			out.LostReason = reason
			out.LostExecutions = s.lostExecutions(ctx, f, out.Records)
		}
		return out, nil
	}
	it, err := s.a.kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:             aws.String(f.Stream),
		ShardId:                aws.String(f.ShardID),
		ShardIteratorType:      kinesistypes.ShardIteratorTypeAtSequenceNumber,
		StartingSequenceNumber: aws.String(f.StartSequenceNumber),
	})
	var nf *kinesistypes.ResourceNotFoundException
	var ia *kinesistypes.InvalidArgumentException
	switch {
	case errors.As(err, &nf):
		return lost("the stream or its shard no longer exists: " + nf.ErrorMessage())
	case errors.As(err, &ia):
		return lost(s.goneReason(ctx, f, "Kinesis refuses the sequence number: "+ia.ErrorMessage()))
	case err != nil:
		return out, fmt.Errorf("get an iterator of %s at %s: %w", f.ShardID, f.StartSequenceNumber, err)
	}
	iter := it.ShardIterator
	for page := 0; iter != nil && page < maxRecordPages; page++ {
		resp, err := s.a.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(min(max(f.BatchSize, 1), spec.MaxGetRecords)))})
		var ex *kinesistypes.ExpiredIteratorException
		if errors.As(err, &ex) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read %s of %s: %w", f.ShardID, f.Stream, err)
		}
		for _, r := range resp.Records {
			seq := aws.ToString(r.SequenceNumber)
			if CompareSequenceNumbers(seq, f.EndSequenceNumber) > 0 {
				return s.done(ctx, f, out, lost)
			}
			if CompareSequenceNumbers(seq, f.StartSequenceNumber) < 0 {
				continue
			}
			out.Records = append(out.Records, Record{
				SequenceNumber: seq, PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data,
				Arrival: aws.ToTime(r.ApproximateArrivalTimestamp).UTC(),
			})
		}
		if f.BatchSize > 0 && len(out.Records) >= f.BatchSize {
			break
		}
		if len(resp.Records) == 0 && aws.ToInt64(resp.MillisBehindLatest) == 0 {
			break // at the end of the shard
		}
		iter = resp.NextShardIterator
	}
	return s.done(ctx, f, out, lost)
}

// done ends a Fetch: records missing from the batch are lost.
func (s *awsSource) done(ctx context.Context, f *Failure, out Fetched, lost func(string) (Fetched, error)) (Fetched, error) {
	if len(out.Records) > 0 && len(out.Records) >= f.BatchSize {
		return out, nil
	}
	return lost(s.goneReason(ctx, f, "not in the stream any more"))
}

// goneReason says why records are not in their stream: past its
// retention, when their arrival says so.
func (s *awsSource) goneReason(ctx context.Context, f *Failure, otherwise string) string {
	hours := s.retentionOf(ctx, f.Stream)
	at := f.FirstArrival
	if at.IsZero() {
		at = f.Time
	}
	if hours > 0 && !at.IsZero() && s.a.now().Sub(at) > time.Duration(hours)*time.Hour {
		return fmt.Sprintf("past the stream's retention of %d hours: they arrived %s", hours, at.Format(time.RFC3339))
	}
	return otherwise
}

func (s *awsSource) retentionOf(ctx context.Context, stream string) int {
	s.mu.Lock()
	h, ok := s.retention[stream]
	s.mu.Unlock()
	if ok {
		return h
	}
	out, err := s.a.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err == nil {
		h = int(aws.ToInt32(out.StreamDescriptionSummary.RetentionPeriodHours))
	}
	s.mu.Lock()
	s.retention[stream] = h
	s.mu.Unlock()
	return h
}

// lostExecutions finds the execution ids of a batch's lost records in the
// tracking log groups of the workflows of its event: the tracker wrote
// each record it saw with its shard and sequence number, at its arrival
// time, and keeps them for the tracking retention, longer than a stream's
// default. Records found are left out.
func (s *awsSource) lostExecutions(ctx context.Context, f *Failure, found []Record) []string {
	event, ok := s.scheme.Event(f.Stream)
	if !ok {
		return nil
	}
	have := map[string]bool{}
	for _, r := range found {
		have[r.SequenceNumber] = true
	}
	from, to := f.FirstArrival, f.LastArrival
	if from.IsZero() || to.IsZero() {
		return nil
	}
	type seen struct{ seq, id string }
	var saw []seen
	for _, w := range s.a.config.Workflows {
		if !slices.Contains(w.Flow, event) {
			continue
		}
		group := s.scheme.TrackerLogGroup(w.ID)
		var token *string
		for range 20 {
			out, err := s.a.logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
				LogGroupName: aws.String(group),
				StartTime:    aws.Int64(from.Add(-time.Second).UnixMilli()),
				EndTime:      aws.Int64(to.Add(time.Second).UnixMilli()),
				NextToken:    token,
			})
			if err != nil {
				break // the ids stay unknown; the report says so
			}
			for _, e := range out.Events {
				var ent tracker.Entry
				if json.Unmarshal([]byte(aws.ToString(e.Message)), &ent) != nil || ent.EventName != event ||
					(ent.ShardID != "" && ent.ShardID != f.ShardID) || have[ent.SequenceNumber] ||
					CompareSequenceNumbers(ent.SequenceNumber, f.StartSequenceNumber) < 0 ||
					CompareSequenceNumbers(ent.SequenceNumber, f.EndSequenceNumber) > 0 {
					continue
				}
				if id := aws.ToString(e.LogStreamName); id != "" {
					saw = append(saw, seen{ent.SequenceNumber, id})
				}
			}
			if token = out.NextToken; aws.ToString(token) == "" {
				break
			}
		}
	}
	// In the order of their records, each once.
	slices.SortStableFunc(saw, func(a, b seen) int { return CompareSequenceNumbers(a.seq, b.seq) })
	var ids []string
	for _, f := range saw {
		if !slices.Contains(ids, f.id) {
			ids = append(ids, f.id)
		}
	}
	return ids
}

// Invoke hides the batch's message for the function's timeout first, so
// that no other run takes it meanwhile, then invokes the function.
func (s *awsSource) Invoke(ctx context.Context, f *Failure, payload []byte) ([]byte, string, error) {
	if h, ok := f.Handle.(queueHandle); ok {
		_, err := s.a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(h.url), ReceiptHandle: aws.String(h.receipt),
			VisibilityTimeout: int32(max(s.timeout+time.Minute, receiveVisibility) / time.Second),
		})
		if err != nil {
			return nil, "", fmt.Errorf("hide the failure record while its batch is invoked: %w", err)
		}
	}
	out, err := s.a.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(s.fn),
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, "", err
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		return out.Payload, functionError(fe, out.Payload), nil
	}
	return out.Payload, "", nil
}

// functionError says what a function's error answer says: Lambda's
// {"errorType", "errorMessage"} document, or the answer as it is.
func functionError(kind string, payload []byte) string {
	var doc struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &doc) == nil && doc.ErrorMessage != "" {
		return cmpOr(doc.ErrorType, kind) + ": " + doc.ErrorMessage
	}
	text := strings.TrimSpace(string(payload))
	if len(text) > 2000 {
		text = text[:2000] + "…"
	}
	if text == "" {
		return "function error (" + kind + ")"
	}
	return text
}

func (s *awsSource) Done(ctx context.Context, f *Failure) error {
	switch h := f.Handle.(type) {
	case queueHandle:
		_, err := s.a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(h.url), ReceiptHandle: aws.String(h.receipt)})
		return err
	case objectHandle:
		_, err := s.a.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(h.key)})
		return err
	}
	return fmt.Errorf("a failure record of unknown origin (%T)", f.Handle)
}

// Keep puts the record back with its new error: an SQS message cannot be
// changed, so a copy with it is sent and the original deleted (the copy's
// retention starts anew); an S3 object is rewritten in place.
func (s *awsSource) Keep(ctx context.Context, f *Failure, newError string) error {
	switch h := f.Handle.(type) {
	case queueHandle:
		body, err := WithAttempt(h.body, s.a.now(), newError)
		if err != nil {
			s.show(ctx, h)
			return err
		}
		if _, err := s.a.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(h.url), MessageBody: aws.String(string(body))}); err != nil {
			s.show(ctx, h)
			return fmt.Errorf("put the record back with its new error (it stays as it was): %w", err)
		}
		_, err = s.a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(h.url), ReceiptHandle: aws.String(h.receipt)})
		return err
	case objectHandle:
		body, err := WithAttempt(h.body, s.a.now(), newError)
		if err != nil {
			return err
		}
		_, err = s.a.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(h.key), Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
		return err
	}
	return fmt.Errorf("a failure record of unknown origin (%T)", f.Handle)
}

// Release makes the messages of a run visible again at once.
func (s *awsSource) Release(ctx context.Context, fs []*Failure) {
	for _, f := range fs {
		if h, ok := f.Handle.(queueHandle); ok {
			s.show(ctx, h)
		}
	}
}

// show makes a received message visible again; one that cannot be shows
// again when its visibility timeout ends.
func (s *awsSource) show(ctx context.Context, h queueHandle) {
	_, _ = s.a.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.url), ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: 0,
	})
}

var _ Source = (*awsSource)(nil)

// pluralS is s under a name that a method's receiver named s cannot shadow.
func pluralS(n int) string { return s(n) }
