package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// keyDoc documents one key of the file. The JSON Schema and the README's
// config reference are both generated from this table and the Go types,
// and a test fails when a key lacks documentation, so the three never drift.
type keyDoc struct {
	Doc     string
	Default string // as written in YAML; empty when there is none
	Example string // as written in YAML
	// Min and Max bound a whole number, for the schema's minimum and
	// maximum; nil when the key has no such bound.
	Min, Max *int
}

// The documentation takes every default and limit from spec, where each
// is written once: these helpers write them as the reference shows them.
func itoa(n int) string      { return strconv.Itoa(n) }
func ptr(n int) *int         { return &n }
func span(lo, hi int) string { return itoa(lo) + "–" + itoa(hi) }
func retentionList() string {
	var parts []string
	for _, d := range spec.LogRetentionDays[:6] {
		parts = append(parts, itoa(d))
	}
	return strings.Join(parts, ", ") + ", …"
}

var docs = map[string]keyDoc{
	"general":                      {Doc: "Settings for the whole file."},
	"general.lambda_timeout_time":  {Doc: "Default function timeout in seconds (" + span(spec.MinTimeoutSeconds, spec.MaxTimeoutSeconds) + "). `$LAMBDA_TIMEOUT_TIME` overrides it.", Default: itoa(spec.DefaultTimeoutSeconds), Example: "30", Min: ptr(spec.MinTimeoutSeconds), Max: ptr(spec.MaxTimeoutSeconds)},
	"general.lambda_memory":        {Doc: "Default function memory in MB (" + span(spec.MinMemoryMB, spec.MaxMemoryMB) + ").", Default: itoa(spec.DefaultMemoryMB), Example: "256", Min: ptr(spec.MinMemoryMB), Max: ptr(spec.MaxMemoryMB)},
	"general.architecture":         {Doc: "Default function architecture: `x86_64` or `arm64`.", Default: spec.DefaultArchitecture, Example: "arm64"},
	"general.name_prefix":          {Doc: "Put in front of every stream, function and tracker name (and after `/xFlow/track/`), so several copies of a workflow can share an account. Letters, digits, `-`, `_`; up to " + itoa(names.MaxPrefix) + ".", Example: "dev_"},
	"general.stack_name":           {Doc: "The CloudFormation stack name.", Default: "xflow (or <prefix>-xflow)", Example: "wordcount-prod"},
	"general.log_retention_days":   {Doc: "Retention of every function's log group `/aws/lambda/<name>`, in days CloudWatch Logs offers (" + retentionList() + ").", Default: itoa(spec.DefaultLogRetentionDays), Example: "30"},
	"general.track_retention_days": {Doc: "Retention of each workflow's tracking log group `/xFlow/track/<workflow_id>`; `xflow track` can answer for this long.", Default: itoa(spec.DefaultTrackRetentionDays), Example: "30"},
	"general.tracing":              {Doc: "Lambda's AWS X-Ray tracing of every function and tracker: `active` (each invocation is traced, and the functions' roles may write to X-Ray) or `off`.", Default: tracingWord(spec.DefaultTracing), Example: "active"},

	"aws":                            {Doc: "The AWS account the workflow deploys to."},
	"aws.region":                     {Doc: "Region to deploy to. `$REGION` overrides it; empty means the region of the deploying credentials.", Example: "eu-west-1"},
	"aws.account":                    {Doc: "Account id to pin the stack to; empty means the deploying credentials' account.", Example: "\"123456789012\""},
	"aws.subnet_ids":                 {Doc: "Subnets (existing, by id) to run every function in; needs `security_group_ids`.", Example: "[subnet-0123456789abcdef0]"},
	"aws.security_group_ids":         {Doc: "Security groups (existing, by id) of every function; needs `subnet_ids`.", Example: "[sg-0123456789abcdef0]"},
	"aws.lambda_execution_role_name": {Doc: "An existing IAM role (name or ARN) every function runs as. `$LAMBDA_EXECUTION_ROLE_NAME` overrides it. Empty means each function gets its own least-privilege role.", Example: "lambda-execute"},

	"lambdas":                      {Doc: "The functions: each is a step of a workflow."},
	"lambdas[].name":               {Doc: "Function name (with the prefix, up to " + itoa(names.MaxFunctionName) + " letters, digits, `-`, `_`). Required.", Example: "lambda_reader"},
	"lambdas[].description":        {Doc: "Function description (up to " + itoa(spec.MaxDescription) + " characters).", Example: "Reads the uploaded file."},
	"lambdas[].source":             {Doc: "The code: a file (packaged alone), a folder (built first when it has a manifest: Go with `go.mod` for `provided.*`, `requirements.txt` or `pyproject.toml` dependencies for Python, `package.json` with its lock file for Node.js; see Build), a `.zip`/`.jar` (deployed as it is), `s3://bucket/key.zip`, or any of those in a git repository: `https://host/owner/repo.git//path/in/repo?ref=v1.2.0` (`//` ends the repository; also `git@host:owner/repo.git//path?ref=…`, `ssh://`, `file:///…`, `git::URL` for a repository whose URL lacks `.git`, and GitHub's `https://github.com/owner/repo/blob/REF/file` and `/tree/REF/folder`; no `ref` means the default branch). Local paths are relative to the config file. A folder may hold symbolic links only to what is inside it: packaging follows links, so one pointing outside would put a file of this machine into the function. A git source is fetched by `git`, with your credentials, into xflow's cache; the commit its ref resolves to is pinned in `xflow.lock` beside the config (commit it) and used until `xflow synth --update-sources`. Required.", Example: "lambda_reader.py"},
	"lambdas[].source_version":     {Doc: "S3 object version of an `s3://` source.", Example: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"},
	"lambdas[].handler":            {Doc: "Handler. Without a dot it names a function: of a single-file source, in that file's module (`read` with `lambda_reader.py` is `lambda_reader.read`, which must define it at its top level); of a folder, `.zip` or S3 source, in the module named after the lambda, as in the original xFlow (`parse` of `lambda_parser` is `lambda_parser.parse`; `xflow validate` prints it). With a dot it is used as written. Optional for `provided.*` runtimes (`bootstrap`).", Example: "read"},
	"lambdas[].runtime":            {Doc: "An AWS Lambda runtime AWS accepts today (`python3.12`–`python3.14`, `nodejs22.x`, `nodejs24.x`, `java21`, `java25`, `dotnet10`, `ruby3.3`, `ruby3.4`, `provided.al2023`). Retired ones are an error naming the replacement. Required.", Example: "python3.13"},
	"lambdas[].memory":             {Doc: "Memory in MB (" + span(spec.MinMemoryMB, spec.MaxMemoryMB) + ").", Default: "general.lambda_memory", Example: "512", Min: ptr(spec.MinMemoryMB), Max: ptr(spec.MaxMemoryMB)},
	"lambdas[].timeout":            {Doc: "Timeout in seconds (" + span(spec.MinTimeoutSeconds, spec.MaxTimeoutSeconds) + ").", Default: "general.lambda_timeout_time", Example: "60", Min: ptr(spec.MinTimeoutSeconds), Max: ptr(spec.MaxTimeoutSeconds)},
	"lambdas[].architecture":       {Doc: "`x86_64` or `arm64`.", Default: "general.architecture", Example: "arm64"},
	"lambdas[].environment":        {Doc: "Environment variables (up to " + itoa(spec.MaxEnvironmentBytes/1024) + " KB in all). xflow adds `XFLOW_STREAM_<EVENT>` with the stream name of each event the function emits, `XFLOW_EMITS` and `XFLOW_NAME_PREFIX`.", Example: "{LOG_LEVEL: debug}"},
	"lambdas[].emits":              {Doc: "Events the function publishes; it may write only their streams. Without it: the event after each event it listens to, in every workflow. `[]` for none.", Example: "[FileDownloaded]"},
	"lambdas[].log_retention_days": {Doc: "Retention of this function's log group.", Default: "general.log_retention_days", Example: "90"},
	"lambdas[].tracing":            {Doc: "Overrides `general.tracing` for this function: `active` or `off`.", Default: "general.tracing", Example: "active"},
	"lambdas[].bundle":             {Doc: "Node.js only: `esbuild` packages one file, the handler's module and what it imports bundled by esbuild (installed by xflow from npm), as the CDK's `NodejsFunction` does; the AWS SDK v3 (`@aws-sdk/*`) is left to the runtime. Without it the folder is packaged with its `npm ci --omit=dev`.", Example: "esbuild"},

	"subscriptions":                        {Doc: "The events: each gets a Kinesis stream named after it, and its subscribers are invoked with its records."},
	"subscriptions[].event":                {Doc: "Event name, which is also the stream name (with the prefix). Required.", Example: "FileUploaded"},
	"subscriptions[].subscribers":          {Doc: "Lambdas listening on the event: names, or mappings with `lambda:` and any of the mapping settings below to override the subscription's. May be empty.", Example: "[lambda_reader]"},
	"subscriptions[].shards":               {Doc: "Shards of the provisioned stream (" + span(spec.MinShards, spec.MaxShards) + ").", Default: itoa(spec.DefaultShards), Example: "4", Min: ptr(spec.MinShards), Max: ptr(spec.MaxShards)},
	"subscriptions[].retention_hours":      {Doc: "How long the stream keeps records (" + span(spec.MinRetentionHours, spec.MaxRetentionHours) + " hours).", Default: itoa(spec.DefaultRetentionHours), Example: "168", Min: ptr(spec.MinRetentionHours), Max: ptr(spec.MaxRetentionHours)},
	"subscriptions[].subscribers[].lambda": {Doc: "The subscribing lambda's name.", Example: "lambda_reader"},

	"batch_size":                 {Doc: "Records per invocation (" + span(spec.MinBatchSize, spec.MaxBatchSize) + ").", Default: itoa(spec.DefaultBatchSize), Example: "10", Min: ptr(spec.MinBatchSize), Max: ptr(spec.MaxBatchSize)},
	"batch_window":               {Doc: "How long Lambda gathers records before invoking (" + span(0, spec.MaxBatchWindow) + " s).", Default: "0s", Example: "5s"},
	"starting_position":          {Doc: "Where a new subscription starts reading: `TRIM_HORIZON` (every record still in the stream) or `LATEST`.", Default: spec.DefaultStartingPosition, Example: "LATEST"},
	"retry_attempts":             {Doc: "Retries of a failing batch before it goes to `on_failure` (" + span(0, spec.MaxRetryAttempts) + "). AWS's default retries until the record expires, blocking the shard; xflow never does.", Default: itoa(spec.DefaultRetryAttempts), Example: "5", Min: ptr(0), Max: ptr(spec.MaxRetryAttempts)},
	"max_record_age":             {Doc: "Records older than this go to `on_failure` instead of being processed (" + itoa(spec.MinRecordAge) + "s–" + Duration(spec.MaxRecordAge).String() + ").", Default: Duration(spec.DefaultMaxRecordAgeSeconds).String(), Example: "6h"},
	"bisect_on_error":            {Doc: "Split a failing batch in two and retry each half, isolating the bad record.", Default: strconv.FormatBool(spec.DefaultBisectOnError), Example: "false"},
	"parallelization_factor":     {Doc: "Concurrent batches per shard (" + span(spec.MinParallelism, spec.MaxParallelism) + ").", Default: itoa(spec.DefaultParallelization), Example: "2", Min: ptr(spec.MinParallelism), Max: ptr(spec.MaxParallelism)},
	"report_batch_item_failures": {Doc: "The handler returns `batchItemFailures`, so only failed records are retried.", Default: "false", Example: "true"},
	"on_failure":                 {Doc: "Where records that exhaust their retries go: `queue` (an SQS queue per function, made by xflow: Lambda's record of the batch, its stream, shard and sequence numbers, for " + itoa(spec.FailureRetentionDays) + " days), `bucket` (an S3 bucket per stack, made by xflow, encrypted, TLS only, objects expiring after " + itoa(spec.FailureRetentionDays) + " days: Lambda writes the whole batch there, records included, so `xflow redrive` works even once the stream no longer holds them), `none`, or the ARN of an existing SQS queue or SNS topic (which `xflow redrive` does not read). `xflow redrive` delivers what `queue` and `bucket` hold again.", Default: spec.DefaultOnFailure, Example: "bucket"},

	"workflows":               {Doc: "Workflows to track: each gets a tracker function `tracker_<id>` and a log group `/xFlow/track/<id>` with one log stream per execution."},
	"workflows[].id":          {Doc: "Workflow id (the tracker name `tracker_<id>` must fit in " + itoa(names.MaxFunctionName) + " characters). Required.", Example: "compute_word_count"},
	"workflows[].description": {Doc: "What the workflow does.", Example: "Counts the words of an uploaded file."},
	"workflows[].flow":        {Doc: "The workflow's events in order, each defined under `subscriptions`, each once. Every event must carry `execution_id`.", Example: "[FileUploaded, FileDownloaded]"},

	"monitoring":                        {Doc: "Opt-in CloudWatch monitoring (`monitoring:` alone takes every default). Every function and tracker gets alarms: its errors; the age of the oldest record its subscriptions have yet to read; and the records it gives up on (its `queue` failure queue holding messages, or, for an ARN or `bucket` destination, Lambda failing to deliver to it). They notify one SNS topic. Each workflow also gets a dashboard `<stack_name>-<workflow_id>-<region>` graphing invocations, errors, duration, throttles and iterator age of each function subscribed to its events and of its tracker, and the incoming records and throughput exceeded of each of its streams."},
	"monitoring.topic_arn":              {Doc: "An existing SNS topic (same region) for the alarms to notify. Without it xflow creates the topic `<stack_name>-alarms`.", Example: "arn:aws:sns:eu-west-1:123456789012:ops-alerts"},
	"monitoring.emails":                 {Doc: "E-mail addresses subscribed to the topic xflow creates; each receives a confirmation mail to accept. Not with `topic_arn`.", Example: "[ops@example.com]"},
	"monitoring.dashboard":              {Doc: "Create a CloudWatch dashboard per workflow.", Default: strconv.FormatBool(spec.DefaultDashboard), Example: "false"},
	"monitoring.period":                 {Doc: "Period of the alarms and the dashboard's graphs: a whole number of minutes, at most 1d (the metrics are published once a minute).", Default: Duration(spec.DefaultAlarmPeriodSeconds).String(), Example: "1m"},
	"monitoring.evaluation_periods":     {Doc: "Periods in a row that must breach before an alarm fires (together at most a day).", Default: itoa(spec.DefaultEvaluationPeriods), Example: "3"},
	"monitoring.error_threshold":        {Doc: "Errors of a function in one period that fire its error alarm.", Default: itoa(spec.DefaultErrorThreshold), Example: "5"},
	"monitoring.iterator_age_threshold": {Doc: "A function whose oldest unread record is older than this is falling behind its streams: its iterator age alarm fires. Keep it below `max_record_age`, after which records are dropped.", Default: Duration(spec.DefaultIteratorAgeThresholdSeconds).String(), Example: "15m"},
	"monitoring.treat_missing_data":     {Doc: "How an alarm counts periods without data: `notBreaching` (an idle function is healthy), `breaching`, `ignore` or `missing`.", Default: spec.DefaultTreatMissingData, Example: "missing"},

	"logging":                 {Doc: "Opt-in central logging: every log group xflow creates (each function's and tracker's `/aws/lambda/<name>` and each tracking log group `/xFlow/track/<workflow_id>`) is shipped to one destination by a subscription filter. Retention is unchanged: `general.log_retention_days`, `lambdas[].log_retention_days` and `general.track_retention_days` still set how long CloudWatch keeps each group. A log group has at most two subscription filters; xflow uses one."},
	"logging.destination_arn": {Doc: "Where the logs go, in the deploying account and region: a Kinesis stream or a Firehose delivery stream (xflow creates the role CloudWatch Logs assumes, allowed to write only there) or a Lambda function (xflow adds the permission for CloudWatch Logs to invoke it). Required.", Example: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/central-logs"},
	"logging.filter_pattern":  {Doc: "CloudWatch Logs filter pattern selecting the events shipped; empty ships every line.", Default: "\"\"", Example: "\"?ERROR ?WARN\""},
}

// mappingKeys are documented once and apply at two levels.
var mappingKeys = keysOf(reflect.TypeFor[Mapping]())

func docFor(path string) (keyDoc, bool) {
	if d, ok := docs[path]; ok {
		return d, true
	}
	// A subscriber's mapping settings have no default of their own: they
	// override the subscription's, documented once there.
	if k, ok := strings.CutPrefix(path, "subscriptions[].subscribers[]."); ok && contains(mappingKeys, k) {
		return keyDoc{Doc: "Overrides `subscriptions[]." + k + "` for this subscriber. " + docs[k].Doc}, true
	}
	i := strings.LastIndex(path, ".")
	d, ok := docs[path[i+1:]]
	return d, ok && contains(mappingKeys, path[i+1:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// walkKeys calls fn for every key of the file, parents first.
func walkKeys(t reflect.Type, path string, fn func(path string, t reflect.Type)) {
	for _, f := range structFields(t) {
		ft := t.FieldByIndex(f.index).Type
		p := join(path, f.key)
		fn(p, ft)
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			walkKeys(ft, p, fn)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkKeys(ft.Elem(), p+"[]", fn)
		}
	}
}

// schemaDefault is a key's default as the schema's "default" wants it: a
// value of the key's type. A default that names another key
// (general.lambda_memory) or describes one (xflow (or <prefix>-xflow)) has
// none.
func schemaDefault(def string, t reflect.Type) (any, bool) {
	if def == "" || strings.ContainsAny(def, " .") {
		return nil, false
	}
	switch {
	case t == reflect.TypeFor[Duration]() || t.Kind() == reflect.String:
		return strings.Trim(def, `"`), true
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(def)
		return n, err == nil
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(def)
		return b, err == nil
	}
	return nil, false
}

// Schema returns the JSON Schema of the config file, for editors.
func Schema() ([]byte, error) {
	s := schemaOf(reflect.TypeFor[Config](), "")
	s["$schema"] = "http://json-schema.org/draft-07/schema#"
	s["$id"] = "https://github.com/xflowhq/xflow/config/xflow.schema.json"
	s["title"] = "xflow workflow configuration"
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func schemaOf(t reflect.Type, path string) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := map[string]any{}
	if d, ok := docFor(path); ok && path != "" {
		desc := d.Doc
		if d.Default != "" {
			desc += " Default: " + d.Default + "."
		}
		s["description"] = desc
		if d.Min != nil {
			s["minimum"] = *d.Min
		}
		if d.Max != nil {
			s["maximum"] = *d.Max
		}
		if v, ok := schemaDefault(d.Default, t); ok {
			s["default"] = v
		}
	}
	switch {
	case t == reflect.TypeFor[Subscriber]():
		obj := schemaOf(reflect.TypeFor[subscriberMapping](), path)
		obj["required"] = []string{"lambda"}
		return map[string]any{"description": s["description"], "oneOf": []any{map[string]any{"type": "string"}, obj}}
	case t == reflect.TypeFor[Duration]():
		s["type"] = []string{"integer", "string"}
		s["pattern"] = `^[0-9]+[smhd]?$`
	case t.Kind() == reflect.Struct:
		props := map[string]any{}
		for _, f := range structFields(t) {
			props[f.key] = schemaOf(t.FieldByIndex(f.index).Type, join(path, f.key))
		}
		s["type"] = []string{"object", "null"}
		s["properties"] = props
		s["additionalProperties"] = false
	case t.Kind() == reflect.Slice:
		s["type"] = []string{"array", "null"}
		s["items"] = schemaOf(t.Elem(), path+"[]")
	case t.Kind() == reflect.Map:
		s["type"] = []string{"object", "null"}
		s["additionalProperties"] = map[string]any{"type": []string{"string", "number", "boolean"}}
	case t.Kind() == reflect.String:
		s["type"] = []string{"string", "null"}
	case t.Kind() == reflect.Int:
		s["type"] = []string{"integer", "null"}
	case t.Kind() == reflect.Bool:
		s["type"] = "boolean"
	}
	switch path {
	case "lambdas[].runtime":
		var rs []string
		for name, info := range runtimes {
			if info.status != runtimeRetired {
				rs = append(rs, name)
			}
		}
		sort.Strings(rs)
		s["enum"] = rs
	case "general.architecture", "lambdas[].architecture":
		s["enum"] = []string{"x86_64", "arm64"}
	case "general.tracing", "lambdas[].tracing":
		s["enum"] = []string{TracingActive, TracingOff}
	case "monitoring.treat_missing_data":
		s["enum"] = spec.TreatMissingData
	}
	if strings.HasSuffix(path, "starting_position") {
		s["enum"] = []string{spec.TrimHorizon, spec.Latest}
	}
	return s
}

// subscriberMapping is Subscriber's mapping form, for the schema.
type subscriberMapping struct {
	Lambda  string `yaml:"lambda"`
	Mapping `yaml:",inline"`
}

// Reference returns the config reference in Markdown, for the README.
func Reference() string {
	var b strings.Builder
	b.WriteString("| key | default | example | meaning |\n|---|---|---|---|\n")
	walkKeys(reflect.TypeFor[Config](), "", func(path string, t reflect.Type) {
		d, _ := docFor(path)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, code(d.Default), code(d.Example), d.Doc)
	})
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}
