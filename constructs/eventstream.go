package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// EventStreamProps configure an EventStream.
type EventStreamProps struct {
	// Stream is the event's stream as the spec describes it.
	Stream *spec.Stream
}

// EventStream is the Kinesis stream that carries one event.
type EventStream interface {
	constructs.Construct
	// Event is the name of the event the stream carries.
	Event() string
	// Stream is the Kinesis stream, to hand to the steps and trackers that
	// read or write it (in this stack or another one).
	Stream() awskinesis.IStream
}

type eventStream struct {
	constructs.Construct
	event  string
	stream awskinesis.Stream
}

func (e *eventStream) Event() string              { return e.event }
func (e *eventStream) Stream() awskinesis.IStream { return e.stream }

// NewEventStream adds an event's stream: provisioned capacity (on-demand
// streams are capped at 50 per account, and a workflow has one stream per
// event), encrypted with the AWS-managed Kinesis key.
//
// Encryption is set explicitly (MANAGED, not the CDK default) so that the
// template needs no condition on the regions where Kinesis encryption is
// unsupported, and so that no customer-managed key (and its monthly cost
// and key policy) is created per stream. The AWS-managed key's policy lets
// every principal of the account use it through Kinesis, so neither
// producers nor consumers need a KMS permission.
//
// The stream is deleted with the stack (RemovalPolicy DESTROY, unlike the
// CDK's RETAIN default). The stream is a transport, not a store: its
// records expire after the retention period anyway, and the durable record
// of every execution is the tracker's log group. A retained stream keeps
// its fixed name (the event's) and its shard-hour cost after `cdk destroy`,
// and makes the next deploy of the same config fail because the name is
// taken. Drain a stream before deleting its stack if its last records
// matter.
func NewEventStream(scope constructs.Construct, id string, props *EventStreamProps) (EventStream, error) {
	if props == nil || props.Stream == nil {
		return nil, fmt.Errorf("event stream %s: no stream in props", id)
	}
	s := props.Stream
	shards := s.Shards
	if shards == 0 {
		shards = spec.DefaultShards
	}
	hours := s.RetentionHours
	if hours == 0 {
		hours = spec.DefaultRetentionHours
	}
	this := &eventStream{event: s.Event}
	constructs.NewConstruct_Override(this, scope, &id)
	this.stream = awskinesis.NewStream(this, jsii.String("Stream"), &awskinesis.StreamProps{
		StreamName:      jsii.String(s.Name),
		StreamMode:      awskinesis.StreamMode_PROVISIONED,
		ShardCount:      jsii.Number(shards),
		RetentionPeriod: durationHours(hours),
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RemovalPolicy:   awscdk.RemovalPolicy_DESTROY,
	})
	return this, nil
}
