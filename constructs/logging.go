package constructs

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// logsPrincipal is the service that delivers subscription filters.
const logsPrincipal = "logs.amazonaws.com"

// LogShippingProps configure a LogShipping.
type LogShippingProps struct {
	// Logging is the destination and filter pattern.
	Logging *spec.Logging
	// Prefix is the naming scheme's prefix: a Lambda destination may be
	// invoked for the log groups whose names start with it.
	Prefix string
}

// LogShipping delivers the log groups of one stack to the central
// destination. It holds what the destination needs once per stack: the
// role CloudWatch Logs assumes to write to a Kinesis or Firehose stream, or
// the permissions for CloudWatch Logs to invoke a Lambda function. Each
// stack has its own, so that nothing refers to another stack.
type LogShipping interface {
	constructs.Construct
	// Subscribe adds, under scope, the subscription filter that ships
	// logGroup, named name, to the destination.
	Subscribe(scope constructs.Construct, id string, logGroup awslogs.ILogGroup, name string) awslogs.CfnSubscriptionFilter
	// Role is the role CloudWatch Logs assumes; nil for a Lambda
	// destination.
	Role() awsiam.IRole
}

type logShipping struct {
	constructs.Construct
	logging     *spec.Logging
	kind        string
	prefix      string
	destination *string
	role        awsiam.Role
	roleArn     *string
	permissions map[string]awslambda.CfnPermission // by log group pattern
}

func (l *logShipping) Role() awsiam.IRole {
	if l.role == nil {
		return nil
	}
	return l.role
}

// NewLogShipping adds what a stack needs to ship log groups to the spec's
// destination.
//
// For a Kinesis or Firehose destination: a role that only CloudWatch Logs
// of this account and region may assume (aws:SourceArn, as AWS documents
// for subscription filters), allowed to put records on that destination
// only. For a Lambda destination: no role; the first Subscribe of each
// kind of log group adds a permission for CloudWatch Logs to invoke the
// function, limited to this account (SourceAccount) and to the log groups
// of that kind whose names carry the prefix (SourceArn), one permission
// for every log group of the stack, since a function's resource policy is
// capped at 20 KB.
func NewLogShipping(scope constructs.Construct, id string, props *LogShippingProps) (LogShipping, error) {
	if props == nil || props.Logging == nil {
		return nil, fmt.Errorf("log shipping %s: no logging in props", id)
	}
	kind, err := spec.LogDestinationKind(props.Logging.DestinationARN)
	if err != nil {
		return nil, fmt.Errorf("log shipping %s: %w", id, err)
	}
	this := &logShipping{
		logging:     props.Logging,
		kind:        kind,
		prefix:      props.Prefix,
		destination: jsii.String(props.Logging.DestinationARN),
		permissions: map[string]awslambda.CfnPermission{},
	}
	constructs.NewConstruct_Override(this, scope, &id)
	if kind == spec.LogToLambda {
		return this, nil
	}
	actions := logsToKinesisActions
	if kind == spec.LogToFirehose {
		actions = logsToFirehoseActions
	}
	p := &policy{}
	p.allow(actions, this.destination)
	this.role = awsiam.NewRole(this, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String(logsPrincipal), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringLike": map[string]any{"aws:SourceArn": logsSourceArn("*")},
			},
		}),
		Description:    jsii.String("xflow: lets CloudWatch Logs deliver log groups to " + props.Logging.DestinationARN),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"xflow": p.document()},
	})
	this.roleArn = this.role.RoleArn()
	return this, nil
}

// logsSourceArn is the ARN of CloudWatch Logs resources of the deploying
// account and region whose resource part matches pattern.
func logsSourceArn(pattern string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"+pattern), nil)
}

func (l *logShipping) Subscribe(scope constructs.Construct, id string, logGroup awslogs.ILogGroup, name string) awslogs.CfnSubscriptionFilter {
	props := &awslogs.CfnSubscriptionFilterProps{
		DestinationArn: l.destination,
		FilterPattern:  jsii.String(l.logging.FilterPattern),
		LogGroupName:   logGroup.LogGroupName(),
	}
	if l.roleArn != nil {
		props.RoleArn = l.roleArn
	}
	filter := awslogs.NewCfnSubscriptionFilter(scope, jsii.String(id), props)
	if l.kind == spec.LogToLambda {
		// CloudWatch Logs tests the destination when the filter is
		// created: the permission must exist by then.
		filter.AddResourceDependency(l.permission(name), jsii.String("xflow: CloudWatch Logs must be allowed to invoke the destination first"))
	}
	return filter
}

// permission returns the Lambda permission that covers the log group
// named name, creating it on first use: one for the functions' log groups
// (/aws/lambda/<prefix>*), one for the tracking log groups
// (/xFlow/track/<prefix>*), and one per log group for any other.
func (l *logShipping) permission(name string) awslambda.CfnPermission {
	var id, pattern string
	switch fns := names.FunctionLogGroup(""); {
	case strings.HasPrefix(name, fns+l.prefix):
		id, pattern = "FunctionLogs", fns+l.prefix+"*"
	case strings.HasPrefix(name, names.TrackerLogGroupRoot+l.prefix):
		id, pattern = "TrackLogs", names.TrackerLogGroupRoot+l.prefix+"*"
	default:
		id, pattern = "LogGroup-"+strings.ReplaceAll(name, "/", "_"), name+":*"
	}
	if p, ok := l.permissions[pattern]; ok {
		return p
	}
	p := awslambda.NewCfnPermission(l, jsii.String("Permission-"+id), &awslambda.CfnPermissionProps{
		Action:        jsii.String("lambda:InvokeFunction"),
		FunctionName:  l.destination,
		Principal:     jsii.String(logsPrincipal),
		SourceAccount: awscdk.Aws_ACCOUNT_ID(),
		SourceArn:     logsSourceArn("log-group:" + pattern),
	})
	l.permissions[pattern] = p
	return p
}
