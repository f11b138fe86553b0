package constructs

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// ContextBootstrapVersionRule is the CDK context key that turns the
// bootstrap-version rule off; see spec.ContextBootstrapVersionRule.
const ContextBootstrapVersionRule = spec.ContextBootstrapVersionRule

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

// NewWorkflowApp adds the stacks of a spec to app: one EventStream per
// stream, one Step per function and one WorkflowTracker per workflow, in
// one stack named after the config when they fit, else spread over several
// stacks as PlanStacks decides (see split.go). It returns the stacks in
// deploy order. A spec that cannot be built is an error that lists every
// problem; nothing is added to app then.
//
// Construct ids come from config names (the event, the lambda, the
// workflow), never from positions, and every construct sits directly under
// its stack whatever the layout, so that adding or removing one function
// leaves every other resource's logical id unchanged.
func NewWorkflowApp(app awscdk.App, s *spec.Spec, opts AppOptions) (stacks []awscdk.Stack, err error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.Trackers) > 0 && opts.TrackerAssetDir == "" {
		return nil, fmt.Errorf("the spec has %d workflow(s) but no tracker asset folder was given (AppOptions.TrackerAssetDir, from BuildTracker)", len(s.Trackers))
	}
	layout, err := PlanStacks(s)
	if err != nil {
		return nil, err
	}
	b := &appBuilder{app: app, spec: s, opts: opts, layout: layout, byName: map[string]awscdk.Stack{}}
	// The CDK reports what it cannot build by throwing, which jsii turns
	// into a panic. The spec is validated above so that this should not
	// happen, but a panic must not escape to the generated app's user.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("build stack %s: %v", b.current, r)
		}
		if err != nil {
			stacks = nil
			// Leave app as it was, so that an error does not also leave a
			// half-built stack behind to be synthesized.
			for _, st := range b.stacks {
				app.Node().TryRemoveChild(st.Node().Id())
			}
		}
	}()
	if err := b.build(); err != nil {
		return nil, err
	}
	return b.stacks, nil
}

// stackEnvironment pins a stack to a region and account; empty values leave
// the stack environment-agnostic.
func stackEnvironment(region, account string) *awscdk.Environment {
	if region == "" && account == "" {
		return nil
	}
	return &awscdk.Environment{Region: optionalString(region), Account: optionalString(account)}
}
