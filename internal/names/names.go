// Package names owns every naming rule of xflow: the AWS names of streams,
// functions, trackers, log groups, the alarm topic and dashboards, and the
// limits AWS puts on them.
//
// Names are deterministic so that publish, track, the server and the local
// runtime need only the YAML file to find what a deploy created. The
// constructs, the tracker, track, the server and the local runtime all call
// this package; none of them builds a name by itself.
package names

import (
	"fmt"
	"regexp"
	"strings"
)

// Limits AWS puts on names, used by validation and by tests.
const (
	MaxFunctionName  = 64  // Lambda function name
	MaxStreamName    = 128 // Kinesis stream name
	MaxLogGroupName  = 512 // CloudWatch Logs log group name
	MaxLogStreamName = 512 // CloudWatch Logs log stream name
	MaxPrefix        = 24  // our own cap, so that a prefix leaves room for names
	MaxStackName     = 128 // CloudFormation stack name
	MaxDashboardName = 255 // CloudWatch dashboard name
	MaxTopicName     = 256 // SNS topic name
)

// TrackerLogGroupRoot is where every workflow's tracking log group lives,
// as in the original xFlow.
const TrackerLogGroupRoot = "/xFlow/track/"

var (
	functionRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	streamRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	logGroupRe  = regexp.MustCompile(`^[A-Za-z0-9_./#-]+$`)
	stackRe     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)
	topicRe     = functionRe // SNS allows the same characters as Lambda
	envVarBadRe = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

// Scheme derives AWS names from config names. The zero value is the
// original xFlow's scheme (no prefix).
type Scheme struct {
	// Prefix is put in front of every stream, function and tracker name and
	// after the log group root, so several copies of a workflow can share an
	// account.
	Prefix string
}

// New returns the naming scheme for a prefix.
func New(prefix string) Scheme { return Scheme{Prefix: prefix} }

// Stream is the Kinesis stream that carries an event.
func (s Scheme) Stream(event string) string { return s.Prefix + event }

// Event is the event a stream carries: the inverse of Stream. ok is false
// when the stream does not carry the scheme's prefix.
func (s Scheme) Event(stream string) (event string, ok bool) {
	if !strings.HasPrefix(stream, s.Prefix) || len(stream) == len(s.Prefix) {
		return "", false
	}
	return stream[len(s.Prefix):], true
}

// Function is the Lambda function of a config lambda.
func (s Scheme) Function(lambda string) string { return s.Prefix + lambda }

// Tracker is the tracker function of a workflow: tracker_<workflow_id>.
func (s Scheme) Tracker(workflowID string) string { return s.Prefix + "tracker_" + workflowID }

// TrackerLogGroup is the log group that holds one log stream per execution
// of a workflow: /xFlow/track/<workflow_id>.
func (s Scheme) TrackerLogGroup(workflowID string) string {
	return TrackerLogGroupRoot + s.Prefix + workflowID
}

// StackName is the default CloudFormation stack name.
func (s Scheme) StackName() string {
	p := strings.Trim(envVarBadRe.ReplaceAllString(strings.ReplaceAll(s.Prefix, "_", "-"), ""), "-")
	if p == "" {
		return "xflow"
	}
	if !stackRe.MatchString(p) {
		p = "x-" + p
	}
	return p + "-xflow"
}

// FunctionLogGroup is the log group Lambda writes a function's own logs to.
func FunctionLogGroup(functionName string) string { return "/aws/lambda/" + functionName }

// AlarmTopic is the SNS topic xflow creates for the alarms of a config,
// named after its stack: <stack_name>-alarms. Stack names are unique in a
// region of an account, and so are topic names.
func AlarmTopic(stackName string) string { return stackName + "-alarms" }

// Dashboard is the CloudWatch dashboard of a workflow:
// <stack_name>-<workflow_id>-<region>. Dashboards are global to an account,
// unlike everything else xflow names, so the region is part of the name:
// the same config deployed to two regions gets two dashboards. region may
// be the CloudFormation reference ${AWS::Region} for a stack whose region is
// known only at deploy time.
func Dashboard(stackName, workflowID, region string) string {
	return stackName + "-" + workflowID + "-" + region
}

// StreamEnvVar is the environment variable through which a function learns
// the stream name of an event it emits: XFLOW_STREAM_<EVENT>, the event name
// upper-cased with every character that is not a letter, digit or
// underscore replaced by an underscore.
func StreamEnvVar(event string) string {
	return "XFLOW_STREAM_" + strings.ToUpper(envVarBadRe.ReplaceAllString(event, "_"))
}

// Environment variables xflow sets on every function it deploys.
const (
	EnvPrefix = "XFLOW_NAME_PREFIX" // the scheme's prefix
	EnvEmits  = "XFLOW_EMITS"       // comma-separated stream names the function may write
	// EnvTrackLogGroup gives the tracker Lambda the log group it writes.
	EnvTrackLogGroup = "XFLOW_TRACK_LOG_GROUP"
)

// LogStream is the tracker log stream of one execution. CloudWatch Logs
// forbids ':' and '*' in log stream names, so such execution ids are
// refused rather than silently rewritten.
func LogStream(executionID string) (string, error) {
	if err := CheckExecutionID(executionID); err != nil {
		return "", err
	}
	return executionID, nil
}

// CheckExecutionID reports why an execution id cannot name a log stream.
func CheckExecutionID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("execution_id is empty")
	case len(id) > MaxLogStreamName:
		return fmt.Errorf("execution_id is %d bytes long, more than the %d a log stream name allows", len(id), MaxLogStreamName)
	case strings.ContainsAny(id, ":*"):
		return fmt.Errorf("execution_id %q contains ':' or '*', which CloudWatch Logs does not allow in a log stream name", id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("execution_id %q contains a control character", id)
		}
	}
	return nil
}

// CheckFunction reports why name cannot be a Lambda function name.
func CheckFunction(name string) error {
	return check(name, MaxFunctionName, functionRe, "letters, digits, '-' and '_'")
}

// CheckStream reports why name cannot be a Kinesis stream name.
func CheckStream(name string) error {
	return check(name, MaxStreamName, streamRe, "letters, digits, '-', '_' and '.'")
}

// CheckLogGroup reports why name cannot be a CloudWatch Logs log group name.
func CheckLogGroup(name string) error {
	return check(name, MaxLogGroupName, logGroupRe, "letters, digits, '-', '_', '.', '/' and '#'")
}

// CheckTopic reports why name cannot be an SNS topic name (standard, not
// FIFO).
func CheckTopic(name string) error {
	return check(name, MaxTopicName, topicRe, "letters, digits, '-' and '_'")
}

// CheckStackName reports why name cannot be a CloudFormation stack name.
func CheckStackName(name string) error {
	if err := check(name, MaxStackName, regexp.MustCompile(`^[A-Za-z0-9-]+$`), "letters, digits and '-'"); err != nil {
		return err
	}
	if !stackRe.MatchString(name) {
		return fmt.Errorf("%q must start with a letter", name)
	}
	return nil
}

func check(name string, max int, re *regexp.Regexp, allowed string) error {
	switch {
	case name == "":
		return fmt.Errorf("is empty")
	case len(name) > max:
		return fmt.Errorf("%q is %d characters long, more than %d", name, len(name), max)
	case !re.MatchString(name):
		return fmt.Errorf("%q may only contain %s", name, allowed)
	}
	return nil
}
