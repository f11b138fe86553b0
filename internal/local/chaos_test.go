package local_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
)

// chaosConfig writes the chaos fixture into a temporary folder with its
// mark folder filled in.
func chaosConfig(t *testing.T) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl := mustRead(t, "testdata/chaos/xflow.yaml.tmpl")
	yaml := strings.ReplaceAll(string(tmpl), "{{MARK_DIR}}", marks)
	if err := os.WriteFile(filepath.Join(dir, "xflow.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "py_chaos.py"), mustRead(t, "testdata/chaos/py_chaos.py"), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadConfig(t, filepath.Join(dir, "xflow.yaml")), marks
}

// TestTimeoutRetryBisect: nine records reach a handler in one batch. One
// hangs the first time: the worker is killed at the function's timeout
// and replaced, and the batch is delivered again. One always fails:
// bisect isolates it, retries give up on it alone, and its metadata goes
// to the on-failure destination. No other record is lost, and the tracker
// logs every record of both streams exactly once.
func TestTimeoutRetryBisect(t *testing.T) {
	t.Parallel()
	needPython(t)
	c, marks := chaosConfig(t)
	rt := start(t, c, local.Options{StateDir: filepath.Join(t.TempDir(), "state")})
	modes := map[int]string{2: "hang", 6: "bad"}
	for i := range 9 {
		p := map[string]any{"execution_id": "job-" + string(rune('0'+i))}
		if m, ok := modes[i]; ok {
			p["mode"] = m
		}
		b, _ := json.Marshal(p)
		publishAll(t, rt, "Jobs", string(b))
	}
	waitIdle(t, rt, 3*time.Minute)

	jobs, err := rt.Streams().Records("Jobs", 0, 100)
	if err != nil || len(jobs) != 9 {
		t.Fatalf("Jobs holds %d records (%v)", len(jobs), err)
	}
	hangSeq, badSeq := jobs[2].SequenceNumber(), jobs[6].SequenceNumber()

	// Deliveries: the first batch held all nine; the hanging record was
	// delivered again, to a new worker.
	var deliveries []struct {
		PID  int
		Seqs []string
	}
	for _, l := range strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(marks, "deliveries.jsonl")))), "\n") {
		var d struct {
			PID  int
			Seqs []string
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		deliveries = append(deliveries, d)
	}
	if len(deliveries[0].Seqs) != 9 {
		t.Fatalf("the first batch held %d records, want all 9 (batch window)", len(deliveries[0].Seqs))
	}
	var hangPIDs []int
	for _, d := range deliveries {
		for _, s := range d.Seqs {
			if s == hangSeq {
				hangPIDs = append(hangPIDs, d.PID)
			}
		}
	}
	if len(hangPIDs) < 2 || hangPIDs[0] == hangPIDs[len(hangPIDs)-1] {
		t.Errorf("the hanging record went to workers %v; want a second delivery to a new worker", hangPIDs)
	}
	logs := strings.Join(groupLines(t, rt.Logs(), "/aws/lambda/py_chaos", ""), "\n")
	for _, s := range []string{"Task timed out after 2.00 seconds", "Status: timeout"} {
		if !strings.Contains(logs, s) {
			t.Errorf("py_chaos's log lacks %q", s)
		}
	}

	// None lost: every record but the bad one produced a Done.
	done, err := rt.Streams().Records("Done", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	produced := map[string]int{}
	for _, r := range done {
		var d struct {
			SourceSeq string `json:"source_seq"`
		}
		json.Unmarshal(r.Data, &d)
		produced[d.SourceSeq]++
	}
	for i, r := range jobs {
		n := produced[r.SequenceNumber()]
		if i == 6 && n != 0 || i != 6 && n == 0 {
			t.Errorf("job-%d (record %s) produced %d Done records", i, r.SequenceNumber(), n)
		}
	}

	// The bad record alone went to the on-failure destination, after the
	// attempt that isolated it and its two retries.
	dl := strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(rt.StateDir(), "failures", "py_chaos.jsonl")))), "\n")
	if len(dl) != 1 {
		t.Fatalf("%d on-failure records, want 1:\n%s", len(dl), strings.Join(dl, "\n"))
	}
	var f struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		KinesisBatchInfo struct {
			StartSequenceNumber string `json:"startSequenceNumber"`
			EndSequenceNumber   string `json:"endSequenceNumber"`
			BatchSize           int    `json:"batchSize"`
		} `json:"KinesisBatchInfo"`
	}
	json.Unmarshal([]byte(dl[0]), &f)
	if f.KinesisBatchInfo.BatchSize != 1 || f.KinesisBatchInfo.StartSequenceNumber != badSeq || f.KinesisBatchInfo.EndSequenceNumber != badSeq ||
		f.RequestContext.Condition != "RetryAttemptsExhausted" || f.RequestContext.ApproximateInvokeCount != 3 {
		t.Errorf("on-failure record %s; want record %s alone, RetryAttemptsExhausted after 3 invocations", dl[0], badSeq)
	}

	// The tracker: each record of each stream once, under its execution,
	// by sequence number; nothing that is not in a stream.
	want := map[string]string{} // event/seq -> execution
	for _, ev := range []string{"Jobs", "Done"} {
		recs, _ := rt.Streams().Records(ev, 0, 1000)
		for _, r := range recs {
			want[ev+"/"+r.SequenceNumber()] = r.PartitionKey
		}
	}
	seen := map[string]int{}
	for i := range 9 {
		ex := "job-" + string(rune('0'+i))
		for _, e := range trackerEntries(t, rt.Logs(), "chaos", ex) {
			k := e.EventName + "/" + e.SequenceNumber
			if want[k] != ex {
				t.Errorf("tracker entry %s under %s is not a record of %s", k, ex, ex)
			}
			seen[k]++
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("record %s is in the tracker log %d times, want once", k, seen[k])
		}
	}
}
