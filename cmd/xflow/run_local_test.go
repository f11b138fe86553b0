package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
)

// TestRunCheckRepair: on a state folder where one record's bytes were
// damaged and a checkpoint points past the end of its stream, `run
// --check` lists both and what repair would do, changes nothing and exits
// 1; `run` refuses to start, naming the checkpoint file and --repair;
// `run --repair` repairs, runs a new execution to its end, and `track
// --local` shows the damaged execution as failed by the damage. Then
// --check finds nothing left to repair.
func TestRunCheckRepair(t *testing.T) {
	cfgPath, _ := filepath.Abs("../../examples/wordcount/xflow.yaml")
	state := t.TempDir()
	base := []string{"-c", cfgPath, "--state", state}
	for i := 1; i <= 3; i++ {
		if code, _, errs := xflow(t, "", append([]string{"publish", "--local", "FileUploaded", `{"execution_id": "ex` + strconv.Itoa(i) + `", "message": "a b"}`}, base...)...); code != 0 {
			t.Fatalf("publish ex%d: %s", i, errs)
		}
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	streams, err := local.OpenStreams(state, c)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := streams.Records("FileUploaded", 0, 10)
	streams.Close()
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records (%v)", len(recs), err)
	}
	seg := filepath.Join(state, "streams", "FileUploaded", "00000000000000000000.rec")
	b, _ := os.ReadFile(seg)
	b[recs[1].Next-4] ^= 0x01 // in ex2's data
	os.WriteFile(seg, b, 0o644)
	cp := filepath.Join(state, "checkpoints", "FileUploaded", "lambda_reader")
	os.MkdirAll(filepath.Dir(cp), 0o755)
	os.WriteFile(cp, []byte("99999999\n"), 0o644)
	before, _ := os.ReadFile(seg)

	code, out, errs := xflow(t, "", append([]string{"run", "--check"}, base...)...)
	if code != 1 {
		t.Errorf("run --check exited %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"stream FileUploaded: 1 segment, 2 records",
		"damaged: stream FileUploaded, sequence number " + recs[1].SequenceNumber(),
		"executions ex2",
		"repair would move it to the end of the stream",
		cp + ": 99999999 is past the end",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run --check does not say %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "2 things to repair") || !strings.Contains(errs, "xflow run --repair") {
		t.Errorf("run --check: stderr %q", errs)
	}
	if after, _ := os.ReadFile(seg); !bytes.Equal(before, after) {
		t.Error("run --check changed the segment")
	}
	if _, err := os.Stat(filepath.Join(state, "quarantine")); err == nil {
		t.Error("run --check made a quarantine folder")
	}

	// Without --repair the start stops at the checkpoint.
	code, _, errs = xflow(t, "", append([]string{"run"}, base...)...)
	if code != 1 || !strings.Contains(errs, cp) || !strings.Contains(errs, "--repair") {
		t.Errorf("run with a checkpoint past the end: exit %d\n%s", code, errs)
	}
	if code, _, _ := xflow(t, "", append([]string{"run", "--check", "--repair"}, base...)...); code != 2 {
		t.Errorf("run --check --repair exited %d, want 2 (usage)", code)
	}

	_, err = exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the example's handlers need it", err)
	t.Setenv(config.EnvTimeoutTime, "60") // a cold boto3 on a loaded machine
	code, out, errs = xflow(t, "", append([]string{"run", "--repair", "--publish", "FileUploaded", `{"execution_id": "ex4", "message": "c d"}`, "--wait"}, base...)...)
	if code != 0 || !strings.Contains(out, "execution ex4: finished") {
		t.Fatalf("run --repair --wait: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "repaired checkpoint "+cp) {
		t.Errorf("run --repair does not say it repaired the checkpoint:\n%s", errs)
	}
	code, out, _ = xflow(t, "", append([]string{"track", "--local", "compute_word_count", "ex2"}, base...)...)
	if code != 0 || !strings.Contains(out, "execution ex2: failed") || !strings.Contains(out, "damaged: the FileUploaded record at sequence number "+recs[1].SequenceNumber()) {
		t.Errorf("track ex2 (exit %d):\n%s", code, out)
	}
	code, out, errs = xflow(t, "", append([]string{"run", "--check"}, base...)...)
	if code != 0 || !strings.Contains(errs, "nothing to repair") || !strings.Contains(out, "1 damaged stretch found before is in") {
		t.Errorf("run --check after the repair: exit %d\n%s%s", code, out, errs)
	}
}

// TestRunKilledLeavesNoWorker: within a second of a SIGKILL of `xflow
// run`, none of its workers runs.
func TestRunKilledLeavesNoWorker(t *testing.T) {
	_, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the fixture's handlers need it", err)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc to find the workers in")
	}
	dir := copyFiles(t, "testdata/page/orders")
	cfgPath, state := filepath.Join(dir, "xflow.yaml"), filepath.Join(dir, "state")
	runCmd := exec.Command("xflow", "run", "-c", cfgPath, "--state", state)
	log := &syncBuffer{}
	runCmd.Stdout, runCmd.Stderr = log, log
	if err := runCmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { runCmd.Wait(); close(exited) }()
	t.Cleanup(func() { runCmd.Process.Kill(); <-exited })
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Publish(context.Background(), state, c, "OrderPlaced", []byte(`{"execution_id": "order-1", "items": ["tea"]}`)); err != nil {
		t.Fatal(err)
	}
	var workers []int
	deadline := time.Now().Add(2 * time.Minute)
	for len(workers) < 2 { // check_order, then ship_order
		select {
		case <-exited:
			t.Fatalf("xflow run exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("xflow run started %d workers in 2 minutes, want 2:\n%s", len(workers), log)
		}
		time.Sleep(50 * time.Millisecond)
		workers = childrenOf(runCmd.Process.Pid)
	}
	if err := runCmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, pid := range workers {
		for alive(pid) {
			if time.Since(killed) > time.Second {
				t.Fatalf("worker %d still runs %s after xflow run was killed", pid, time.Since(killed).Round(time.Millisecond))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// childrenOf are the processes whose parent is pid.
func childrenOf(pid int) []int {
	dirs, _ := os.ReadDir("/proc")
	var out []int
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(p); ok && ppid == pid && state != "Z" {
			out = append(out, p)
		}
	}
	return out
}

// alive tells whether a process runs: it exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat reads a process's parent and state from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}
