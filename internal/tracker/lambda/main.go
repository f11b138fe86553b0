// Command bootstrap is the tracker Lambda of one workflow (runtime
// provided.al2023): it writes every event of the workflow's streams to the
// workflow's tracking log group. Build it with
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./internal/tracker/lambda
//
// Environment: XFLOW_TRACK_LOG_GROUP (required) names the log group;
// XFLOW_NAME_PREFIX is the naming scheme's prefix, stripped from stream
// names to get event names.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

func main() {
	h, err := newHandler(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "xflow tracker: %v\n", err)
		os.Exit(1)
	}
	// The handler itself, not h.Handle: its Invoke decodes each record's
	// data alone, so one record that is not base64 is rejected and logged
	// instead of failing the whole batch.
	lambda.Start(h)
}

func newHandler(ctx context.Context, getenv func(string) string) (*tracker.Handler, error) {
	group := getenv(tracker.EnvLogGroup)
	if group == "" {
		return nil, fmt.Errorf("%s is not set; it must name the workflow's tracking log group, such as %s",
			tracker.EnvLogGroup, names.New("").TrackerLogGroup("<workflow_id>"))
	}
	if err := names.CheckLogGroup(group); err != nil {
		return nil, fmt.Errorf("%s: %w", tracker.EnvLogGroup, err)
	}
	prefix := getenv(names.EnvPrefix)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return &tracker.Handler{
		Logs:     cloudwatchlogs.NewFromConfig(cfg),
		LogGroup: group,
		Names:    names.New(prefix),
		Log:      slog.New(slog.NewJSONHandler(os.Stdout, nil)),
	}, nil
}
