// Package spec is the input of the xflow constructs: a workflow
// configuration resolved to final AWS names and values. It is its own
// package, free of CDK imports, so that the xflow command can produce a spec
// without linking the CDK bindings, which only the generated app needs.
//
// A step of a workflow is a lambda in the config and a Function here, which
// carries both of its names: Lambda, the name in the config, and Name, the
// AWS function name that names.Scheme derives from it. The package doc of
// constructs ("Names") shows the name of a step in every package.
//
// Every default a config may leave out and every AWS limit xflow checks is
// written once, here (defaults.go, limits.go): the config's validation, the
// constructs, local mode, the README's config reference and the JSON Schema
// read them from this package.
//
// # Stability
//
// A generated app, and an app its user extends, depends on this package:
// the Spec types, their JSON form (the xflow.spec.json that xflow writes),
// Load, Validate and the exported defaults and limits keep their meaning
// across xflow releases; fields are added, not renamed or removed, and a
// limit changes only when AWS changes it. Anything else of xflow is under
// internal/ and may change in any release.
package spec

import (
	"encoding/json"
	"fmt"
	"os"
)

// File is the name of the spec inside a generated app.
const File = "xflow.spec.json"

// Spec is everything the constructs need to build one workflow
// configuration's infrastructure. The generator resolves it from the YAML:
// AWS names are final, defaults are applied and source paths are relative
// to the generated app's folder, so the constructs make no decision the
// config already made.
//
// The generated app reads the spec from a JSON file at synth time rather
// than compiling it in: a config change then needs no rebuild of the app's
// 100 MB binary.
type Spec struct {
	// StackName is the CloudFormation stack that holds the workflow.
	StackName string `json:"stack_name"`
	// Prefix is the naming scheme's prefix (names.Scheme).
	Prefix string `json:"prefix,omitempty"`
	// Region and Account pin the stack's environment; empty means
	// environment-agnostic (taken from the deploying credentials).
	Region  string `json:"region,omitempty"`
	Account string `json:"account,omitempty"`

	Streams   []Stream   `json:"streams"`
	Functions []Function `json:"functions"`
	Trackers  []Tracker  `json:"trackers"`

	// VPC places every function in these subnets and security groups.
	VPC *VPC `json:"vpc,omitempty"`
	// RoleName is an existing IAM role every function runs as. Empty means
	// each function gets its own least-privilege role.
	RoleName string `json:"role_name,omitempty"`

	// Monitoring, when set, gives every function and tracker its alarms and
	// every workflow a dashboard. Nil adds nothing.
	Monitoring *Monitoring `json:"monitoring,omitempty"`
	// Logging, when set, ships every log group xflow creates to a central
	// destination. Nil adds nothing.
	Logging *Logging `json:"logging,omitempty"`
}

// Monitoring is how the functions and trackers are watched: alarms on
// their errors, their iterator age and the records they give up on, which
// notify one SNS topic, and one CloudWatch dashboard per workflow.
type Monitoring struct {
	// TopicName is the SNS topic xflow creates for the alarms
	// (names.AlarmTopic); TopicARN an existing topic to notify instead.
	// Exactly one is set.
	TopicName string `json:"topic_name,omitempty"`
	TopicARN  string `json:"topic_arn,omitempty"`
	// Emails are subscribed to the topic xflow creates.
	Emails []string `json:"emails,omitempty"`
	// Dashboards adds a dashboard per workflow (names.Dashboard).
	Dashboards bool `json:"dashboards"`
	// PeriodSeconds is the period of every alarm and dashboard graph: 10,
	// 30 or a multiple of 60.
	PeriodSeconds int `json:"period_seconds"`
	// EvaluationPeriods is how many periods in a row must breach before an
	// alarm fires.
	EvaluationPeriods int `json:"evaluation_periods"`
	// ErrorThreshold is the number of function errors in a period that
	// breaches.
	ErrorThreshold int `json:"error_threshold"`
	// IteratorAgeSeconds is the age of the oldest record a subscription has
	// yet to process above which it is behind.
	IteratorAgeSeconds int `json:"iterator_age_seconds"`
	// TreatMissingData is the alarms' treatment of periods without data:
	// one of TreatMissingData.
	TreatMissingData string `json:"treat_missing_data"`
}

// TreatMissingData are the treatments of missing data CloudWatch accepts.
var TreatMissingData = []string{"notBreaching", "breaching", "ignore", "missing"}

// Kinds of central log destinations, from the service of their ARN.
const (
	LogToKinesis  = "kinesis"  // a Kinesis data stream
	LogToFirehose = "firehose" // a Firehose delivery stream
	LogToLambda   = "lambda"   // a Lambda function
)

// Logging is where every log group xflow creates is shipped: the
// functions' and trackers' own log groups and the tracking log groups.
type Logging struct {
	// DestinationARN is a Kinesis stream, a Firehose delivery stream or a
	// Lambda function of the deploying account and region.
	DestinationARN string `json:"destination_arn"`
	// FilterPattern selects the log events shipped; empty ships them all.
	FilterPattern string `json:"filter_pattern"`
}

