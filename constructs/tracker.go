package constructs

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/trackerbuild"
)

// trackLogGroupEnv tells the tracker Lambda which log group to write.
const trackLogGroupEnv = names.EnvTrackLogGroup

// TrackerBinary is the file the tracker asset folder must hold: the
// provided.al2023 runtime starts the executable named bootstrap.
const TrackerBinary = trackerbuild.Binary

// WorkflowTrackerProps configure a WorkflowTracker.
type WorkflowTrackerProps struct {
	// Tracker is the workflow's tracker as the spec describes it.
	Tracker *spec.Tracker
	// Streams holds, by event name, the stream of every event of the flow.
	Streams map[string]awskinesis.IStream
	// AssetDir is the folder holding the tracker's bootstrap binary
	// (linux/arm64), as BuildTracker returns it. It is packaged whole.
	AssetDir string
	// Prefix is the naming scheme's prefix, which the tracker strips from
	// stream names to get event names.
	Prefix string
	// Role, when set, is the existing role the tracker runs as, used as it
	// is. Nil gives the tracker a role of its own with least privilege.
	Role awsiam.IRole
	// Alarms, when set, watch the tracker function (see Alarms).
	Alarms *Alarms
	// Logs, when set, ships the tracker's own log group and the tracking
	// log group to the central destination.
	Logs LogShipping
}

// WorkflowTracker is one workflow's tracker: a Go Lambda subscribed to
// every stream of the flow that writes each event to the execution's log
// stream in the workflow's tracking log group.
type WorkflowTracker interface {
	constructs.Construct
	Function() awslambda.Function
	// TrackLogGroup is the workflow's tracking log group
	// (/xFlow/track/<workflow_id>).
	TrackLogGroup() awslogs.LogGroup
	// LogGroup is the tracker function's own log group.
	LogGroup() awslogs.LogGroup
	Role() awsiam.IRole
	FailureQueue() awssqs.Queue
	Mappings() []awslambda.CfnEventSourceMapping
	// Alarms are the tracker's alarms; none without props.Alarms.
	Alarms() []awscloudwatch.CfnAlarm
	// LogSubscriptions ship the tracker's log group and the tracking log
	// group; none without props.Logs.
	LogSubscriptions() []awslogs.CfnSubscriptionFilter
}

type workflowTracker struct {
	constructs.Construct
	function      awslambda.Function
	track         awslogs.LogGroup
	logGroup      awslogs.LogGroup
	role          awsiam.IRole
	queue         awssqs.Queue
	mappings      []awslambda.CfnEventSourceMapping
	alarms        []awscloudwatch.CfnAlarm
	subscriptions []awslogs.CfnSubscriptionFilter
}

func (t *workflowTracker) Function() awslambda.Function                { return t.function }
func (t *workflowTracker) TrackLogGroup() awslogs.LogGroup             { return t.track }
func (t *workflowTracker) LogGroup() awslogs.LogGroup                  { return t.logGroup }
func (t *workflowTracker) Role() awsiam.IRole                          { return t.role }
func (t *workflowTracker) FailureQueue() awssqs.Queue                  { return t.queue }
func (t *workflowTracker) Mappings() []awslambda.CfnEventSourceMapping { return t.mappings }
func (t *workflowTracker) Alarms() []awscloudwatch.CfnAlarm            { return t.alarms }
func (t *workflowTracker) LogSubscriptions() []awslogs.CfnSubscriptionFilter {
	return t.subscriptions
}

