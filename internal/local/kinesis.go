package local

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
)

// Streams are the streams of one config in a state folder, with the
// Kinesis client's PutRecord and PutRecords signatures, so that
// publish.New(streams, cfg) publishes locally exactly as it does on AWS.
// It is safe for concurrent use.
type Streams struct {
	region, account string

	mu      sync.Mutex
	streams map[string]*stream // by stream name; those of the config
	names   []string           // sorted
}

// OpenStreams opens the streams of c's events in a state folder, creating
// them as needed. Close it after use.
func OpenStreams(stateDir string, c *config.Config) (*Streams, error) {
	scheme := names.New(c.General.NamePrefix)
	s := &Streams{region: region(c), account: account(c), streams: map[string]*stream{}}
	for _, e := range c.Events() {
		name := scheme.Stream(e)
		st, err := openStream(stateDir, name)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.streams[name] = st
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	return s, nil
}

// Close releases the streams' files.
func (s *Streams) Close() error {
	var errs []error
	for _, st := range s.streams {
		errs = append(errs, st.close())
	}
	return errors.Join(errs...)
}

func (s *Streams) get(name string) (*stream, bool) {
	st, ok := s.streams[name]
	return st, ok
}

// streamARN is the ARN of a local stream, as Lambda names the event
// source of a record.
func (s *Streams) streamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", s.region, s.account, name)
}

// lookup finds a stream by name or ARN, with Kinesis's error when it is
// not there.
func (s *Streams) lookup(name, arn *string) (*stream, error) {
	n := aws.ToString(name)
	if n == "" {
		if _, after, ok := strings.Cut(aws.ToString(arn), ":stream/"); ok {
			n = after
		}
	}
	if n == "" {
		return nil, &types.InvalidArgumentException{Message: aws.String("StreamName or StreamARN is required")}
	}
	st, ok := s.get(n)
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Stream %s under account %s not found.", n, s.account))}
	}
	return st, nil
}

// explicitHashKeyRe is Kinesis's pattern for ExplicitHashKey: a decimal
// number without leading zeros.
var explicitHashKeyRe = regexp.MustCompile(`^(0|[1-9]\d{0,38})$`)

// maxHashKey is 2^128-1, the top of a stream's hash key range.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

func checkRecord(key string, data []byte, explicitHashKey *string) error {
	if n := utf8.RuneCountInString(key); n < 1 || n > spec.MaxPartitionKey {
		return &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf("1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and %d", spec.MaxPartitionKey))}
	}
	if len(data)+len(key) > spec.MaxRecordBytes {
		return &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf("the record is %d bytes with its partition key, more than the 1 MiB Kinesis allows", len(data)+len(key)))}
	}
	// One shard takes every hash key, so the key is only checked, as
	// Kinesis checks it.
	if explicitHashKey != nil {
		h := *explicitHashKey
		if !explicitHashKeyRe.MatchString(h) {
			return &types.ValidationException{Message: aws.String(fmt.Sprintf("1 validation error detected: Value '%s' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})", h))}
		}
		if n, _ := new(big.Int).SetString(h, 10); n.Cmp(maxHashKey) > 0 {
			return &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", h))}
		}
	}
	return nil
}

