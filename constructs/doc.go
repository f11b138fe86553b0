// Package constructs holds the AWS CDK constructs that a generated xflow app
// calls to turn a Spec (the resolved YAML workflow configuration) into
// CloudFormation: one Kinesis stream per event (EventStream), one Lambda
// function with its subscriptions per config lambda (Step), and one tracker
// function per workflow (WorkflowTracker); and, when the spec asks for
// them, alarms beside each function that notify one topic (Alarms,
// AlarmTopic), a dashboard per workflow (WorkflowDashboard) and the
// subscription filters that ship every log group to a central destination
// (LogShipping). NewWorkflowApp puts them together into one stack, or
// spreads them over several when they do not fit one, with an assignment
// that adding or removing a function does not disturb (PlanStacks,
// split.go); BuildTracker compiles the tracker Lambda's binary at synth
// time.
//
// The generated app is meant to stay readable, editable CDK code: each
// construct follows the usual shape (XxxProps, an exported interface with
// accessors, NewXxx(scope, id, props)) and takes the streams it uses as
// awskinesis.IStream, so a construct works the same whether the stream is in
// its own stack or another one.
//
// A spec that cannot be built is reported as an error, never a panic: the
// spec is validated in Go before any construct is created, and the few
// errors only the CDK can detect are recovered and returned by
// NewWorkflowApp.
//
// # Names
//
// A step of a workflow is a lambda where the user writes it and a function
// from the spec on, where it is an AWS Lambda function:
//
//	where            name                  what it is
//	xflow.yaml       lambdas: - name: ...  a step, as the user writes it
//	internal/config  config.Lambda         one lambdas: entry; .Name is the config name
//	constructs/spec  spec.Function         a config lambda resolved: .Lambda is the
//	                                       config name, .Name the AWS function name
//	                                       (names.Scheme.Function)
//	constructs       Step (step.go)        the construct that deploys one spec.Function
//	internal/local   function (worker.go)  one deployed function run on this machine:
//	                                       its warm workers, named by the AWS name
//
// The construct is a Step, not a Function, because it is more than the
// function (its log group, role, failure queue, mappings and alarms) and
// Function() is its accessor for the function itself. "Function" alone is
// any Lambda function xflow deploys, a Step's or a WorkflowTracker's:
// function.go holds what those two share. A workflow's tracker is
// spec.Tracker in the spec, WorkflowTracker here, and the handler of package
// internal/tracker on AWS, which writes what package internal/track reads.
//
// # Stability
//
// This package and constructs/spec are xflow's public API: the only
// packages a generated app imports, and the ones an app its user extends
// may call. The exported constructs, their Props and accessors, and
// NewWorkflowApp keep their signatures and meaning across xflow releases;
// a construct may gain Props fields and accessors. The logical ids they
// give resources stay the same, so that upgrading xflow never replaces a
// deployed stream or function. Everything else of xflow is under internal/
// and may change in any release.
package constructs
