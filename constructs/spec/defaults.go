package spec

// Defaults of everything a config may leave out, and the settings of
// xflow's own resources. This is the one place they are written: the
// config fills them in when it resolves, the constructs use them for a
// zero value of a spec written by hand, and the config reference in the
// README and the JSON Schema show them.
const (
	// Functions.
	DefaultTimeoutSeconds   = 10
	DefaultMemoryMB         = 128
	DefaultArchitecture     = ArchX86
	DefaultLogRetentionDays = 14
	// DefaultTrackRetentionDays is how long a workflow's tracking log
	// group keeps its executions: how far back `xflow track` can answer.
	DefaultTrackRetentionDays = 7
	DefaultTracing            = false

	// Streams.
	DefaultShards         = 1
	DefaultRetentionHours = 24 // what Kinesis keeps without a setting

	// Event source mappings. AWS's own default retries a failing batch
	// until its records expire, blocking the shard; xflow's never does.
	DefaultBatchSize           = 100
	DefaultStartingPosition    = TrimHorizon
	DefaultRetryAttempts       = 3
	DefaultMaxRecordAgeSeconds = 3600
	DefaultBisectOnError       = true
	DefaultParallelization     = 1
	DefaultOnFailure           = OnFailureQueue

	// Monitoring.
	DefaultAlarmPeriodSeconds          = 300
	DefaultEvaluationPeriods           = 1
	DefaultErrorThreshold              = 1
	DefaultIteratorAgeThresholdSeconds = 300
	DefaultTreatMissingData            = "notBreaching"
	DefaultDashboard                   = true

	// FailureRetentionDays is how long xflow's failure queues and failure
	// bucket keep what a function gave up on (SQS's maximum is 14 days).
	FailureRetentionDays = 14
)

// The tracker's settings. The tracker is xflow's own code, so these are
// not in the config: it needs little memory, and it must not lose events,
// so it retries for hours rather than the subscribers' default of one hour.
const (
	TrackerMemoryMB            = 128
	TrackerTimeoutSeconds      = 60
	TrackerBatchSize           = 500
	TrackerRetryAttempts       = 100
	TrackerMaxRecordAgeSeconds = 6 * 3600
)

// ContextBootstrapVersionRule is the CDK context key that turns the
// bootstrap-version rule of the synthesized templates off
// (`cdk synth -c xflow:bootstrapVersionRule=false`), for emulators that
// have no SSM parameter of the bootstrap version.
const ContextBootstrapVersionRule = "xflow:bootstrapVersionRule"
