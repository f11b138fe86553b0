package constructs

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
)

// The actions each kind of access needs, in one place so that the tests can
// hold every generated policy to them.
var (
	// streamReadActions are what Lambda's event source mapping needs to read
	// a Kinesis stream with the function's role.
	streamReadActions = []string{
		"kinesis:DescribeStream",
		"kinesis:DescribeStreamSummary",
		"kinesis:GetRecords",
		"kinesis:GetShardIterator",
		"kinesis:ListShards",
		"kinesis:SubscribeToShard",
	}
	// streamWriteActions publish an event.
	streamWriteActions = []string{"kinesis:PutRecord", "kinesis:PutRecords"}
	// logWriteActions write to a log group that exists: xflow creates every
	// log group itself, so no function may create one.
	logWriteActions = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	// queueSendActions and topicPublishActions deliver a failed batch's
	// description to an on-failure destination.
	queueSendActions    = []string{"sqs:SendMessage"}
	topicPublishActions = []string{"sns:Publish"}
	// bucketListActions and bucketPutActions deliver a failed batch, whole,
	// to the stack's failure bucket: what Lambda's documentation asks of
	// the execution role for an S3 on-failure destination.
	bucketListActions = []string{"s3:ListBucket"}
	bucketPutActions  = []string{"s3:PutObject"}

	// logsToKinesisActions and logsToFirehoseActions are what CloudWatch
	// Logs needs to deliver a subscription filter to a Kinesis stream or a
	// Firehose delivery stream, with the role xflow gives it.
	logsToKinesisActions  = streamWriteActions
	logsToFirehoseActions = []string{"firehose:PutRecord", "firehose:PutRecordBatch"}

	// vpcActions are what Lambda needs to manage a function's network
	// interfaces in a VPC: AWSLambdaVPCAccessExecutionRole without its log
	// actions. They are the only actions granted on Resource "*": EC2's
	// Describe actions accept no narrower resource, and Lambda's
	// documentation warns that a function may lose VPC access when the
	// other actions are scoped to resource ids it cannot know in advance
	// (the interfaces Lambda will create).
	vpcActions = []string{
		"ec2:CreateNetworkInterface",
		"ec2:DescribeNetworkInterfaces",
		"ec2:DescribeSubnets",
		"ec2:DeleteNetworkInterface",
		"ec2:AssignPrivateIpAddresses",
		"ec2:UnassignPrivateIpAddresses",
	}

	// xrayActions are what Lambda's active tracing needs of the function's
	// role: what the CDK's Tracing.ACTIVE grants. X-Ray's PutTraceSegments
	// and PutTelemetryRecords accept no resource but "*".
	xrayActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)

// wildcardAllowed tells whether an action may be granted on Resource "*".
func wildcardAllowed(action string) bool {
	return slices.Contains(vpcActions, action) || slices.Contains(xrayActions, action)
}

// policy collects the statements of one function's own role. Each allow
// names its resources; nothing is granted on "*" except vpcActions and
// xrayActions.
//
// The statements are plain values, turned into the CDK's PolicyDocument in
// one call (PolicyDocument.fromJson), which renders them exactly as
// PolicyStatement objects would, for one round trip to the CDK instead of
// one per statement and one for the document.
type policy struct {
	statements []map[string]any
}

func (p *policy) allow(actions []string, resources ...*string) {
	if len(resources) == 0 {
		return
	}
	p.statements = append(p.statements, map[string]any{
		"Effect":   "Allow",
		"Action":   actions,
		"Resource": resources,
	})
}

func (p *policy) allowVPC() { p.allowAll(vpcActions) }

// allowAll grants actions on Resource "*": only for those wildcardAllowed
// accepts, which take no narrower resource.
func (p *policy) allowAll(actions []string) {
	p.statements = append(p.statements, map[string]any{
		"Effect":   "Allow",
		"Action":   actions,
		"Resource": []string{"*"},
	})
}

func (p *policy) document() awsiam.PolicyDocument {
	return awsiam.PolicyDocument_FromJson(map[string]any{
		"Version":   "2012-10-17",
		"Statement": p.statements,
	})
}
