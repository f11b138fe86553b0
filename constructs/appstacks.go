package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// appBuilder creates the stacks of a layout, in order.
type appBuilder struct {
	app    awscdk.App
	spec   *spec.Spec
	opts   AppOptions
	layout *Layout

	stacks  []awscdk.Stack
	byName  map[string]awscdk.Stack
	current string // the stack being built, for error messages
	// streams are the EventStreams built so far, by event; used as they
	// are in their own stack (and in the single stack of a small spec).
	streams     map[string]awskinesis.IStream
	streamStack map[string]string
	// topic is the alarm topic xflow creates, in the first stack.
	topic      AlarmTopic
	topicStack string
}

func (b *appBuilder) build() error {
	b.streams = map[string]awskinesis.IStream{}
	b.streamStack = map[string]string{}
	for n, plan := range b.layout.Stacks {
		b.current = plan.Name
		stack := b.newStack(plan)
		for _, d := range plan.DependsOn {
			stack.AddStackDependency(b.byName[d], jsii.String("xflow: deploy order"))
		}
		// The first stack is the config's root stack, the one every other
		// stack deploys after: the alarm topic lives there (PlanStacks
		// counts it there).
		if m := b.spec.Monitoring; n == 0 && m != nil && m.TopicName != "" {
			topic, err := NewAlarmTopic(stack, "AlarmTopic", &AlarmTopicProps{Monitoring: m})
			if err != nil {
				return err
			}
			b.topic, b.topicStack = topic, plan.Name
		}
		for _, i := range plan.Streams {
			es, err := NewEventStream(stack, "Stream-"+b.spec.Streams[i].Event, &EventStreamProps{Stream: &b.spec.Streams[i]})
			if err != nil {
				return err
			}
			b.streams[es.Event()] = es.Stream()
			b.streamStack[es.Event()] = plan.Name
		}
		if len(plan.Functions) == 0 && len(plan.Trackers) == 0 {
			continue
		}
		streams := b.streamsFor(stack, plan.Name)
		var role awsiam.IRole
		if b.spec.RoleName != "" {
			role = awsiam.Role_FromRoleName(stack, jsii.String("ExecutionRole"), jsii.String(b.spec.RoleName),
				&awsiam.FromRoleNameOptions{Mutable: jsii.Bool(false)})
		}
		alarms := b.alarmsFor(plan.Name)
		var logs LogShipping
		if b.spec.Logging != nil {
			var err error
			if logs, err = NewLogShipping(stack, "LogShipping", &LogShippingProps{Logging: b.spec.Logging, Prefix: b.spec.Prefix}); err != nil {
				return err
			}
		}
		if len(plan.Functions) > 0 {
			network := ImportNetwork(stack, "Network", b.spec.VPC)
			bucket := failureBucketFor(stack, b.spec, plan)
			for _, i := range plan.Functions {
				f := &b.spec.Functions[i]
				if _, err := NewStep(stack, "Step-"+functionKey(f), &StepProps{
					Function: f, Streams: streams, Role: role, Network: network, Alarms: alarms, Logs: logs,
					FailureBucket: bucket,
				}); err != nil {
					return err
				}
			}
		}
		for _, i := range plan.Trackers {
			t := &b.spec.Trackers[i]
			if _, err := NewWorkflowTracker(stack, "Tracker-"+workflowKey(t), &WorkflowTrackerProps{
				Tracker: t, Streams: streams, AssetDir: b.opts.TrackerAssetDir, Prefix: b.spec.Prefix, Role: role,
				Alarms: alarms, Logs: logs,
			}); err != nil {
				return err
			}
			if err := b.dashboard(stack, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// failureBucketFor adds a stack's failure bucket when one of its functions
// sends failures to it (on_failure: bucket): one per stack, shared by its
// functions, so that a config does not make a bucket per function. Nil
// when none does.
func failureBucketFor(stack awscdk.Stack, s *spec.Spec, plan StackPlan) awss3.IBucket {
	for _, i := range plan.Functions {
		for _, sub := range s.Functions[i].Subscriptions {
			if sub.OnFailure == spec.OnFailureBucket {
				return NewFailureBucket(stack, failureBucketID)
			}
		}
	}
	return nil
}

// alarmsFor returns how the functions of a stack are watched, nil without
// monitoring. The alarms reach the topic xflow creates by reference in its
// own stack, and by its deterministic ARN from the others, which deploy
// after it: no export.
func (b *appBuilder) alarmsFor(stack string) *Alarms {
	m := b.spec.Monitoring
	switch {
	case m == nil:
		return nil
	case m.TopicARN != "":
		return &Alarms{Monitoring: m, Topic: jsii.String(m.TopicARN)}
	case b.topic != nil && b.topicStack == stack:
		return &Alarms{Monitoring: m, Topic: b.topic.TopicArn()}
	}
	return &Alarms{Monitoring: m, Topic: awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"+m.TopicName), nil)}
}

// dashboard adds the dashboard of a tracker's workflow beside it, when
// monitoring asks for dashboards.
func (b *appBuilder) dashboard(stack awscdk.Stack, t *spec.Tracker) error {
	s := b.spec
	if s.Monitoring == nil || !s.Monitoring.Dashboards {
		return nil
	}
	region := s.Region
	if region == "" {
		region = regionRef
	}
	props := &WorkflowDashboardProps{
		Name:               names.Dashboard(s.StackName, t.Workflow, region),
		Workflow:           t.Workflow,
		Region:             region,
		Tracker:            t.Name,
		TrackLogGroup:      t.LogGroup,
		Events:             t.Events,
		PeriodSeconds:      s.Monitoring.PeriodSeconds,
		ErrorThreshold:     s.Monitoring.ErrorThreshold,
		IteratorAgeSeconds: s.Monitoring.IteratorAgeSeconds,
	}
	for _, f := range workflowFunctions(s, t) {
		props.Functions = append(props.Functions, f.Name)
	}
	for _, e := range t.Events {
		for _, st := range s.Streams {
			if st.Event == e {
				props.Streams = append(props.Streams, st.Name)
			}
		}
	}
	_, err := NewWorkflowDashboard(stack, "Dashboard-"+workflowKey(t), props)
	return err
}

func (b *appBuilder) newStack(plan StackPlan) awscdk.Stack {
	s := b.spec
	description := "xflow workflow configuration " + s.StackName + ": event streams, functions, subscriptions and trackers"
	if plan.Kind != StackAll {
		description = fmt.Sprintf("xflow workflow configuration %s: %s (part %q of the split)", s.StackName, plan.Kind, plan.Bucket)
	}
	stack := awscdk.NewStack(b.app, jsii.String(plan.Name), &awscdk.StackProps{
		StackName:   jsii.String(plan.Name),
		Description: jsii.String(description),
		Env:         stackEnvironment(s.Region, s.Account),
		Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
			GenerateBootstrapVersionRule: jsii.Bool(b.opts.BootstrapVersionRule),
		}),
	})
	// Dashboards are left untagged: CloudFormation accepts their Tags only
	// recently, and cfn-lint (E3002) and emulators do not yet.
	awscdk.Tags_Of(stack).Add(jsii.String(TagWorkflowConfig), jsii.String(s.StackName), &awscdk.TagProps{
		ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard"),
	})
	b.stacks = append(b.stacks, stack)
	b.byName[plan.Name] = stack
	return stack
}

// streamsFor returns the streams as a stack's steps and trackers see them:
// a stream of the same stack as it is, a stream of another stack by its
// deterministic ARN. The lookup is lazy, so that a stack imports only the
// streams its units use.
func (b *appBuilder) streamsFor(stack awscdk.Stack, name string) map[string]awskinesis.IStream {
	out := map[string]awskinesis.IStream{}
	for event, st := range b.streamStack {
		if st == name {
			out[event] = b.streams[event]
		}
	}
	need := map[string]bool{}
	for _, plan := range b.layout.Stacks {
		if plan.Name != name {
			continue
		}
		for _, i := range plan.Functions {
			f := &b.spec.Functions[i]
			for _, e := range f.Emits {
				need[e] = true
			}
			for _, sub := range f.Subscriptions {
				need[sub.Event] = true
			}
		}
		for _, i := range plan.Trackers {
			for _, e := range b.spec.Trackers[i].Events {
				need[e] = true
			}
		}
	}
	for i := range b.spec.Streams {
		st := &b.spec.Streams[i]
		if _, ok := out[st.Event]; ok || !need[st.Event] {
			continue
		}
		out[st.Event] = awskinesis.Stream_FromStreamArn(stack, jsii.String("Stream-"+st.Event), streamArn(st.Name))
	}
	return out
}

// streamArn is the ARN of the stream named name in the deploying stack's
// partition, region and account: what a stream of another stack of the same
// app is, without an export.
func streamArn(name string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/"+name), nil)
}
