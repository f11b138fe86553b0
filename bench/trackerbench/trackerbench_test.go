package trackerbench

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/awstest"
)

// BenchmarkTrackerBatch is the same measure as `go run
// ./bench/cmd/trackerbench`, for `go test -bench`: each iteration is a
// batch of 1,000 records over 10 executions the container already knows.
func BenchmarkTrackerBatch(b *testing.B) {
	client := cloudwatchlogs.NewFromConfig(awstest.Config(b))
	var calls, records float64
	for b.Loop() {
		cases, err := Run(context.Background(), client, Options{Rounds: 1})
		if err != nil {
			b.Fatal(err)
		}
		steady := cases[1]
		calls += steady.CallsPerRecord
		records += steady.RecordsPerSecond
	}
	b.ReportMetric(calls/float64(b.N), "calls/record")
	b.ReportMetric(records/float64(b.N), "records/s")
}

// TestTrackerBench keeps the benchmark's numbers honest: one PutLogEvents
// per execution and batch, and one CreateLogStream per new execution.
func TestTrackerBench(t *testing.T) {
	client := cloudwatchlogs.NewFromConfig(awstest.Config(t))
	cases, err := Run(context.Background(), client, Options{Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	fresh, steady := cases[0], cases[1]
	if fresh.CreateLogStream != 10 || fresh.PutLogEvents != 10 || steady.CreateLogStream != 0 || steady.PutLogEvents != 10 {
		t.Errorf("calls per batch: new executions %d+%d, known %d+%d; want 10+10 and 0+10",
			fresh.CreateLogStream, fresh.PutLogEvents, steady.CreateLogStream, steady.PutLogEvents)
	}
}
