// Package tracker is the write side of execution tracking: the Lambda
// handler that listens on every Kinesis stream of a workflow's flow and
// records each event it sees in CloudWatch Logs, in the workflow's log group
// (/xFlow/track/<workflow_id>) with one log stream per execution_id.
//
// Each log event is one Entry, timestamped with the record's Kinesis arrival
// time, so that `xflow track` can rebuild where an execution stands from the
// execution's log stream alone. The tracker reports partial batch failures so
// that Lambda retries only the records it could not write, and counts in its
// own log (stdout) the records it can never write, instead of dropping them
// silently.
//
// The Lambda's main package is in internal/tracker/lambda.
//
// tracker and track differ by two letters and are the two sides of one
// thing: package tracker (this one) is the Lambda that writes, package
// track (internal/track) the reader behind `xflow track`, the server's
// GET /track/... and the tracking page, which rebuilds an execution from
// what tracker wrote. An Entry is their contract.
package tracker