// Stream is one event's Kinesis stream.
type Stream struct {
	Event          string `json:"event"`
	Name           string `json:"name"`
	Shards         int    `json:"shards"`
	RetentionHours int    `json:"retention_hours"`
}

// Function is one config lambda resolved to its AWS Lambda function, and
// its subscriptions.
type Function struct {
	Lambda           string            `json:"lambda"` // the name in the config
	Name             string            `json:"name"`   // the AWS function name
	Description      string            `json:"description,omitempty"`
	Handler          string            `json:"handler"`
	Runtime          string            `json:"runtime"`
	Architecture     string            `json:"architecture"` // x86_64 or arm64
	MemoryMB         int               `json:"memory_mb"`
	TimeoutSeconds   int               `json:"timeout_seconds"`
	Environment      map[string]string `json:"environment,omitempty"`
	Code             Code              `json:"code"`
	LogRetentionDays int               `json:"log_retention_days"`
	// Emits are the events whose streams the function may write.
	Emits         []string       `json:"emits,omitempty"`
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	// Tracing turns on Lambda's X-Ray active tracing, with the permission
	// to write traces.
	Tracing bool `json:"tracing,omitempty"`
}

// Code kinds.
const (
	CodeFile = "file" // one source file, packaged alone
	CodeDir  = "dir"  // a folder, packaged whole
	CodeZip  = "zip"  // a ready .zip (or .jar) package
	CodeS3   = "s3"   // an object in S3
)

// Code is where a function's package comes from.
type Code struct {
	Kind string `json:"kind"`
	// Path is relative to the generated app's folder (or absolute).
	Path string `json:"path,omitempty"`
	// SHA256 hashes the built package at Path (its files' paths,
	// executable bits and contents), when xflow built it: the app's
	// packages change exactly when it changes.
	SHA256 string `json:"sha256,omitempty"`
	// Bucket, Key and ObjectVersion locate an S3 package.
	Bucket        string `json:"bucket,omitempty"`
	Key           string `json:"key,omitempty"`
	ObjectVersion string `json:"object_version,omitempty"`
}

// Failure destination kinds.
const (
	OnFailureQueue = "queue" // an SQS queue per function, made by xflow
	// OnFailureBucket is an S3 bucket per stack, made by xflow: Lambda
	// writes the whole failed batch there, records included.
	OnFailureBucket = "bucket"
	OnFailureARN    = "arn"  // an existing SQS queue or SNS topic
	OnFailureNone   = "none" // discard (records still age out by MaxRecordAge)
)

// Mapping is how Lambda reads a stream for one subscriber. Every value is
// explicit so that a bad record never blocks a shard for the stream's
// whole retention, which is what the AWS defaults do.
type Mapping struct {
	BatchSize               int    `json:"batch_size"`
	BatchWindowSeconds      int    `json:"batch_window_seconds,omitempty"`
	StartingPosition        string `json:"starting_position"` // TRIM_HORIZON or LATEST
	RetryAttempts           int    `json:"retry_attempts"`
	MaxRecordAgeSeconds     int    `json:"max_record_age_seconds"`
	BisectOnError           bool   `json:"bisect_on_error"`
	ParallelizationFactor   int    `json:"parallelization_factor"`
	ReportBatchItemFailures bool   `json:"report_batch_item_failures"`
	// OnFailure is OnFailureQueue, OnFailureBucket, OnFailureARN (with
	// OnFailureTarget) or OnFailureNone.
	OnFailure       string `json:"on_failure"`
	OnFailureTarget string `json:"on_failure_target,omitempty"`
}

// Subscription is a function listening on one event's stream.
type Subscription struct {
	Event string `json:"event"`
	Mapping
}

// Tracker is one workflow's tracker function: it listens on every stream of
// the flow and writes each event to the execution's log stream.
type Tracker struct {
	Workflow         string   `json:"workflow"`
	Name             string   `json:"name"`      // tracker_<workflow_id>
	LogGroup         string   `json:"log_group"` // /xFlow/track/<workflow_id>
	LogRetentionDays int      `json:"log_retention_days"`
	Events           []string `json:"events"` // the flow, in order, without repeats
	MemoryMB         int      `json:"memory_mb"`
	TimeoutSeconds   int      `json:"timeout_seconds"`
	Mapping          Mapping  `json:"mapping"`
	// Tracing turns on Lambda's X-Ray active tracing of the tracker.
	Tracing bool `json:"tracing,omitempty"`
}

// VPC is an existing network the functions join.
type VPC struct {
	SubnetIDs        []string `json:"subnet_ids"`
	SecurityGroupIDs []string `json:"security_group_ids"`
}

// Load reads a spec written by the generator.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse spec %s: %w", path, err)
	}
	return &s, nil
}
