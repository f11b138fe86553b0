// Package local runs a workflow on one machine, with the same YAML and the
// same unmodified handler files as on AWS: xflow's local mode.
//
// What AWS provides is played by small local parts that keep AWS's
// contracts, so that handlers, the tracker and `xflow track` cannot tell
// the difference:
//
//   - each event's Kinesis stream is an append-only log on disk in the state
//     folder (streams.go, segment.go), written under a file lock so that
//     the runtime and a `publish --local` in another process can both
//     append, framed so that a torn tail is told from damage, which is
//     moved to a quarantine folder (damage.go, check.go), and served to
//     handlers through the Kinesis PutRecord/PutRecords API on loopback
//     (kinesis.go), so boto3 and the AWS SDKs reach it unchanged;
//   - each subscription is an event source mapping (mapping.go): a poller
//     that reads batches from its checkpoint and applies Lambda's Kinesis
//     semantics (batch size and window, retries, bisect on error, maximum
//     record age, partial batch responses, on-failure records), checkpointing
//     only after a batch is done, so delivery is at least once and in order;
//   - each function runs in warm worker processes that speak the Lambda
//     Runtime API to a loopback server of their own (runtimeapi.go,
//     worker.go): provided.al2023 binaries run as they are, Python and
//     Node.js handlers under small bootstrap programs embedded here;
//   - CloudWatch Logs is a log store in the state folder (logs.go) with the
//     SDK's method shapes, so the real tracker.Handler writes to it and
//     package track reads it.
//
// One runtime at a time runs a state folder (Running says which); a
// process that serves another's runtime stands by with StartTakeover
// (takeover.go) to run the folder itself when that one stops.
//
// The state folder (default .xflow/ beside the config) holds everything:
//
//	streams/<stream>/<base>.rec   records (see segment.go for the format)
//	streams/<stream>/lock         the stream's flock
//	quarantine/<stream>/<offset>  damaged bytes, and what they were
//	checkpoints/<stream>/<function>
//	logs/<log group path>/<escaped log stream>.jsonl
//	failures/<function>.jsonl     Lambda's on-failure records (the SQS queue)
//	runtime/                      the Python and Node.js bootstraps
//	build/<function>/<hash>/      provided.al2023 binaries built from source
//	runtime.json, runtime.lock    the running runtime, if any
package local
