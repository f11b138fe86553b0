// Package esm reads, on AWS, the Kinesis event source mappings of a
// function: which stream each reads, its state, and where it sends the
// batches it gives up on. It is what Lambda itself uses, so that redrive
// and track's tracker check find a function's failure queue or bucket
// whatever stack it was deployed in, without a name of their own for it
// (CloudFormation names the queues and buckets).
package esm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// LambdaAPI is the part of the Lambda client List uses.
type LambdaAPI interface {
	ListEventSourceMappings(ctx context.Context, params *lambda.ListEventSourceMappingsInput, optFns ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error)
}

// SQSAPI is the part of the SQS client QueueURL uses.
type SQSAPI interface {
	GetQueueUrl(ctx context.Context, params *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// Mapping is one Kinesis event source mapping of a function.
type Mapping struct {
	UUID      string
	StreamARN string
	Stream    string // the stream's name
	// State is Lambda's: Creating, Enabling, Enabled, Disabling,
	// Disabled, Updating or Deleting; StateReason says why it changed.
	State, StateReason string
	// LastProcessingResult is "OK", "No records processed", or
	// "PROBLEM: …" when Lambda could not invoke the function.
	LastProcessingResult string
	// Destination is the ARN of its on-failure destination; "" for none.
	Destination string
}

// maxPages bounds the listing; a function has a handful of mappings.
const maxPages = 100

// List returns the Kinesis event source mappings of a function (by name),
// in Lambda's order. A function without any has none, not an error.
func List(ctx context.Context, api LambdaAPI, function string) ([]Mapping, error) {
	var out []Mapping
	var marker *string
	for range maxPages {
		page, err := api.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{
			FunctionName: aws.String(function),
			Marker:       marker,
		})
		if err != nil {
			if _, ok := errors.AsType[*lambdatypes.ResourceNotFoundException](err); ok {
				return nil, nil
			}
			return nil, fmt.Errorf("list the event source mappings of %s: %w", function, err)
		}
		for _, m := range page.EventSourceMappings {
			arn := aws.ToString(m.EventSourceArn)
			name, ok := StreamName(arn)
			if !ok {
				continue // not a Kinesis stream
			}
			mp := Mapping{
				UUID:                 aws.ToString(m.UUID),
				StreamARN:            arn,
				Stream:               name,
				State:                aws.ToString(m.State),
				StateReason:          aws.ToString(m.StateTransitionReason),
				LastProcessingResult: aws.ToString(m.LastProcessingResult),
			}
			if d := m.DestinationConfig; d != nil && d.OnFailure != nil {
				mp.Destination = aws.ToString(d.OnFailure.Destination)
			}
			out = append(out, mp)
		}
		marker = page.NextMarker
		if aws.ToString(marker) == "" {
			return out, nil
		}
	}
	return out, fmt.Errorf("list the event source mappings of %s: stopped after %d pages", function, maxPages)
}

// StreamName returns the name of the Kinesis stream of an ARN
// (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME).
func StreamName(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "kinesis" {
		return "", false
	}
	name, ok := strings.CutPrefix(parts[5], "stream/")
	return name, ok && name != ""
}

// Service returns the service of a destination ARN: "sqs", "s3", "sns",
// or "" when it is not an ARN.
func Service(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[2]
}

// BucketName returns the bucket of an S3 bucket ARN (arn:aws:s3:::NAME).
func BucketName(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "s3" || parts[5] == "" || strings.Contains(parts[5], "/") {
		return "", false
	}
	return parts[5], true
}

// QueueURL returns the URL of the SQS queue of an ARN
// (arn:aws:sqs:REGION:ACCOUNT:NAME), asking SQS, which knows its
// endpoint.
func QueueURL(ctx context.Context, api SQSAPI, arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[2] != "sqs" || parts[5] == "" {
		return "", fmt.Errorf("%q is not the ARN of an SQS queue", arn)
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5])}
	if parts[4] != "" {
		in.QueueOwnerAWSAccountId = aws.String(parts[4])
	}
	out, err := api.GetQueueUrl(ctx, in)
	if err != nil {
		return "", fmt.Errorf("find the queue %s: %w", arn, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
