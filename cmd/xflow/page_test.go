package main

// The tracking page end to end, in a real headless Chromium driven through
// the DevTools protocol (chromedp): `xflow server --local` runs as a
// subprocess on the wordcount example and on a fixture whose handler
// raises, and the test uses the page as a person would.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/exampletest"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/pipeline"
)

// needTool skips a test when a tool it needs is missing, visibly, and
// fails it on CI, where .ci/run provides the tool.
func needTool(t *testing.T, what, how string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := "SKIP: " + what + " is not available (" + err.Error() + "); " + how
	if os.Getenv("CI") != "" {
		t.Fatal(msg + ", and CI is set")
	}
	t.Skip(msg)
}

// chromiumPath finds Chromium: $XFLOW_CHROMIUM, else Debian's chromium on
// PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("XFLOW_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	var firstErr error
	for _, name := range []string{"chromium", "chromium-browser"} {
		p, err := exec.LookPath(name)
		if err == nil {
			return p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// copyFiles copies the files of a folder (not its subfolders) into a new
// temporary folder, so that the server's state folder lands there.
func copyFiles(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startPageServer runs `xflow server --local` on a config as a subprocess
// (the test binary is xflow on PATH, see TestMain) and returns its URL and
// its log. At the end of the test it is stopped with SIGTERM and must exit
// 0.
func startPageServer(t *testing.T, config, token string, flags ...string) (string, *syncBuffer) {
	t.Helper()
	url, log, _ := runPageServer(t, config, token, flags...)
	return url, log
}

// runPageServer is startPageServer that also returns a stop function, for
// a test that stops the server before its end; stopping twice stops once.
func runPageServer(t *testing.T, config, token string, flags ...string) (string, *syncBuffer, func()) {
	t.Helper()
	args := append([]string{"server", "-c", config, "--local", "--addr", "127.0.0.1:0"}, flags...)
	cmd := exec.Command("xflow", args...)
	cmd.Env = append(os.Environ(), envToken+"="+token, envAddr+"=")
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start xflow server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("xflow server on %s: %v after SIGTERM, want exit 0; its log:\n%s", config, err, stderr)
				}
			case <-time.After(45 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("xflow server on %s did not stop 45s after SIGTERM; its log:\n%s", config, stderr)
			}
			if t.Failed() {
				t.Logf("log of xflow server on %s:\n%s", config, stderr)
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1] + m[2], stderr, stop
		}
		select {
		case err := <-exited:
			t.Fatalf("xflow server on %s exited before listening (%v):\n%s", config, err, stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("xflow server on %s is not listening after 2 minutes:\n%s", config, stderr)
	return "", nil, nil
}

// browser is a headless Chromium tab that records every request the page
// makes and every console error, and refuses requests that would leave
// loopback.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots

	mu        sync.Mutex
	requests  []string // "METHOD URL", in order
	offLimits []string // requests to another host, refused
	errors    []string // console errors and uncaught exceptions
	got401    []string // the 401s the test provoked on purpose
	allow401  bool
}

// loopback reports whether a URL the page requests stays on this machine.
func loopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	case "http", "https", "ws", "wss":
		switch u.Hostname() {
		case "127.0.0.1", "localhost", "::1":
			return true
		}
	}
	return false
}

func newBrowser(t *testing.T, chromium, screenshots string) *browser {
	t.Helper()
	var chromeOut syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these Chromium calls Google's hosts in the background,
		// which this closed network refuses.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&chromeOut),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx, dir: screenshots}
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", chromeOut.String())
		}
	})

	// Every request the page makes, in order.
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.requests = append(b.requests, ev.Request.Method+" "+ev.Request.URL)
			if !loopback(ev.Request.URL) {
				b.offLimits = append(b.offLimits, ev.Request.Method+" "+ev.Request.URL)
			}
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium (%s): %v\n%s", chromium, err, chromeOut.String())
	}

	// Console errors and uncaught exceptions. A 401 the test provokes
	// shows as a failed resource load; it is expected once.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			text := fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			b.mu.Lock()
			if b.allow401 && m.Source == "network" && strings.Contains(m.Text, "401") {
				b.got401 = append(b.got401, text)
			} else {
				b.errors = append(b.errors, text)
			}
			b.mu.Unlock()
		}
	}()

	// And a second line of defence: every request is paused until the
	// test lets it go, and one to another host is failed, so that nothing
	// leaves this machine even if the page tried.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if loopback(ev.Request.URL) {
				_, err = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			} else {
				_, err = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			}
			if err != nil && ctx.Err() == nil {
				b.mu.Lock()
				b.errors = append(b.errors, "intercepting "+ev.Request.URL+": "+err.Error())
				b.mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		t.Fatalf("intercept the page's requests: %v", err)
	}
	return b
}