// PutRecord appends one record and returns after it is durable.
func (s *Streams) PutRecord(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	st, err := s.lookup(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	key := aws.ToString(in.PartitionKey)
	if err := checkRecord(key, in.Data, in.ExplicitHashKey); err != nil {
		return nil, err
	}
	seqs, _, err := st.append([]appendRecord{{PartitionKey: key, Data: in.Data}})
	if err != nil {
		return nil, err
	}
	return &kinesis.PutRecordOutput{
		SequenceNumber: aws.String(formatSeq(seqs[0])),
		ShardId:        aws.String(shardID),
		EncryptionType: types.EncryptionTypeNone,
	}, nil
}

// PutRecords appends up to spec.MaxPutRecordsRecords records with one
// fsync. Either all are written or the call fails: a local disk has no
// partial throttling.
func (s *Streams) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	st, err := s.lookup(in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	if len(in.Records) < 1 || len(in.Records) > spec.MaxPutRecordsRecords {
		return nil, &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf("Records must hold 1 to %d records", spec.MaxPutRecordsRecords))}
	}
	recs := make([]appendRecord, len(in.Records))
	total := 0
	for i, r := range in.Records {
		key := aws.ToString(r.PartitionKey)
		if err := checkRecord(key, r.Data, r.ExplicitHashKey); err != nil {
			return nil, err
		}
		total += len(key) + len(r.Data)
		recs[i] = appendRecord{PartitionKey: key, Data: r.Data}
	}
	if total > spec.MaxPutRecordsBytes {
		return nil, &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf("the records weigh %d bytes, more than the %d (5 MiB) a PutRecords call allows", total, spec.MaxPutRecordsBytes))}
	}
	seqs, _, err := st.append(recs)
	if err != nil {
		return nil, err
	}
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0), EncryptionType: types.EncryptionTypeNone}
	for _, seq := range seqs {
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(formatSeq(seq)), ShardId: aws.String(shardID)})
	}
	return out, nil
}

// kinesisServer serves the Kinesis API (AWS JSON 1.1) on loopback for the
// workers: PutRecord, PutRecords, and what SDKs and the CLI ask before
// them (DescribeStreamSummary, DescribeStream, ListStreams, ListShards).
// Requests are not authenticated: it listens on 127.0.0.1 only, and the
// workers' credentials are dummies.
type kinesisServer struct {
	streams *Streams
	started time.Time
	ln      net.Listener
	srv     *http.Server
	// control serves controlPath: the runtime's redrive for other
	// processes.
	control http.Handler
}

// kinesisTarget prefixes X-Amz-Target.
const kinesisTarget = "Kinesis_20131202."

// maxKinesisRequest bounds a request body: a PutRecords call's
// spec.MaxPutRecordsBytes of data in base64 (4/3 as long), with room for
// the JSON around it.
const maxKinesisRequest = spec.MaxPutRecordsBytes*4/3 + 1<<20

func startKinesisServer(streams *Streams) (*kinesisServer, error) {
	return startKinesisServerWith(streams, nil)
}

// startKinesisServerWith starts the server with its control route (see
// Runtime.controlHandler), nil for none.
func startKinesisServerWith(streams *Streams, control http.Handler) (*kinesisServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the local Kinesis API: %w", err)
	}
	k := &kinesisServer{streams: streams, started: time.Now(), ln: ln, control: control}
	k.srv = &http.Server{Handler: k, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/2 without TLS as well as HTTP/1.1: the AWS SDK for JavaScript's
	// Kinesis client speaks only HTTP/2, which over plain http:// it
	// starts with prior knowledge.
	k.srv.Protocols = new(http.Protocols)
	k.srv.Protocols.SetHTTP1(true)
	k.srv.Protocols.SetUnencryptedHTTP2(true)
	go k.srv.Serve(ln)
	return k, nil
}

// endpoint is the server's URL, for AWS_ENDPOINT_URL_KINESIS.
func (k *kinesisServer) endpoint() string { return "http://" + k.ln.Addr().String() }

func (k *kinesisServer) close(ctx context.Context) error {
	return k.srv.Shutdown(ctx)
}

