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
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
)

var cpuProfile string

var flow = []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}

func main() {
	path := flag.String("config", "examples/wordcount/xflow.yaml", "the wordcount `config`")
	n := flag.Int("n", 500, "executions published at once for the throughput run")
	samples := flag.Int("samples", 30, "executions run one at a time for the latency run")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of xflow during the throughput run to `file`")
	flag.Parse()
	if err := run(*path, *n, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(path string, n, samples int) error {
	loadStart := loadAverage()
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

	// Throughput: n executions published at once, by n clients.
	loadBefore := loadAverage()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpuBefore, workersBefore := cpuTime(os.Getpid()), workersCPU()
	start := time.Now()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := fmt.Sprintf(`{"execution_id": "tp-%d", "message": "the quick brown fox jumps over the lazy dog %d times"}`, i, i)
			if _, err := rt.Publish(ctx, "FileUploaded", []byte(p)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	published := time.Since(start)
	if err := waitSummarized(ctx, rt, "tp-", n, 10*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	cpuXflow, cpuWorkers := cpuTime(os.Getpid())-cpuBefore, workersCPU()-workersBefore
	invocations, err := countInvocations(ctx, rt)
	if err != nil {
		return err
	}

	host, _ := os.Hostname()
	py, _ := exec.Command("python3", "--version").Output()
	fmt.Printf("## Local mode on wordcount, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("Machine: %s, %d cores (%s), %s, %s %s/%s; state folder on %s; load average (1, 5, 15 min) at the start %s, before the throughput run %s, at the end %s.\n\n", cpuModel(), runtime.NumCPU(), host,
		strings.TrimSpace(string(py)), runtime.Version(), runtime.GOOS, runtime.GOARCH, os.TempDir(), loadStart, loadBefore, loadAverage())
	fmt.Printf("Throughput: %d executions published at once (%.0f ms to publish them), all %d events of each delivered, tracked and summarized in %.2f s: **%.0f executions/s** (%.0f events/s).\n\n",
		n, ms(published), len(flow), elapsed.Seconds(), float64(n)/elapsed.Seconds(), float64(n*len(flow))/elapsed.Seconds())
	fmt.Printf("CPU during the throughput run: xflow %.1f s, the handlers' workers %.1f s (%.1f ms per execution in all, %.1f ms of it the handlers'), in %d invocations of the handlers since the start (%d records each on average).\n\n",
		cpuXflow.Seconds(), cpuWorkers.Seconds(), ms((cpuXflow+cpuWorkers)/time.Duration(n)), ms(cpuWorkers/time.Duration(n)),
		invocations, ((n+samples+1)*(len(flow)-1)+invocations/2)/max(invocations, 1))
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
		// Not too often: this process is the runtime's too, and its
		// reads would count as the runtime's work.
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%d of %d executions %s* summarized after %s", len(seen), n, prefix, limit)
}

// arrivals are the Kinesis arrival times of an execution's events, from
// the tracker's log. The tracker may lag the summary by a moment.
func arrivals(ctx context.Context, rt *local.Runtime, id string) ([]time.Time, error) {
	for range 2000 {
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

// countInvocations counts the REPORT lines of the handlers' logs.
func countInvocations(ctx context.Context, rt *local.Runtime) (int, error) {
	n := 0
	for _, fn := range []string{"lambda_reader", "lambda_parser", "lambda_filter", "lambda_aggregator", "lambda_summarizer"} {
		var token *string
		for {
			out, err := rt.Logs().FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
				LogGroupName: aws.String("/aws/lambda/" + fn), FilterPattern: aws.String(`"REPORT RequestId"`), NextToken: token,
			})
			if err != nil {
				return 0, err
			}
			n += len(out.Events)
			if token = out.NextToken; token == nil {
				break
			}
		}
	}
	return n, nil
}

// cpuTime is the CPU time (user and system) a process used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks: USER_HZ is 100 on Linux
}

// workersCPU is the CPU time of this process's children: the workers.
func workersCPU() time.Duration {
	var total time.Duration
	dirs, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == me {
			pid, _ := strconv.Atoi(d.Name())
			total += cpuTime(pid)
		}
	}
	return total
}

// loadAverage is the machine's load average over 1, 5 and 15 minutes:
// the machine is shared, and the figures mean little without it.
func loadAverage() string {
	load, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(load))[:3], " ")
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
