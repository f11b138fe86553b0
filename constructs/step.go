package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// StepProps configure a Step.
type StepProps struct {
	// Function is the config lambda as the spec describes it.
	Function *spec.Function
	// Streams holds, by event name, the stream of every event the function
	// subscribes to or emits. They may live in another stack.
	Streams map[string]awskinesis.IStream
	// Role, when set, is the existing role the function runs as; it is used
	// as it is, and no permission is added to it, so it must already allow
	// what NewStep lists (with an xflow failure queue, sqs:SendMessage on a
	// queue whose name CloudFormation generates). Nil gives the function a
	// role of its own with least privilege.
	Role awsiam.IRole
	// Network, when set, places the function in a VPC.
	Network *Network
	// Alarms, when set, watch the function (see Alarms).
	Alarms *Alarms
	// Logs, when set, ships the function's log group to the central
	// destination.
	Logs LogShipping
	// FailureBucket is the stack's failure bucket (NewFailureBucket), for
	// the subscriptions whose on_failure is bucket; required by them.
	FailureBucket awss3.IBucket
}

// Step is one config lambda: its function, its log group, its role and one
// event source mapping per subscription.
type Step interface {
	constructs.Construct
	Function() awslambda.Function
	LogGroup() awslogs.LogGroup
	Role() awsiam.IRole
	// FailureQueue receives the description of batches that failed for
	// good; nil when no subscription uses xflow's queue.
	FailureQueue() awssqs.Queue
	Mappings() []awslambda.CfnEventSourceMapping
	// Alarms are the function's alarms; none without props.Alarms.
	Alarms() []awscloudwatch.CfnAlarm
	// LogSubscription ships the log group; nil without props.Logs.
	LogSubscription() awslogs.CfnSubscriptionFilter
}

type step struct {
	constructs.Construct
	function     awslambda.Function
	logGroup     awslogs.LogGroup
	role         awsiam.IRole
	queue        awssqs.Queue
	mappings     []awslambda.CfnEventSourceMapping
	alarms       []awscloudwatch.CfnAlarm
	subscription awslogs.CfnSubscriptionFilter
}

func (s *step) Function() awslambda.Function                { return s.function }
func (s *step) LogGroup() awslogs.LogGroup                  { return s.logGroup }
func (s *step) Role() awsiam.IRole                          { return s.role }
func (s *step) FailureQueue() awssqs.Queue                  { return s.queue }
func (s *step) Mappings() []awslambda.CfnEventSourceMapping { return s.mappings }
func (s *step) Alarms() []awscloudwatch.CfnAlarm            { return s.alarms }
func (s *step) LogSubscription() awslogs.CfnSubscriptionFilter {
	return s.subscription
}

// NewStep adds a config lambda. Its own role, when it has one, allows
// exactly: writing its own log group; reading the streams it subscribes
// to; writing the streams it emits; delivering to its failure
// destinations; in a VPC, managing its network interfaces; and with
// tracing, writing to X-Ray.
//
// The function's log group is created here, with the spec's retention, so
// that Lambda never creates one that lives forever. With props.Alarms and
// props.Logs, the function's alarms and its log group's subscription
// filter are created here too, beside it in its stack.
func NewStep(scope constructs.Construct, id string, props *StepProps) (Step, error) {
	if props == nil || props.Function == nil {
		return nil, fmt.Errorf("step %s: no function in props", id)
	}
	f := props.Function
	if err := f.Validate(); err != nil {
		return nil, err
	}
	subscribed := make([]string, len(f.Subscriptions))
	for i, s := range f.Subscriptions {
		subscribed[i] = s.Event
	}
	reads, err := streamsOf(props.Streams, subscribed, "function "+f.Name+": subscribed")
	if err != nil {
		return nil, err
	}
	writes, err := streamsOf(props.Streams, f.Emits, "function "+f.Name+": emitted")
	if err != nil {
		return nil, err
	}
	arch, err := lambdaArchitecture(f.Architecture)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name, err)
	}

	this := &step{}
	constructs.NewConstruct_Override(this, scope, &id)
	code, err := lambdaCode(this, f.Code)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name, err)
	}
	this.logGroup, err = newLogGroup(this, "LogGroup", names.FunctionLogGroup(f.Name), f.LogRetentionDays)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", f.Name, err)
	}
	dest := &destinations{scope: this, bucket: props.FailureBucket}
	targets := make([]*string, len(f.Subscriptions))
	for i, s := range f.Subscriptions {
		if targets[i], err = dest.of(s.Mapping); err != nil {
			return nil, fmt.Errorf("function %s: subscription to %s: %w", f.Name, s.Event, err)
		}
	}
	this.queue = dest.queue

	this.role = props.Role
	var p *policy
	if this.role == nil {
		p = &policy{}
		p.allow(logWriteActions, this.logGroup.LogGroupArn())
		p.allow(streamReadActions, streamArns(reads)...)
		p.allow(streamWriteActions, streamArns(writes)...)
		dest.grant(p)
		if props.Network != nil {
			p.allowVPC()
		}
		if f.Tracing {
			p.allowAll(xrayActions)
		}
		this.role = newRole(this, "xflow: execution role of the Lambda function "+f.Name, p)
	}

	fp := &awslambda.FunctionProps{
		FunctionName: jsii.String(f.Name),
		Description:  optionalString(f.Description),
		Handler:      jsii.String(f.Handler),
		Runtime:      lambdaRuntime(f.Runtime),
		Architecture: arch,
		Code:         code,
		MemorySize:   optionalNumber(f.MemoryMB),
		Environment:  environment(f.Environment),
		LogGroup:     this.logGroup,
		Role:         this.role,
	}
	if f.TimeoutSeconds > 0 {
		fp.Timeout = durationSeconds(f.TimeoutSeconds)
	}
	if n := props.Network; n != nil {
		fp.Vpc = n.vpc
		if fp.Vpc == nil { // a Network not made by ImportNetwork
			fp.Vpc = placeholderVPC(this)
		}
		fp.VpcSubnets = &awsec2.SubnetSelection{Subnets: &n.Subnets}
		fp.SecurityGroups = &n.SecurityGroups
	}
	this.function = awslambda.NewFunction(this, jsii.String("Function"), fp)
	if props.Role == nil {
		ownRoleDependency(this.function)
	}
	if f.Tracing {
		activeTracing(this.function)
	}

	var fnName *string
	if len(f.Subscriptions) > 0 {
		fnName = this.function.FunctionName()
	}
	for i, s := range f.Subscriptions {
		this.mappings = append(this.mappings,
			subscribe(this, "Subscription-"+s.Event, fnName, reads[i], s.Mapping, targets[i]))
	}
	this.alarms = props.Alarms.watch(this, watched{
		function: f.Name, subscribed: len(f.Subscriptions) > 0, queue: dest.queue, external: dest.external || dest.bucketUsed,
	})
	if props.Logs != nil {
		this.subscription = props.Logs.Subscribe(this, "LogSubscription", this.logGroup, names.FunctionLogGroup(f.Name))
	}
	return this, nil
}