func (k *kinesisServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == controlPath && k.control != nil {
		k.control.ServeHTTP(w, r)
		return
	}
	// Every answer of AWS names its request, and SDKs report it with
	// errors.
	w.Header().Set("x-amzn-RequestId", newRequestID())
	if r.Method != http.MethodPost {
		kinesisError(w, http.StatusMethodNotAllowed, "InvalidAction", "the Kinesis API takes POST requests")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), kinesisTarget)
	if !ok {
		kinesisError(w, http.StatusBadRequest, "UnknownOperationException", "X-Amz-Target must name a Kinesis_20131202 operation")
		return
	}
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "cbor") {
		kinesisError(w, http.StatusBadRequest, "SerializationException", "xflow's local Kinesis speaks AWS JSON 1.1 only; turn CBOR off in the SDK (Java: aws.cborEnabled=false)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKinesisRequest))
	if err != nil {
		kinesisError(w, http.StatusRequestEntityTooLarge, "InvalidArgumentException", "the request is too large")
		return
	}
	var out any
	switch op {
	case "PutRecord":
		var in kinesis.PutRecordInput
		if err = decodeKinesis(body, &in); err == nil {
			var res *kinesis.PutRecordOutput
			if res, err = k.streams.PutRecord(r.Context(), &in); err == nil {
				out = map[string]string{"SequenceNumber": *res.SequenceNumber, "ShardId": shardID, "EncryptionType": "NONE"}
			}
		}
	case "PutRecords":
		var in kinesis.PutRecordsInput
		if err = decodeKinesis(body, &in); err == nil {
			var res *kinesis.PutRecordsOutput
			if res, err = k.streams.PutRecords(r.Context(), &in); err == nil {
				recs := make([]map[string]string, len(res.Records))
				for i, e := range res.Records {
					recs[i] = map[string]string{"SequenceNumber": *e.SequenceNumber, "ShardId": shardID}
				}
				out = map[string]any{"FailedRecordCount": 0, "Records": recs, "EncryptionType": "NONE"}
			}
		}
	case "DescribeStreamSummary", "DescribeStream", "ListShards":
		var in struct{ StreamName, StreamARN *string }
		if err = decodeKinesis(body, &in); err == nil {
			out, err = k.describe(op, in.StreamName, in.StreamARN)
		}
	case "ListStreams":
		var in kinesis.ListStreamsInput
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}") // a request without parameters
		}
		if err = decodeKinesis(body, &in); err == nil {
			out, err = k.listStreams(&in)
		}
	default:
		kinesisError(w, http.StatusBadRequest, "UnknownOperationException", op+" is not supported by xflow's local Kinesis")
		return
	}
	if err != nil {
		var nf *types.ResourceNotFoundException
		var ia *types.InvalidArgumentException
		var ve *types.ValidationException
		switch {
		case errors.As(err, &nf):
			kinesisError(w, http.StatusBadRequest, "ResourceNotFoundException", nf.ErrorMessage())
		case errors.As(err, &ia):
			kinesisError(w, http.StatusBadRequest, "InvalidArgumentException", ia.ErrorMessage())
		case errors.As(err, &ve):
			kinesisError(w, http.StatusBadRequest, "ValidationException", ve.ErrorMessage())
		case errors.Is(err, errSerialization):
			kinesisError(w, http.StatusBadRequest, "SerializationException", err.Error())
		default:
			kinesisError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		}
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

var errSerialization = errors.New("serialization")

// decodeKinesis decodes a request body. The SDK input structs take
// Kinesis's JSON member names case-insensitively and Data ([]byte) from
// base64, which is what the wire format is.
func decodeKinesis(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", errSerialization, err)
	}
	return nil
}

func kinesisError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// shardInfo is the one shard of a local stream.
func shardInfo() map[string]any {
	return map[string]any{
		"ShardId":      shardID,
		"HashKeyRange": map[string]string{"StartingHashKey": "0", "EndingHashKey": "340282366920938463463374607431768211455"},
		"SequenceNumberRange": map[string]string{
			"StartingSequenceNumber": formatSeq(0),
		},
	}
}

