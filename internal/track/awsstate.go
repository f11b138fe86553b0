package track

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/xflowhq/xflow/internal/esm"
)

// SQSAPI is the part of the SQS client AWSTrackerState uses.
type SQSAPI interface {
	esm.SQSAPI
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// CloudWatchAPI is the part of the CloudWatch client AWSTrackerState uses.
type CloudWatchAPI interface {
	GetMetricStatistics(ctx context.Context, params *cloudwatch.GetMetricStatisticsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricStatisticsOutput, error)
}

// iteratorAgeWindow is how far back the tracker's iterator age is read.
const iteratorAgeWindow = 10 * time.Minute

// AWSTrackerState is HealthOptions.State on AWS: the tracker's event
// source mappings (Lambda), the depth of the failure queue they send
// given-up batches to (SQS), and its iterator age (CloudWatch). What a
// policy does not allow is listed as unchecked rather than failing the
// report: the tracker's log is the main witness.
func AWSTrackerState(cfg aws.Config) func(ctx context.Context, tracker string) (*TrackerState, error) {
	return NewTrackerState(lambda.NewFromConfig(cfg), sqs.NewFromConfig(cfg), cloudwatch.NewFromConfig(cfg))
}

// NewTrackerState is AWSTrackerState with its clients.
func NewTrackerState(lc esm.LambdaAPI, sc SQSAPI, cw CloudWatchAPI) func(ctx context.Context, tracker string) (*TrackerState, error) {
	return func(ctx context.Context, tracker string) (*TrackerState, error) {
		st := &TrackerState{}
		mappings, err := esm.List(ctx, lc, tracker)
		if err != nil {
			st.Unchecked = append(st.Unchecked, "its mappings and failure queue: "+err.Error())
		}
		queues := map[string]bool{}
		for _, m := range mappings {
			st.Mappings = append(st.Mappings, TrackerMapping{
				Stream: m.Stream, State: m.State, StateReason: m.StateReason, LastProcessingResult: m.LastProcessingResult,
			})
			if esm.Service(m.Destination) == "sqs" {
				queues[m.Destination] = true
			}
		}
		for arn := range queues {
			url, err := esm.QueueURL(ctx, sc, arn)
			if err != nil {
				st.Unchecked = append(st.Unchecked, "its failure queue: "+err.Error())
				continue
			}
			out, err := sc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl:       aws.String(url),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
			})
			if err != nil {
				st.Unchecked = append(st.Unchecked, fmt.Sprintf("its failure queue %s: %v", url, err))
				continue
			}
			n, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
			if err != nil {
				st.Unchecked = append(st.Unchecked, fmt.Sprintf("its failure queue %s: no message count in SQS's answer", url))
				continue
			}
			depth := n
			if st.FailureQueueDepth != nil {
				depth += *st.FailureQueueDepth
			}
			st.FailureQueue, st.FailureQueueDepth = url, &depth
		}
		now := time.Now()
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
			Namespace:  aws.String("AWS/Lambda"),
			MetricName: aws.String("IteratorAge"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("FunctionName"), Value: aws.String(tracker)}},
			StartTime:  aws.Time(now.Add(-iteratorAgeWindow)),
			EndTime:    aws.Time(now),
			Period:     aws.Int32(60),
			Statistics: []cwtypes.Statistic{cwtypes.StatisticMaximum},
		})
		if err != nil {
			st.Unchecked = append(st.Unchecked, "its iterator age: "+err.Error())
			return st, nil
		}
		for _, d := range out.Datapoints {
			ms := int64(aws.ToFloat64(d.Maximum))
			if st.IteratorAgeMs == nil || ms > *st.IteratorAgeMs {
				st.IteratorAgeMs = &ms
			}
		}
		return st, nil
	}
}
