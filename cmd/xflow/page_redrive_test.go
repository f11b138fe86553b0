package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPageRedrive is acceptance 3 of redrive: in headless Chromium, the
// executions list filtered to the failed ones shows a local execution that
// failed; after the bug is fixed and the server started again, its page's
// Redrive button delivers the batch again and the page follows the
// execution until it finished.
func TestPageRedrive(t *testing.T) {
	chromium, err := chromiumPath()
	needTool(t, "Chromium", "install it with: apt-get install -y chromium (or set XFLOW_CHROMIUM)", err)
	_, err = exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the fixture's handlers need it", err)
	shots := t.TempDir()
	if dir := os.Getenv("XFLOW_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "page-redrive")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	dir := copyFiles(t, "testdata/redrive")
	cfg := filepath.Join(dir, "xflow.yaml")

	// The bug: pack refuses the fragile order.
	url, _, stop := runPageServer(t, cfg, "")
	for _, body := range []string{
		`{"stream": "OrderPlaced", "event": {"execution_id": "box-1", "fragile": true}}`,
		`{"stream": "OrderPlaced", "event": {"execution_id": "box-2"}}`,
	} {
		if a, err := httpPost(url+"/publish", body); err != nil || a.status != 200 {
			t.Fatalf("publish %s: %v %+v", body, err, a)
		}
	}
	waitStatuses(t, url, map[string]string{"box-1": "failed", "box-2": "finished"})
	stop()

	// The fix, and the server again.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), `PACK_BROKEN: "1"`, `PACK_BROKEN: "0"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _, _ = runPageServer(t, cfg, "")

	b := newBrowser(t, chromium, shots)
	defer b.check()
	b.do("open the workflow", 30*time.Second, chromedp.Navigate(url+"/#/workflows/shipping"),
		chromedp.WaitVisible(chromedp.CSS(`#executions tr[data-execution="box-2"]`)))
	b.do("filter the failed ones", 20*time.Second, chromedp.Click(chromedp.CSS("#filter-failed")))
	b.waitFor("the filtered list", `!!document.querySelector('#executions tr[data-execution="box-1"]') && !document.querySelector('#executions tr[data-execution="box-2"]')`, 20*time.Second)
	if r := b.requested("status=failed"); len(r) == 0 {
		t.Error("the filter did not ask the server for the failed executions")
	}
	b.shot("01-failed-only.png")

	b.do("open the failed execution", 20*time.Second, chromedp.Click(chromedp.CSS(`a[data-execution="box-1"]`)),
		chromedp.WaitVisible(chromedp.CSS("#redrive-button")))
	if got := b.text("#execution .badge"); !strings.Contains(got, "Stuck at OrderPacked: pack failing") {
		t.Errorf("box-1's status = %q", got)
	}
	b.shot("02-failed-with-redrive.png")
	b.do("redrive", 20*time.Second, chromedp.Click(chromedp.CSS("#redrive-button")))
	b.waitFor("the redrive's outcome", `(document.querySelector("#redrive-message") || {}).textContent === "Execution box-1: 1 batch redriven."`, 60*time.Second)
	if got := b.text("#redrive-result li"); !strings.Contains(got, "pack OrderPlaced") || !strings.Contains(got, "redriven") {
		t.Errorf("the redrive's batches: %q", got)
	}
	b.waitFor("the execution to finish", `!!document.querySelector('#execution .badge[data-status="finished"]')`, 2*time.Minute)
	if got := b.text("#events-count"); got != "2 of 2 events received" {
		t.Errorf("events = %q after the redrive", got)
	}
	b.shot("03-redriven-finished.png")

	if r := b.requested("POST "); len(r) != 1 || !strings.HasSuffix(r[0], "/workflows/shipping/executions/box-1/redrive") {
		t.Errorf("the page's POSTs = %v, want the one redrive", r)
	}
	waitStatuses(t, url, map[string]string{"box-1": "finished", "box-2": "finished"})
}

// waitStatuses waits until the server lists the executions with these
// statuses.
func waitStatuses(t *testing.T, url string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var page struct {
			Executions []struct {
				ExecutionID string `json:"execution_id"`
				Status      string `json:"status"`
			} `json:"executions"`
		}
		apiGet(t, url+"/workflows/shipping/executions", "", &page)
		got := map[string]string{}
		for _, e := range page.Executions {
			got[e.ExecutionID] = e.Status
		}
		done := true
		for k, v := range want {
			done = done && got[k] == v
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("executions %v after 2 minutes, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