func (k *kinesisServer) describe(op string, name, arn *string) (any, error) {
	st, err := k.streams.lookup(name, arn)
	if err != nil {
		return nil, err
	}
	created := float64(k.started.UnixMilli()) / 1000
	desc := map[string]any{
		"StreamName":              st.name,
		"StreamARN":               k.streams.streamARN(st.name),
		"StreamStatus":            "ACTIVE",
		"StreamModeDetails":       map[string]string{"StreamMode": "PROVISIONED"},
		"RetentionPeriodHours":    24,
		"StreamCreationTimestamp": created,
		"EnhancedMonitoring":      []any{map[string]any{"ShardLevelMetrics": []string{}}},
		"EncryptionType":          "NONE",
	}
	switch op {
	case "ListShards":
		return map[string]any{"Shards": []any{shardInfo()}}, nil
	case "DescribeStream":
		desc["Shards"] = []any{shardInfo()}
		desc["HasMoreShards"] = false
		return map[string]any{"StreamDescription": desc}, nil
	}
	desc["OpenShardCount"] = 1
	desc["ConsumerCount"] = 0
	return map[string]any{"StreamDescriptionSummary": desc}, nil
}

// Limits of ListStreams: Limit may be 1 to 10000, and a page holds at
// most 100 streams whatever it asks.
const (
	defaultListStreams = 100
	maxListStreamsArg  = 10000
)

// listStreams answers a page of the stream names, in order, after
// ExclusiveStartStreamName or the NextToken of the previous page.
func (k *kinesisServer) listStreams(in *kinesis.ListStreamsInput) (any, error) {
	limit := defaultListStreams
	if in.Limit != nil {
		n := int(*in.Limit)
		if n < 1 || n > maxListStreamsArg {
			return nil, &types.ValidationException{Message: aws.String(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", n, maxListStreamsArg))}
		}
		limit = min(n, defaultListStreams)
	}
	after := aws.ToString(in.ExclusiveStartStreamName)
	if in.NextToken != nil {
		if after != "" {
			return nil, &types.InvalidArgumentException{Message: aws.String("NextToken and ExclusiveStartStreamName cannot be provided together.")}
		}
		name, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil || len(name) == 0 {
			return nil, &types.InvalidArgumentException{Message: aws.String("the NextToken is not one this API gave")}
		}
		after = string(name)
	}
	names := k.streams.names
	start, _ := slices.BinarySearch(names, after)
	if start < len(names) && names[start] == after {
		start++
	}
	page := names[start:min(start+limit, len(names))]
	more := start+len(page) < len(names)
	sums := []any{}
	for _, n := range page {
		sums = append(sums, map[string]any{
			"StreamName":              n,
			"StreamARN":               k.streams.streamARN(n),
			"StreamStatus":            "ACTIVE",
			"StreamModeDetails":       map[string]string{"StreamMode": "PROVISIONED"},
			"StreamCreationTimestamp": float64(k.started.UnixMilli()) / 1000,
		})
	}
	out := map[string]any{"StreamNames": append([]string{}, page...), "HasMoreStreams": more, "StreamSummaries": sums}
	if more {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1]))
	}
	return out, nil
}

// region and account of the ARNs and of the workers' environment: the
// config's, else AWS's defaults for a machine with no account.
// region is the local workflow's region, as on AWS: the config's (with
// $REGION applied), else $AWS_REGION, else us-east-1. It only shows in
// ARNs and in the handlers' AWS_REGION.
func region(c *config.Config) string {
	return cmp.Or(c.AWS.Region, os.Getenv("AWS_REGION"), "us-east-1")
}

func account(c *config.Config) string {
	if c.AWS.Account != "" {
		return c.AWS.Account
	}
	return "000000000000"
}

// Records returns up to max records of a stream from sequence number
// from (a stream offset; 0 is the oldest): for tests, debugging and
// readers that want the events themselves rather than their tracking.
func (s *Streams) Records(streamName string, from int64, max int) ([]Record, error) {
	st, ok := s.get(streamName)
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Stream %s under account %s not found.", streamName, s.account))}
	}
	r := st.newReadOnlyReader()
	defer r.close()
	return r.read(from, max, 1<<62)
}
