package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// What Steps and WorkflowTrackers share: their log groups, roles, failure
// destinations and event source mappings.

// retentionDays maps the retention periods CloudWatch Logs accepts (the
// spec's LogRetentionDays) to the CDK's names for them.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// newLogGroup creates a log group with a fixed name. It is deleted with the
// stack (the CDK default is to retain it): its contents expire by
// retention anyway, and a retained log group keeps its name, so the next
// deploy of the same config would fail with "already exists".
func newLogGroup(scope constructs.Construct, id, name string, days int) (awslogs.LogGroup, error) {
	retention, ok := retentionDays[days]
	if !ok {
		return nil, fmt.Errorf("log group %s: %d days is not a retention CloudWatch Logs accepts", name, days)
	}
	return awslogs.NewLogGroup(scope, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(name),
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	}), nil
}

// newRole creates a function's own execution role: no managed policy, only
// the statements of p, inline. Inline keeps the role one resource (a
// separate AWS::IAM::Policy would double the count, and stacks are capped
// at 500 resources) and makes the function wait for its permissions,
// since the function depends on the role.
func newRole(scope constructs.Construct, description string, p *policy) awsiam.Role {
	return awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:      lambdaPrincipal(),
		Description:    jsii.String(description),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"xflow": p.document()},
	})
}

// ownRoleDependency explains to cfn-lint why a function that runs as its
// own role both GetAtt's the role and DependsOn it (warning W3005). The CDK
// adds the DependsOn on the role construct, which also covers any policy a
// user later adds to the role (a separate AWS::IAM::Policy), so that the
// function never starts without its permissions. It is kept, and the
// warning acknowledged on the function alone.
func ownRoleDependency(fn awslambda.Function) {
	fn.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String("cfn-lint"), map[string]any{
		"config": map[string]any{"ignore_checks": []string{"W3005"}},
	})
}

// destinations resolves the on-failure destinations of one function's
// subscriptions. The failure queue is created on first use and shared by
// all of the function's subscriptions; the failure bucket is the stack's,
// given by the caller.
type destinations struct {
	scope    constructs.Construct
	queue    awssqs.Queue
	queueArn *string
	queues   []*string // ARNs of SQS destinations, the own queue included
	topics   []*string // ARNs of SNS destinations
	// external tells whether a subscription sends failures to an ARN.
	external bool
	// bucket is the stack's failure bucket (nil when it has none);
	// bucketUsed tells whether a subscription sends failures to it.
	bucket     awss3.IBucket
	bucketUsed bool
}

// of returns the ARN failed batches of m go to, or nil for none.
func (d *destinations) of(m spec.Mapping) (*string, error) {
	switch m.OnFailure {
	case spec.OnFailureNone:
		return nil, nil
	case spec.OnFailureARN:
		service, err := spec.DestinationService(m.OnFailureTarget)
		if err != nil {
			return nil, err
		}
		arn := jsii.String(m.OnFailureTarget)
		d.external = true
		if service == "sns" {
			d.topics = appendNew(d.topics, arn)
		} else {
			d.queues = appendNew(d.queues, arn)
		}
		return arn, nil
	case spec.OnFailureBucket:
		if d.bucket == nil {
			return nil, fmt.Errorf("on_failure %s: no failure bucket given (props.FailureBucket)", spec.OnFailureBucket)
		}
		d.bucketUsed = true
		return d.bucket.BucketArn(), nil
	case spec.OnFailureQueue, "":
		if d.queue == nil {
			// SQS-managed encryption (SSE-SQS) costs nothing and, unlike a
			// KMS key, needs no permission for Lambda to send. EnforceSSL
			// adds the queue policy that denies every request not made
			// over TLS (aws:SecureTransport false; AwsSolutions-SQS4).
			d.queue = awssqs.NewQueue(d.scope, jsii.String("FailureQueue"), &awssqs.QueueProps{
				Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
				RetentionPeriod: durationDays(spec.FailureRetentionDays),
				EnforceSSL:      jsii.Bool(true),
			})
			d.queueArn = d.queue.QueueArn()
			d.queues = append(d.queues, d.queueArn)
		}
		return d.queueArn, nil
	}
	return nil, fmt.Errorf("on_failure %q is not one of %s, %s, %s, %s", m.OnFailure, spec.OnFailureQueue, spec.OnFailureBucket, spec.OnFailureARN, spec.OnFailureNone)
}