// NewWorkflowTracker adds a workflow's tracker. Its own role, when it has
// one, allows exactly: reading the flow's streams; creating log streams in
// and writing to the tracking log group and its own log group; and
// delivering to its failure destination. The tracker runs outside any VPC:
// it only talks to Kinesis (through Lambda) and CloudWatch Logs, and a VPC
// without a NAT gateway or endpoints would cut it off.
//
// The tracking log group, like every log group xflow creates, is deleted
// with the stack: it is the history `xflow track` reads, but it expires by
// its retention (7 days by default) anyway, and a retained group would
// block the next deploy of the same workflow. Export it first if an
// execution's history must outlive the stack.
//
// The mappings always report batch item failures, whatever the spec says:
// the tracker returns the records it failed to write so that Lambda
// retries only those. With props.Alarms and props.Logs, the tracker's
// alarms and the subscription filters of both its log groups are created
// here too.
func NewWorkflowTracker(scope constructs.Construct, id string, props *WorkflowTrackerProps) (WorkflowTracker, error) {
	if props == nil || props.Tracker == nil {
		return nil, fmt.Errorf("tracker %s: no tracker in props", id)
	}
	t := props.Tracker
	if err := t.Validate(); err != nil {
		return nil, err
	}
	streams, err := streamsOf(props.Streams, t.Events, "tracker "+t.Name+":")
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Join(props.AssetDir, TrackerBinary)); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("tracker %s: asset folder %q holds no %s binary (build it with BuildTracker)", t.Name, props.AssetDir, TrackerBinary)
	}

	this := &workflowTracker{}
	constructs.NewConstruct_Override(this, scope, &id)
	if this.track, err = newLogGroup(this, "TrackLogGroup", t.LogGroup, t.LogRetentionDays); err != nil {
		return nil, fmt.Errorf("tracker %s: %w", t.Name, err)
	}
	if this.logGroup, err = newLogGroup(this, "LogGroup", names.FunctionLogGroup(t.Name), t.LogRetentionDays); err != nil {
		return nil, fmt.Errorf("tracker %s: %w", t.Name, err)
	}
	mapping := t.Mapping
	mapping.ReportBatchItemFailures = true
	dest := &destinations{scope: this}
	target, err := dest.of(mapping)
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", t.Name, err)
	}
	this.queue = dest.queue

	this.role = props.Role
	if this.role == nil {
		p := &policy{}
		p.allow(logWriteActions, this.track.LogGroupArn(), this.logGroup.LogGroupArn())
		p.allow(streamReadActions, streamArns(streams)...)
		dest.grant(p)
		if t.Tracing {
			p.allowAll(xrayActions)
		}
		this.role = newRole(this, "xflow: execution role of the tracker "+t.Name, p)
	}

	memory, timeout := t.MemoryMB, t.TimeoutSeconds
	if memory == 0 {
		memory = spec.TrackerMemoryMB
	}
	if timeout == 0 {
		timeout = spec.TrackerTimeoutSeconds
	}
	env := map[string]string{trackLogGroupEnv: t.LogGroup}
	if props.Prefix != "" {
		env[names.EnvPrefix] = props.Prefix
	}
	this.function = awslambda.NewFunction(this, jsii.String("Function"), &awslambda.FunctionProps{
		FunctionName: jsii.String(t.Name),
		Description:  jsii.String("xflow: tracks the executions of the workflow " + t.Workflow + " in " + t.LogGroup),
		Handler:      jsii.String(TrackerBinary),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: memoized(&memo.archs, spec.ArchARM, awslambda.Architecture_ARM_64),
		Code:         awslambda.Code_FromAsset(jsii.String(props.AssetDir), nil),
		MemorySize:   jsii.Number(memory),
		Timeout:      durationSeconds(timeout),
		Environment:  environment(env),
		LogGroup:     this.logGroup,
		Role:         this.role,
	})
	if props.Role == nil {
		ownRoleDependency(this.function)
	}
	if t.Tracing {
		activeTracing(this.function)
	}

	fnName := this.function.FunctionName()
	for i, e := range t.Events {
		this.mappings = append(this.mappings,
			subscribe(this, "Subscription-"+e, fnName, streams[i], mapping, target))
	}
	this.alarms = props.Alarms.watch(this, watched{
		function: t.Name, subscribed: len(t.Events) > 0, queue: dest.queue, external: dest.external,
	})
	if props.Logs != nil {
		this.subscriptions = []awslogs.CfnSubscriptionFilter{
			props.Logs.Subscribe(this, "LogSubscription", this.logGroup, names.FunctionLogGroup(t.Name)),
			props.Logs.Subscribe(this, "TrackLogSubscription", this.track, t.LogGroup),
		}
	}
	return this, nil
}
