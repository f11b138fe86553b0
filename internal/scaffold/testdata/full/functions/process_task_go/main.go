// Command process_task_go is a step of the workflow: it receives TaskSubmitted
// events and publishes TaskProcessed ones. Each Kinesis record holds one
// event, a JSON object with an execution_id that `xflow track` follows
// through the workflow.
//
// Lambda's provided.al2023 runtime runs it as an executable named
// bootstrap: `xflow synth` and `xflow deploy` compile it for Lambda (linux,
// the function's architecture), and `xflow run` for this machine; `xflow
// build` does it alone.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// processTask is the step's work: it returns the next event's data.
func processTask(task map[string]any) map[string]any {
	name, ok := task["task"].(string)
	if !ok {
		name = "a task"
	}
	return map[string]any{"result": "processed " + name}
}

// The Kinesis client, made on the first invocation and kept by the
// container.
var (
	clientOnce sync.Once
	client     *kinesis.Client
	clientErr  error
)

func handle(ctx context.Context, event events.KinesisEvent) error {
	clientOnce.Do(func() {
		cfg, err := config.LoadDefaultConfig(ctx)
		client, clientErr = kinesis.NewFromConfig(cfg), err
	})
	if clientErr != nil {
		return fmt.Errorf("load the AWS configuration: %w", clientErr)
	}
	for _, record := range event.Records {
		var task map[string]any
		if err := json.Unmarshal(record.Kinesis.Data, &task); err != nil {
			return fmt.Errorf("record %s is not a JSON event: %w", record.Kinesis.SequenceNumber, err)
		}
		executionID, _ := task["execution_id"].(string)
		if executionID == "" {
			return fmt.Errorf("record %s has no execution_id", record.Kinesis.SequenceNumber)
		}
		result := processTask(task)
		result["execution_id"] = executionID
		data, err := json.Marshal(result)
		if err != nil {
			return fmt.Errorf("execution_id=%s: encode the result: %w", executionID, err)
		}
		// Log the execution_id on every line: `xflow track` finds a failing
		// function's lines by it.
		log.Printf("execution_id=%s processed: %s", executionID, data)
		// XFLOW_EMITS lists the streams of the events this function publishes.
		for _, stream := range strings.Split(os.Getenv("XFLOW_EMITS"), ",") {
			if stream == "" {
				continue
			}
			_, err := client.PutRecord(ctx, &kinesis.PutRecordInput{
				StreamName:   aws.String(stream),
				PartitionKey: aws.String(executionID),
				Data:         data,
			})
			if err != nil {
				return fmt.Errorf("execution_id=%s: publish to %s: %w", executionID, stream, err)
			}
		}
	}
	return nil
}

func main() {
	lambda.Start(handle)
}
