package constructs

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// ContextBootstrapVersionRule is the CDK context key that turns the
// bootstrap-version rule off (`cdk synth -c xflow:bootstrapVersionRule=false`).
const ContextBootstrapVersionRule = "xflow:bootstrapVersionRule"

// TagWorkflowConfig is the tag every resource of a stack carries, with the
// stack name as its value, so that the resources of one config can be found
// (and billed) together.
const TagWorkflowConfig = "xflow:workflow-config"

// AppOptions say how to build a spec's stacks.
type AppOptions struct {
	// TrackerAssetDir is the folder holding the tracker's bootstrap binary
	// (BuildTracker's result). It may be empty when the spec has no
	// workflow.
	TrackerAssetDir string
	// BootstrapVersionRule keeps the CDK's check that the target account's
	// bootstrap stack is recent enough. Emulators such as moto do not
	// support the rule: set it false for them.
	BootstrapVersionRule bool
}

// OptionsFromContext reads the options that the CDK context may set:
// xflow:bootstrapVersionRule, true unless the context says false (as a
// JSON boolean from cdk.json or the string "false" from `cdk -c`).
func OptionsFromContext(app awscdk.App) AppOptions {
	opts := AppOptions{BootstrapVersionRule: true}
	switch v := app.Node().TryGetContext(jsii.String(ContextBootstrapVersionRule)).(type) {
	case bool:
		opts.BootstrapVersionRule = v
	case string:
		opts.BootstrapVersionRule = !strings.EqualFold(strings.TrimSpace(v), "false")
	}
	return opts
}

// NewWorkflowApp adds the stack(s) of a spec to app (one stack for now):
// one EventStream per stream, one Step per function and one
// WorkflowTracker per workflow. A spec that cannot be built is an error
// that lists every problem; nothing is added to app then.
//
// Construct ids come from config names (the event, the lambda, the
// workflow), never from positions, so that adding or removing one function
// leaves every other resource's logical id unchanged, and so that a later
// split over several stacks can move whole constructs.
func NewWorkflowApp(app awscdk.App, s *spec.Spec, opts AppOptions) (stacks []awscdk.Stack, err error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.Trackers) > 0 && opts.TrackerAssetDir == "" {
		return nil, fmt.Errorf("the spec has %d workflow(s) but no tracker asset folder was given (AppOptions.TrackerAssetDir, from BuildTracker)", len(s.Trackers))
	}
	var stack awscdk.Stack
	// The CDK reports what it cannot build by throwing, which jsii turns
	// into a panic. The spec is validated above so that this should not
	// happen, but a panic must not escape to the generated app's user.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("build stack %s: %v", s.StackName, r)
		}
		if err != nil {
			stacks = nil
			// Leave app as it was, so that an error does not also leave a
			// half-built stack behind to be synthesized.
			if stack != nil {
				app.Node().TryRemoveChild(stack.Node().Id())
			}
		}
	}()

	stack = awscdk.NewStack(app, jsii.String(s.StackName), &awscdk.StackProps{
		StackName:   jsii.String(s.StackName),
		Description: jsii.String("xflow workflow configuration " + s.StackName + ": event streams, functions, subscriptions and trackers"),
		Env:         stackEnvironment(s.Region, s.Account),
		Synthesizer: awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{
			GenerateBootstrapVersionRule: jsii.Bool(opts.BootstrapVersionRule),
		}),
	})
	awscdk.Tags_Of(stack).Add(jsii.String(TagWorkflowConfig), jsii.String(s.StackName), nil)

	streams := make(map[string]awskinesis.IStream, len(s.Streams))
	for i := range s.Streams {
		es, err := NewEventStream(stack, "Stream-"+s.Streams[i].Event, &EventStreamProps{Stream: &s.Streams[i]})
		if err != nil {
			return nil, err
		}
		streams[es.Event()] = es.Stream()
	}
	var role awsiam.IRole
	if s.RoleName != "" {
		role = awsiam.Role_FromRoleName(stack, jsii.String("ExecutionRole"), jsii.String(s.RoleName),
			&awsiam.FromRoleNameOptions{Mutable: jsii.Bool(false)})
	}
	network := ImportNetwork(stack, "Network", s.VPC)
	for i := range s.Functions {
		f := &s.Functions[i]
		if _, err := NewStep(stack, "Step-"+cmp.Or(f.Lambda, f.Name), &StepProps{
			Function: f, Streams: streams, Role: role, Network: network,
		}); err != nil {
			return nil, err
		}
	}
	for i := range s.Trackers {
		t := &s.Trackers[i]
		if _, err := NewWorkflowTracker(stack, "Tracker-"+cmp.Or(t.Workflow, t.Name), &WorkflowTrackerProps{
			Tracker: t, Streams: streams, AssetDir: opts.TrackerAssetDir, Prefix: s.Prefix, Role: role,
		}); err != nil {
			return nil, err
		}
	}
	return []awscdk.Stack{stack}, nil
}

// stackEnvironment pins a stack to a region and account; empty values leave
// the stack environment-agnostic.
func stackEnvironment(region, account string) *awscdk.Environment {
	if region == "" && account == "" {
		return nil
	}
	return &awscdk.Environment{Region: optionalString(region), Account: optionalString(account)}
}
