package spec

// Limits AWS puts on the values of a spec, and the few bounds xflow adds.
// This is the one place they are written: the config's validation, the
// constructs, local mode, the config reference in the README and the
// config's JSON Schema all read them from here, so none can drift.
const (
	// Lambda.
	MinTimeoutSeconds   = 1
	MaxTimeoutSeconds   = 900
	MinMemoryMB         = 128
	MaxMemoryMB         = 10240
	MaxEnvironmentBytes = 4096 // all of a function's variables together
	MaxDescription      = 256  // characters of a function's description
	MaxRoleName         = 64   // characters of an IAM role name
	MaxSubnets          = 16
	MaxSecurityGroups   = 5

	// Kinesis streams.
	MinShards         = 1
	MaxShards         = 500 // xflow's cap; AWS's default shard quota per account is 500–1000
	MinRetentionHours = 24
	MaxRetentionHours = 8760 // 365 days

	// Kinesis event source mappings.
	MinBatchSize     = 1
	MaxBatchSize     = 10000
	MaxBatchWindow   = 300 // seconds
	MinRecordAge     = 60  // seconds
	MaxRecordAge     = 604800
	MaxRetryAttempts = 10000
	MinParallelism   = 1
	MaxParallelism   = 10

	// Kinesis records, as PutRecord, PutRecords and GetRecords check them.
	MaxRecordBytes       = 1 << 20 // a record's data and partition key together
	MaxPartitionKey      = 256     // Unicode characters, and so an execution id
	MaxPutRecordsRecords = 500
	MaxPutRecordsBytes   = 5 << 20 // data and partition keys of one PutRecords call
	MaxGetRecords        = 10000   // records one GetRecords call returns

	// Lambda payloads of a synchronous invocation.
	MaxInvokeBytes = 6 << 20 // the request
	// MaxResponseBytes is the largest response Lambda accepts: 6 MiB and
	// 100 bytes, as the Runtime Interface Emulator has it
	// (interop.MaxPayloadSize).
	MaxResponseBytes = 6<<20 + 100

	// CloudWatch.
	// MaxAlarmEvaluation is the longest an alarm may look back: evaluation
	// periods times period, in seconds.
	MaxAlarmEvaluation = 86400
	MaxFilterPattern   = 1024 // CloudWatch Logs subscription filter pattern
	// MetricPeriod is the period, in seconds, at which Lambda and Kinesis
	// publish their metrics; an alarm's period is a multiple of it.
	MetricPeriod = 60

	// MaxWorkflowDescription is xflow's bound on a workflow's description,
	// which goes into the tracker's description and the dashboard.
	MaxWorkflowDescription = 1024
)

// LogRetentionDays are the retention periods CloudWatch Logs accepts.
var LogRetentionDays = []int{
	1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
	1096, 1827, 2192, 2557, 2922, 3288, 3653,
}

// Architectures Lambda runs.
const (
	ArchX86 = "x86_64"
	ArchARM = "arm64"
)

// Starting positions of a Kinesis event source that need no timestamp.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
)
