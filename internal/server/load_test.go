package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/publish"
)

// Size of the load test. moto answers every PutRecord in Python, so it
// sets the pace; loadBudget bounds the whole run.
const (
	loadPublishes = 10_000
	loadClients   = 50
	loadBudget    = 8 * time.Minute
)

// TestLoad publishes 10,000 events from 50 concurrent clients through the
// server on loopback to Kinesis on moto, then reads the stream back: every
// 200 is exactly one record, with the sequence number the answer gave,
// nothing else landed, and no answer is a 5xx. It logs the latency
// percentiles (a figure, not a bound).
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short; the load test sends 10,000 requests through moto")
	}
	m := newOnMoto(t, "load")
	srv := New(Options{Config: m.c, Backend: m.backend, Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopServer, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(stopServer, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/publish"

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: loadClients},
		Timeout:   2 * time.Minute,
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadBudget)
	defer cancel()

	type outcome struct {
		status  int
		latency time.Duration
		seq     string
		err     error
	}
	outcomes := make([]outcome, loadPublishes)
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range loadClients {
		wg.Go(func() {
			for i := range jobs {
				id := fmt.Sprintf("load-%05d", i)
				body := fmt.Sprintf(`{"stream": "FileUploaded", "event": {"execution_id": %q, "i": %d}}`, id, i)
				req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
				if err != nil {
					outcomes[i].err = err
					continue
				}
				req.Header.Set("Authorization", "Bearer "+testToken)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					outcomes[i] = outcome{err: err, latency: time.Since(t0)}
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				o := outcome{status: resp.StatusCode, latency: time.Since(t0), err: err}
				if o.status == 200 {
					var res publish.Result
					if err := json.Unmarshal(b, &res); err != nil || res.ExecutionID != id || res.SequenceNumber == "" {
						o.err = fmt.Errorf("answer %s: %v", b, err)
					}
					o.seq = res.SequenceNumber
				} else {
					o.err = fmt.Errorf("status %d: %s", o.status, b)
				}
				outcomes[i] = o
			}
		})
	}
feed:
	for i := range loadPublishes {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	var ok, fivexx, failed int
	var latencies []time.Duration
	for i, o := range outcomes {
		switch {
		case o.status == 200 && o.err == nil:
			ok++
			latencies = append(latencies, o.latency)
		case o.status >= 500:
			fivexx++
		}
		if o.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("publish %d: %v", i, o.err)
			}
		}
	}
	if ctx.Err() != nil {
		t.Errorf("the load did not finish within %s: %d of %d publishes answered 200 in %s", loadBudget, ok, loadPublishes, elapsed.Round(time.Second))
	}
	if fivexx > 0 || failed > 0 {
		t.Errorf("%d answers were 5xx, %d requests failed in all", fivexx, failed)
	}

	// Read the stream back and match every record to its answer, by
	// execution id (the partition key) and sequence number.
	readStart := time.Now()
	recs := kinesistest.Read(t, m.kinesis, m.scheme.Stream("FileUploaded"))
	readTime := time.Since(readStart)
	byID := map[string][]string{}   // execution id → sequence numbers of its records
	bySeq := map[string][]string{}  // sequence number → execution ids answered 200 with it
	onStream := map[string]string{} // sequence number → execution id of the record
	for _, r := range recs {
		id, seq := aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber)
		byID[id] = append(byID[id], seq)
		onStream[seq] = id
	}
	for i, o := range outcomes {
		if o.status == 200 {
			bySeq[o.seq] = append(bySeq[o.seq], fmt.Sprintf("load-%05d", i))
		}
	}
	// moto's Shard.put_record is not safe for concurrency (it says so): two
	// PutRecords at once can get the same sequence number, and the second
	// record replaces the first. Real Kinesis never answers a sequence
	// number twice. Such a pair is counted apart, and only when the stream
	// holds exactly one of the two, under that number.
	var lost, duplicated, wrongSeq, unanswered, overwritten int
	for i, o := range outcomes {
		id := fmt.Sprintf("load-%05d", i)
		got := byID[id]
		switch {
		case o.status != 200:
			if len(got) > 0 {
				unanswered++
			}
		case len(bySeq[o.seq]) > 1 && len(got) == 0 && slices.Contains(bySeq[o.seq], onStream[o.seq]):
			overwritten++
		case len(got) == 0:
			lost++
		case len(got) > 1:
			duplicated++
		case got[0] != o.seq:
			wrongSeq++
		}
	}
	for seq, id := range onStream {
		if !slices.Contains(bySeq[seq], id) {
			unanswered++
		}
	}
	if lost+duplicated+wrongSeq+unanswered > 0 || len(recs)+overwritten != ok {
		t.Errorf("%d records on the stream for %d answers 200: %d lost, %d duplicated, %d under another sequence number, %d without a 200; %d overwritten by moto",
			len(recs), ok, lost, duplicated, wrongSeq, unanswered, overwritten)
	}
	if overwritten > 0 {
		t.Logf("moto answered %d sequence numbers twice to concurrent PutRecords and kept one record of each pair (moto/kinesis/models.py: Shard.put_record is not safe for concurrency); those %d records are moto's loss, not the server's", overwritten, overwritten)
	}

	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Round(100 * time.Microsecond)
	}
	t.Logf("load: %d publishes from %d clients in %s (%.0f/s): %d answered 200, %d 5xx; latency p50 %s, p90 %s, p99 %s, max %s; "+
		"%d records read back in %s and matched to their answers by execution id and sequence number",
		loadPublishes, loadClients, elapsed.Round(10*time.Millisecond), float64(ok)/elapsed.Seconds(), ok, fivexx,
		pct(0.50), pct(0.90), pct(0.99), pct(1), len(recs), readTime.Round(10*time.Millisecond))
}