// do runs actions, failing the test with what the page shows.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, b.mainText())
	}
}

// waitFor polls a JavaScript expression until it is true.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		b.t.Fatalf("waiting for %s: %v\nthe page shows:\n%s", what, err, b.mainText())
	}
}

// text is the visible text of the first element matching a CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v\nthe page shows:\n%s", sel, err, b.mainText())
	}
	return s
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// mainText is what the page shows, for failure messages.
func (b *browser) mainText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// shot saves a screenshot of the whole page as a PNG.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// requested is the requests so far that contain s.
func (b *browser) requested(s string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.requests {
		if strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

// check fails the test on a request off loopback or a console error.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		b.t.Error("no request of the page was seen: the network listener does not work")
	}
	for _, r := range b.offLimits {
		b.t.Errorf("the page requested a host other than loopback: %s", r)
	}
	for _, e := range b.errors {
		b.t.Errorf("console: %s", e)
	}
	if len(b.got401) > 1 {
		b.t.Errorf("%d 401s in the console, want the one provoked: %v", len(b.got401), b.got401)
	}
}

// apiGet decodes a JSON answer of the server.
func apiGet(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// TestPageEndToEnd: on the wordcount example served with a token, the
// page asks for the token (a wrong one brings the prompt back), draws the
// workflow, refuses a payload without execution_id before sending it,
// starts an execution through its form and shows it finished with all six
// events received. On a fixture whose handler raises for an order without
// items, the failed execution is listed as stuck and its page shows the
// failing function's traceback. No request leaves loopback, and the
// console has no error. Screenshots go to $XFLOW_ARTIFACTS/page (or a
// temporary folder); the log names the folder.
func TestPageEndToEnd(t *testing.T) {
	chromium, err := chromiumPath()
	needTool(t, "Chromium", "install it with: apt-get install -y chromium (or set XFLOW_CHROMIUM)", err)
	_, err = exec.Command("python3", "-c", "import boto3").CombinedOutput()
	needTool(t, "python3 with boto3", "the example's handlers need it", err)

	shots := t.TempDir()
	if dir := os.Getenv("XFLOW_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "page")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots of the tracking page in %s", shots)

	const token = "page-test-t0ken"
	wordcount := exampletest.Copy(t, "")
	orders := copyFiles(t, "testdata/page/orders")
	damageRecord(t, filepath.Join(orders, "xflow.yaml"), "OrderPlaced", `{"execution_id": "order-damaged", "items": ["cup"]}`)
	wcURL, _ := startPageServer(t, filepath.Join(wordcount, "xflow.yaml"), token)
	ordersURL, _ := startPageServer(t, filepath.Join(orders, "xflow.yaml"), "")

	// The fixture's executions, published as another client would: one
	// order the handler refuses, one it accepts.
	for _, body := range []string{
		`{"stream": "OrderPlaced", "event": {"execution_id": "order-bad", "items": []}}`,
		`{"stream": "OrderPlaced", "event": {"execution_id": "order-ok", "items": ["book", "pen"]}}`,
	} {
		if a, err := httpPost(ordersURL+"/publish", body); err != nil || a.status != 200 {
			t.Fatalf("publish %s: %v %+v", body, err, a)
		}
	}

	b := newBrowser(t, chromium, shots)
	defer b.check()

	// The token: asked for before any call, a wrong one refused.
	b.do("open the page", 30*time.Second, chromedp.Navigate(wcURL+"/"), chromedp.WaitVisible(chromedp.CSS("#auth-token")))
	b.shot("01-token-prompt.png")
	b.mu.Lock()
	b.allow401 = true
	b.mu.Unlock()
	b.do("give a wrong token", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#auth-token"), "not-the-token"+kb.Enter))
	b.waitFor("the prompt to come back", `document.querySelector("#auth-error").textContent.includes("refused")`, 10*time.Second)
	b.mu.Lock()
	b.allow401 = false
	b.mu.Unlock()
	b.do("give the token", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#auth-token"), token+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`a[href="#/workflows/compute_word_count"]`)))
	if got := b.eval(`[...document.querySelectorAll(".flow .step-name")].map(e => e.textContent).join(" ")`); got != "FileUploaded FileDownloaded FileParsed FileFiltered FileAggregated FileSummarized" {
		t.Errorf("the workflow's flow drawn = %q", got)
	}
	if got := b.eval(`document.querySelector(".flow").innerText`); !strings.Contains(got, "lambda_reader") || !strings.Contains(got, "lambda_summarizer") {
		t.Errorf("the flow does not name the subscribers:\n%s", got)
	}
	b.shot("02-workflows.png")

	// The workflow's page: its form checks the payload before sending it.
	b.do("open the workflow", 20*time.Second, chromedp.Click(chromedp.CSS(`a[href="#/workflows/compute_word_count"]`)),
		chromedp.WaitVisible(chromedp.CSS("#payload")))
	b.do("write a payload without execution_id", 10*time.Second, chromedp.SetValue(chromedp.CSS("#payload"), `{"message": "no id"}`),
		chromedp.Click(chromedp.CSS(`#start-form button[type="submit"]`)))
	b.waitFor("the payload error", `document.querySelector("#payload-error").textContent.includes("execution_id")`, 5*time.Second)
	if got := b.eval(`document.querySelector("#payload").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the payload field is not marked invalid: aria-invalid=%q", got)
	}
	if r := b.requested("/publish"); len(r) > 0 {
		t.Errorf("an invalid payload was sent: %v", r)
	}
	b.do("ask for a new execution id", 10*time.Second, chromedp.Click(chromedp.CSS(`#start-form button.secondary`)))
	var payload map[string]any
	generated := b.eval(`document.querySelector("#payload").value`)
	if err := json.Unmarshal([]byte(generated), &payload); err != nil || !strings.HasPrefix(fmt.Sprint(payload["execution_id"]), "ex-") || payload["message"] != "no id" {
		t.Fatalf("the form's generated payload = %s (%v), want a new ex-… execution_id and the message kept", generated, err)
	}
	executionID := payload["execution_id"].(string)
	payload["message"] = "It's a cat, a CAT and 2 cats! cat cat."
	text, _ := json.Marshal(payload)
	// The keyboard reaches the submit button from the field.
	b.do("fill the form", 10*time.Second, chromedp.SetValue(chromedp.CSS("#payload"), string(text)), chromedp.Focus(chromedp.CSS("#payload")),
		chromedp.KeyEvent(kb.Tab))
	if got := b.eval(`document.activeElement.tagName + " " + document.activeElement.textContent`); got != "BUTTON Publish FileUploaded" {
		t.Errorf("Tab from the payload focuses %q, want the submit button", got)
	}
	b.shot("03-start-form.png")
	b.do("start the execution", 10*time.Second, chromedp.KeyEvent(kb.Enter))

	// The execution's page refreshes by itself until it finished.
	b.waitFor("the execution's page", fmt.Sprintf(`location.hash === "#/workflows/compute_word_count/executions/%s"`, executionID), 10*time.Second)
	if got := b.text("#published"); !strings.Contains(got, "Published FileUploaded as record") {
		t.Errorf("no word of the publish: %q", got)
	}
	b.waitFor("the execution to finish", `!!document.querySelector('#execution .badge[data-status="finished"]')`, 2*time.Minute)
	if got := b.text("#events-count"); got != "6 of 6 events received" {
		t.Errorf("events = %q, want 6 of 6 events received", got)
	}
	if got := b.eval(`String(document.querySelectorAll("#execution .flow .step-received").length)`); got != "6" {
		t.Errorf("%s events drawn as received, want 6", got)
	}
	if got := b.text("#live"); !strings.Contains(got, "finished") {
		t.Errorf("the page still says it refreshes: %q", got)
	}
	b.do("open the last event's payload", 10*time.Second, chromedp.Click(chromedp.CSS(`details[data-key^="FileSummarized/"] summary`)))
	if got := b.text(`details[data-key^="FileSummarized/"] pre`); !strings.Contains(got, `"summary"`) || !strings.Contains(got, `"cat": 3`) {
		t.Errorf("FileSummarized's payload:\n%s", got)
	}
	b.shot("04-execution-finished.png")

	// The executions of the workflow list it, finished.
	b.do("back to the workflow", 20*time.Second, chromedp.Click(chromedp.CSS(`.crumbs a[href="#/workflows/compute_word_count"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#executions tr[data-execution=%q]`, executionID))))
	if got := b.text(fmt.Sprintf(`#executions tr[data-execution=%q] .badge`, executionID)); got != "Finished" {
		t.Errorf("the execution's status in the list = %q", got)
	}
	b.shot("05-executions.png")

	// The fixture: wait until the server has tracked both executions.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var page struct {
			Executions []struct {
				ExecutionID string `json:"execution_id"`
				Status      string `json:"status"`
			} `json:"executions"`
		}
		apiGet(t, ordersURL+"/workflows/orders/executions", "", &page)
		status := map[string]string{}
		for _, e := range page.Executions {
			status[e.ExecutionID] = e.Status
		}
		if status["order-bad"] == "failed" && status["order-ok"] == "finished" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixture's executions are %v after 2 minutes, want order-bad failed and order-ok finished", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.do("open the fixture's workflow", 30*time.Second, chromedp.Navigate(ordersURL+"/#/workflows/orders"),
		chromedp.WaitVisible(chromedp.CSS(`#executions tr[data-execution="order-bad"]`)))
	if got := b.text(`#executions tr[data-execution="order-bad"] .badge`); got != "Stuck at OrderChecked: check_order failing" {
		t.Errorf("order-bad's status in the list = %q", got)
	}
	b.shot("06-orders-executions.png")
	b.do("open the failed execution", 20*time.Second, chromedp.Click(chromedp.CSS(`a[data-execution="order-bad"]`)),
		chromedp.WaitVisible(chromedp.CSS("#producers")))
	logs := b.text("#producers")
	for _, want := range []string{"check_order", "Traceback (most recent call last)", "in count_items", "ValueError: execution_id=order-bad has no items to check"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the failed execution's page lacks %q:\n%s", want, logs)
		}
	}
	// check_order gave up on the record (retry_attempts: 0): its dead letter.
	b.do("the dead letter", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#dead-letters")))
	if got := b.text("#dead-letters"); !strings.Contains(got, "check_order gave up on the OrderPlaced batch") || !strings.Contains(got, "RetryAttemptsExhausted") {
		t.Errorf("the dead letters panel says %q", got)
	}
	if got := b.text("#next-expected"); got != "OrderChecked" {
		t.Errorf("next expected = %q, want OrderChecked", got)
	}
	if got := b.eval(`document.querySelector('#execution .flow [data-event="OrderChecked"]').className`); !strings.Contains(got, "step-failed") {
		t.Errorf("OrderChecked is drawn as %q, want step-failed", got)
	}
	b.shot("07-execution-failed.png")

	// An execution whose first record was damaged on disk before the
	// runtime started: the page says so, and where the bytes went.
	b.do("open the damaged execution", 20*time.Second, chromedp.Navigate(ordersURL+"/#/workflows/orders/executions/order-damaged"),
		chromedp.WaitVisible(chromedp.CSS("#damage")))
	if got := b.text("#damage"); !strings.Contains(got, "the OrderPlaced record at") || !strings.Contains(got, "quarantine") {
		t.Errorf("the damage panel says %q", got)
	}
	if got := b.text("#execution .badge"); got != "Stuck at OrderPlaced: a record damaged on disk" {
		t.Errorf("the damaged execution's status = %q", got)
	}
	b.shot("07b-execution-damaged.png")

	// At a phone's width the same pages stay readable.
	b.do("a phone's width", 10*time.Second, chromedp.EmulateViewport(390, 844))
	b.shot("08-phone-execution-failed.png")
	b.do("the list at a phone's width", 20*time.Second, chromedp.Navigate(ordersURL+"/#/workflows/orders"),
		chromedp.WaitVisible(chromedp.CSS(`#executions tr[data-execution="order-ok"]`)))
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("at 390 px the page is %s px wide: it scrolls sideways", w)
	}
	b.shot("09-phone-executions.png")

	if r := b.requested("POST "); len(r) != 1 || !strings.HasSuffix(r[0], "/publish") {
		t.Errorf("the page's POSTs = %v, want the one publish", r)
	}
	if !slices.ContainsFunc(b.requested("GET "), func(r string) bool { return strings.Contains(r, "/workflows/compute_word_count/executions?") }) {
		t.Error("the page never listed the executions")
	}
}

// TestLoopback: the browser test's rule for the hosts a page may reach.
func TestLoopback(t *testing.T) {
	for url, want := range map[string]bool{
		"http://127.0.0.1:8080/workflows": true,
		"http://localhost/":               true,
		"http://[::1]:9/":                 true,
		"data:image/png;base64,xx":        true,
		"about:blank":                     true,
		"https://www.google.com/":         false,
		"http://127.0.0.1.nip.io/":        false,
		"http://10.0.0.1/":                false,
		"wss://example.com/":              false,
		"chrome://newtab/":                false,
		"://bad":                          false,
	} {
		if got := loopback(url); got != want {
			t.Errorf("loopback(%q) = %v, want %v", url, got, want)
		}
	}
}

// damageRecord publishes an event into the default state folder of a
// config, as publish --local does, and flips a byte of its data on disk,
// as a failing disk might.
func damageRecord(t *testing.T, cfgPath, event, payload string) {
	t.Helper()
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := pipeline.LayoutOf(c).State()
	if _, err := local.Publish(context.Background(), state, c, event, []byte(payload)); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(state, "streams", event, "00000000000000000000.rec")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x01 // in the data of the record, the last
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
