package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/local"
)

// TestServerLocalAttach: `xflow server --local` on a state folder where
// `xflow run` already runs, in another process, serves that runtime: the
// events it publishes are run there, and the reports read its logs; the
// server stops without stopping it. When xflow run stops first, the server
// starts a runtime of its own.
func TestServerLocalAttach(t *testing.T) {
	_, err := exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the fixture's handlers need it", err)
	dir := copyFiles(t, "testdata/page/orders")
	config, state := filepath.Join(dir, "xflow.yaml"), filepath.Join(dir, "state")

	run := exec.Command("xflow", "run", "-c", config, "--state", state)
	runLog := &syncBuffer{}
	run.Stdout, run.Stderr = runLog, runLog
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- run.Wait() }()
	stopped := false
	stopRun := func() {
		if stopped {
			return
		}
		stopped = true
		_ = run.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("xflow run: %v after SIGTERM; its log:\n%s", err, runLog)
			}
		case <-time.After(45 * time.Second):
			_ = run.Process.Kill()
			t.Errorf("xflow run did not stop 45s after SIGTERM")
		}
	}
	t.Cleanup(stopRun)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(state, "runtime.json")); err == nil {
			break
		}
		select {
		case err := <-ran:
			t.Fatalf("xflow run exited (%v):\n%s", err, runLog)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("xflow run did not start in 2 minutes:\n%s", runLog)
		}
	}

	url, serverLog := startPageServer(t, config, "", "--state", state)
	if !strings.Contains(serverLog.String(), "a local runtime already runs on the state folder; serving it") {
		t.Errorf("the server does not say it serves the running runtime:\n%s", serverLog)
	}
	publishAndWait(t, url, "orders", "OrderPlaced", `{"execution_id": "order-1", "items": ["tea"]}`, deadline.Add(time.Minute), runLog)
	var page struct {
		Executions []struct {
			ExecutionID string `json:"execution_id"`
		} `json:"executions"`
	}
	apiGet(t, url+"/workflows/orders/executions", "", &page)
	if len(page.Executions) != 1 || page.Executions[0].ExecutionID != "order-1" {
		t.Errorf("executions %+v, want order-1", page.Executions)
	}
	select {
	case err := <-ran:
		t.Fatalf("xflow run stopped while the server ran (%v):\n%s", err, runLog)
	default:
	}

	// xflow run stops: the server starts a runtime of its own, and what it
	// accepts keeps running.
	stopRun()
	publishAndWait(t, url, "orders", "OrderPlaced", `{"execution_id": "order-2", "items": ["cake"]}`, time.Now().Add(2*time.Minute), serverLog)
	if !strings.Contains(serverLog.String(), "the local runtime this server served has stopped; starting one here") {
		t.Errorf("the server does not say it took over:\n%s", serverLog)
	}
	if _, running := local.Running(state); !running {
		t.Errorf("no runtime holds the state folder after the takeover")
	}
}

// publishAndWait publishes an event through a server and waits until its
// execution of workflow wf is finished, failing the test at deadline with
// the status it had and the log that explains it.
func publishAndWait(t *testing.T, url, wf, event, payload string, deadline time.Time, log fmt.Stringer) {
	t.Helper()
	var id struct {
		ExecutionID string `json:"execution_id"`
	}
	if err := json.Unmarshal([]byte(payload), &id); err != nil {
		t.Fatal(err)
	}
	if a, err := httpPost(url+"/publish", `{"stream": "`+event+`", "event": `+payload+`}`); err != nil || a.status != 200 {
		t.Fatalf("publish %s: %v %+v", event, err, a)
	}
	for {
		var rep struct {
			Status string `json:"status"`
		}
		apiGet(t, url+"/workflows/"+wf+"/executions/"+id.ExecutionID, "", &rep)
		if rep.Status == "finished" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %q, want finished; the log:\n%s", id.ExecutionID, rep.Status, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