// grant lets the function's role deliver to the destinations. For the
// bucket, Lambda needs to list it and to put objects in it (and no more:
// reading and deleting failure records is for xflow redrive, with the
// user's credentials).
func (d *destinations) grant(p *policy) {
	p.allow(queueSendActions, d.queues...)
	p.allow(topicPublishActions, d.topics...)
	if d.bucketUsed {
		p.allow(bucketListActions, d.bucket.BucketArn())
		p.allow(bucketPutActions, d.bucket.ArnForObjects(jsii.String("*")))
	}
}

// activeTracing turns on Lambda's X-Ray active tracing of fn. It sets the
// L1 property rather than the L2 Tracing prop, which would add the
// permission to write traces as a separate AWS::IAM::Policy: xflow keeps
// each role's permissions inline, in one resource, so the caller grants
// xrayActions in its role's policy. An existing role is used as it is: it
// must allow them.
func activeTracing(fn awslambda.Function) {
	fn.Node().DefaultChild().(awslambda.CfnFunction).SetTracingConfig(&awslambda.CfnFunction_TracingConfigProperty{Mode: jsii.String("Active")})
}

func appendNew(list []*string, s *string) []*string {
	for _, x := range list {
		if *x == *s {
			return list
		}
	}
	return append(list, s)
}

// subscribe creates the event source mapping of fn on stream. It is the L1
// resource on purpose: every setting is written out, and no permission is
// granted behind the policy's back (the L2 sources grant more than a
// mapping needs, e.g. sqs:GetQueueAttributes on the failure queue).
func subscribe(scope constructs.Construct, id string, fnName *string, stream awskinesis.IStream, m spec.Mapping, onFailure *string) awslambda.CfnEventSourceMapping {
	parallelization := m.ParallelizationFactor
	if parallelization == 0 {
		parallelization = 1
	}
	props := &awslambda.CfnEventSourceMappingProps{
		FunctionName:               fnName,
		EventSourceArn:             streamArnOf(stream),
		BatchSize:                  jsii.Number(m.BatchSize),
		StartingPosition:           jsii.String(m.StartingPosition),
		MaximumRetryAttempts:       jsii.Number(m.RetryAttempts),
		MaximumRecordAgeInSeconds:  jsii.Number(m.MaxRecordAgeSeconds),
		BisectBatchOnFunctionError: jsii.Bool(m.BisectOnError),
		ParallelizationFactor:      jsii.Number(parallelization),
	}
	if m.BatchWindowSeconds > 0 {
		props.MaximumBatchingWindowInSeconds = jsii.Number(m.BatchWindowSeconds)
	}
	if m.ReportBatchItemFailures {
		props.FunctionResponseTypes = jsii.Strings("ReportBatchItemFailures")
	}
	if onFailure != nil {
		props.DestinationConfig = &awslambda.CfnEventSourceMapping_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventSourceMapping_OnFailureProperty{Destination: onFailure},
		}
	}
	return awslambda.NewCfnEventSourceMapping(scope, jsii.String(id), props)
}

// streamsOf looks up the streams of events, in order.
func streamsOf(streams map[string]awskinesis.IStream, events []string, what string) ([]awskinesis.IStream, error) {
	out := make([]awskinesis.IStream, len(events))
	for i, e := range events {
		s, ok := streams[e]
		if !ok || s == nil {
			return nil, fmt.Errorf("%s event %q: no stream for it in props.Streams", what, e)
		}
		out[i] = s
	}
	return out, nil
}

func streamArns(streams []awskinesis.IStream) []*string {
	var arns []*string
	for _, s := range streams {
		arns = append(arns, streamArnOf(s))
	}
	return arns
}

func optionalNumber(n int) *float64 {
	if n == 0 {
		return nil
	}
	return jsii.Number(n)
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}

func environment(env map[string]string) *map[string]*string {
	if len(env) == 0 {
		return nil
	}
	out := make(map[string]*string, len(env))
	for k, v := range env {
		out[k] = jsii.String(v)
	}
	return &out
}
