// Command gostep is a Go step of the mixed fixture: an aws-lambda-go
// handler for provided.al2023 that publishes with the AWS SDK for Go v2,
// which finds the local Kinesis through AWS_ENDPOINT_URL_KINESIS.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

var (
	client *kinesis.Client
	count  int // invocations of this worker
)

func handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	count++
	lc, _ := lambdacontext.FromContext(ctx)
	for _, r := range ev.Records {
		var p map[string]any
		if err := json.Unmarshal(r.Kinesis.Data, &p); err != nil {
			return events.KinesisEventResponse{}, err
		}
		ex, _ := p["execution_id"].(string)
		fmt.Printf("execution_id=%s go_step pid=%d invocation=%d request=%s\n", ex, os.Getpid(), count, lc.AwsRequestID)
		p["go"] = map[string]any{"pid": os.Getpid(), "invocation": count, "version": runtime.Version(), "function": lambdacontext.FunctionName}
		data, err := json.Marshal(p)
		if err != nil {
			return events.KinesisEventResponse{}, err
		}
		_, err = client.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName:   aws.String(os.Getenv("XFLOW_STREAM_GOCHECKED")),
			Data:         data,
			PartitionKey: aws.String(ex),
		})
		if err != nil {
			return events.KinesisEventResponse{}, fmt.Errorf("execution_id=%s: publish: %w", ex, err)
		}
	}
	return events.KinesisEventResponse{}, nil
}

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client = kinesis.NewFromConfig(cfg)
	lambda.Start(handle)
}
