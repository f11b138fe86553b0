package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

// KinesisAPI is the part of the Kinesis client the AWS backend uses.
type KinesisAPI interface {
	publish.KinesisAPI
	DescribeStreamSummary(ctx context.Context, params *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// LogsAPI is the part of the CloudWatch Logs client the AWS backend uses:
// track's reads and DescribeLogStreams, which lists executions.
type LogsAPI interface {
	track.LogsAPI
	LogStreamsAPI
}

// AWS is the Backend of a workflow deployed on AWS: events go to their
// Kinesis streams, reports and executions are read from CloudWatch Logs.
// It is safe for concurrent use.
type AWS struct {
	config    *config.Config
	region    string
	kinesis   KinesisAPI
	publisher *publish.Publisher
	logs      LogsAPI
	// limiter paces every request's CloudWatch Logs reads together: the
	// quota is per account, not per request.
	limiter *track.Limiter
	// health reads the trackers' mappings, queues and iterator age;
	// redriver redrives.
	health   func(ctx context.Context, tracker string) (*track.TrackerState, error)
	redriver *redrive.AWS
}

// maxIdleConnsPerHost keeps connections to AWS open for as many requests
// in flight as a busy server has; the SDK's default keeps 10 and opens a
// new connection (a TLS handshake) for every request beyond.
const maxIdleConnsPerHost = 128

// NewAWS returns the AWS backend of c, with the SDK configuration cfg
// (see internal/awsconfig).
func NewAWS(cfg aws.Config, c *config.Config) *AWS {
	switch hc := cfg.HTTPClient.(type) {
	case nil:
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(moreIdleConns)
	case *awshttp.BuildableClient:
		cfg.HTTPClient = hc.WithTransportOptions(moreIdleConns)
	}
	kin := kinesis.NewFromConfig(cfg)
	return &AWS{
		config:    c,
		region:    cfg.Region,
		kinesis:   kin,
		publisher: publish.New(kin, c),
		logs:      cloudwatchlogs.NewFromConfig(cfg),
		limiter:   track.NewLimiter(track.DefaultRate),
		health:    track.AWSTrackerState(cfg),
		redriver:  redrive.NewAWS(cfg, c),
	}
}

func moreIdleConns(t *http.Transport) {
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	t.MaxIdleConns = max(t.MaxIdleConns, maxIdleConnsPerHost)
}

// Publish puts a prepared event on its stream.
func (a *AWS) Publish(ctx context.Context, rec *publish.Record) (publish.Result, error) {
	return a.publisher.Send(ctx, rec)
}

// Track reads the execution's tracking log and its producers' logs.
func (a *AWS) Track(ctx context.Context, workflowID, executionID string) (*track.Report, error) {
	return track.Track(ctx, a.logs, a.config, workflowID, executionID, track.Options{Limiter: a.limiter})
}

// CheckTracker checks the workflow's tracker of a report not found or in
// progress: its log, its mappings, its failure queue, its iterator age.
func (a *AWS) CheckTracker(ctx context.Context, rep *track.Report) error {
	return track.CheckTracker(ctx, a.logs, a.config, rep, track.HealthOptions{Limiter: a.limiter, State: a.health})
}

// Redrive delivers again what the functions of a workflow gave up on of
// one execution, from their failure queues and the stacks' buckets.
func (a *AWS) Redrive(ctx context.Context, workflowID, executionID string, dryRun bool) (*redrive.ExecutionReport, error) {
	return redrive.ForExecution(ctx, a.config, workflowID, executionID, dryRun, a.redriver.Redrive)
}

// Executions lists a workflow's executions from the log streams of its
// tracker's log group, by DescribeLogStreams ordered by last event time.
// CloudWatch Logs updates a stream's last event time eventually, so an
// execution that just moved on may take a while to come first.
func (a *AWS) Executions(ctx context.Context, workflowID string, limit int, token string) (ExecutionsPage, error) {
	group := names.New(a.config.General.NamePrefix).TrackerLogGroup(workflowID)
	return describeExecutions(ctx, a.logs, group, limit, token)
}

// MissingStream is a stream of the config that does not exist.
type MissingStream struct {
	Event, Stream string
}

// MissingStreamsError says which streams of a config are missing, and how
// to create them.
type MissingStreamsError struct {
	File, Region string
	Total        int
	Missing      []MissingStream
}

func (e *MissingStreamsError) Error() string {
	file := e.File
	if file == "" {
		file = "xflow.yaml"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of the %d streams of %s do not exist in %s:\n", len(e.Missing), e.Total, file, e.Region)
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "  %s (event %s)\n", m.Stream, m.Event)
	}
	fmt.Fprintf(&b, "deploy the workflow first: xflow deploy -c %s, "+
		"or start the server with --deploy; if it is deployed, check the region and general.name_prefix", file)
	return b.String()
}

// checkConcurrency bounds the DescribeStreamSummary calls in flight:
// Kinesis allows 20 per second per account.
const checkConcurrency = 8

// CheckStreams asks Kinesis, concurrently, whether every stream of the
// config exists. Missing streams are a *MissingStreamsError naming each;
// any other failure (AWS unreachable, no credentials) is returned as is.
func (a *AWS) CheckStreams(ctx context.Context) error {
	scheme := names.New(a.config.General.NamePrefix)
	events := a.config.Events()
	missing := make([]bool, len(events))
	errs := make([]error, len(events))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, ev := range events {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			stream := scheme.Stream(ev)
			_, err := a.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			if _, ok := errors.AsType[*types.ResourceNotFoundException](err); ok {
				missing[i] = true
			} else if err != nil {
				errs[i] = fmt.Errorf("check stream %s of event %s: %w", stream, ev, err)
			}
		})
	}
	wg.Wait()
	// One stream's failure tells the story (AWS unreachable, no
	// credentials); the others would repeat it.
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	e := &MissingStreamsError{File: a.config.File, Region: a.region, Total: len(events)}
	for i, m := range missing {
		if m {
			e.Missing = append(e.Missing, MissingStream{Event: events[i], Stream: scheme.Stream(events[i])})
		}
	}
	if len(e.Missing) > 0 {
		return e
	}
	return nil
}
