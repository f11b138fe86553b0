// Command local measures xflow's local mode on the wordcount example, with
// warm workers: how many executions per second it finishes, and how long
// each hop (an event's arrival on its stream to the next event's arrival
// on the next stream: the mapping's wake-up, the invocation, the handler,
// its boto3 PutRecord) takes.
//
// Run it from the repository's root:
//
//	go run ./bench/local
//	go run ./bench/local -n 1000 -samples 50
//
// It needs python3 with boto3. Results go to stdout as Markdown, ready for
// docs/local.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/config"
	"github.com/xflowhq/xflow/local"
)

var flow = []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}

func main() {
	path := flag.String("config", "examples/wordcount/xflow.yaml", "the wordcount `config`")
	n := flag.Int("n", 500, "executions published at once for the throughput run")
	samples := flag.Int("samples", 30, "executions run one at a time for the latency run")
	flag.Parse()
	if err := run(*path, *n, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(path string, n, samples int) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "xflow-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	rt := local.New(c, local.Options{
		StateDir: state,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		return err
	}
	defer rt.Stop(ctx)

	// Warm up: one execution starts every function's worker.
	if err := execute(ctx, rt, "warm-0"); err != nil {
		return err
	}

	// Latency: one execution at a time.
	hops := make([][]time.Duration, len(flow)-1)
	var total []time.Duration
	for i := range samples {
		id := fmt.Sprintf("lat-%d", i)
		if err := execute(ctx, rt, id); err != nil {
			return err
		}
		arrivals, err := arrivals(ctx, rt, id)
		if err != nil {
			return err
		}
		for h := range hops {
			hops[h] = append(hops[h], arrivals[h+1].Sub(arrivals[h]))
		}
		total = append(total, arrivals[len(flow)-1].Sub(arrivals[0]))
	}

	// Throughput: n executions at once.
	start := time.Now()
	for i := range n {
		p := fmt.Sprintf(`{"execution_id": "tp-%d", "message": "the quick brown fox jumps over the lazy dog %d times"}`, i, i)
		if _, err := rt.Publish(ctx, "FileUploaded", []byte(p)); err != nil {
			return err
		}
	}
	published := time.Since(start)
	if err := waitSummarized(ctx, rt, "tp-", n, 10*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)

	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	py, _ := exec.Command("python3", "--version").Output()
	fmt.Printf("## Local mode on wordcount, %s\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("Machine: %s, %d cores (%s), %s, %s %s/%s; state folder on %s; load average at the end %s.\n\n", cpuModel(), runtime.NumCPU(), host,
		strings.TrimSpace(string(py)), runtime.Version(), runtime.GOOS, runtime.GOARCH, os.TempDir(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("Throughput: %d executions published at once (%.0f ms to publish them), all %d events of each delivered, tracked and summarized in %.2f s: **%.0f executions/s** (%.0f events/s).\n\n",
		n, ms(published), len(flow), elapsed.Seconds(), float64(n)/elapsed.Seconds(), float64(n*len(flow))/elapsed.Seconds())
	fmt.Printf("Latency, %d executions one at a time, warm workers (Kinesis arrival to arrival, ms):\n\n", samples)
	fmt.Println("| hop | p50 | p90 | max |")
	fmt.Println("|---|---:|---:|---:|")
	for h, d := range hops {
		fmt.Printf("| %s → %s | %.0f | %.0f | %.0f |\n", flow[h], flow[h+1], pct(d, 50), pct(d, 90), pct(d, 100))
	}
	fmt.Printf("| whole execution | %.0f | %.0f | %.0f |\n", pct(total, 50), pct(total, 90), pct(total, 100))
	return nil
}

// execute publishes one execution and waits for its summary.
func execute(ctx context.Context, rt *local.Runtime, id string) error {
	p := fmt.Sprintf(`{"execution_id": %q, "message": "Test with ccc ccc"}`, id)
	if _, err := rt.Publish(ctx, "FileUploaded", []byte(p)); err != nil {
		return err
	}
	return waitSummarized(ctx, rt, id, 1, time.Minute)
}

// waitSummarized polls FileSummarized until it holds n executions whose
// id starts with prefix.
func waitSummarized(ctx context.Context, rt *local.Runtime, prefix string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var from int64
	seen := map[string]bool{}
	for time.Now().Before(deadline) {
		recs, err := rt.Streams().Records("FileSummarized", from, 10_000)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if strings.HasPrefix(r.PartitionKey, prefix) {
				seen[r.PartitionKey] = true
			}
			from = r.Next
		}
		if len(seen) >= n {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%d of %d executions %s* summarized after %s", len(seen), n, prefix, limit)
}

// arrivals are the Kinesis arrival times of an execution's events, from
// the tracker's log. The tracker may lag the summary by a moment.
func arrivals(ctx context.Context, rt *local.Runtime, id string) ([]time.Time, error) {
	for range 500 {
		out, err := rt.Logs().GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String("/xFlow/track/compute_word_count"), LogStreamName: aws.String(id), StartFromHead: aws.Bool(true),
		})
		if err == nil {
			at := map[string]time.Time{}
			for _, e := range out.Events {
				var entry struct {
					EventName string `json:"event_name"`
				}
				json.Unmarshal([]byte(*e.Message), &entry)
				at[entry.EventName] = time.UnixMilli(*e.Timestamp)
			}
			if len(at) == len(flow) {
				ts := make([]time.Time, len(flow))
				for i, ev := range flow {
					ts[i] = at[ev]
				}
				return ts, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil, fmt.Errorf("the tracker did not log all of %s", id)
}

func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s) - 1) * p / 100
	return ms(s[i])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
