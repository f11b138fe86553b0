package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// initTimeout is how long Lambda lets a runtime initialize (on-demand).
const initTimeout = 10 * time.Second

// launch is how to start a function's worker process.
type launch struct {
	path     string   // the program
	args     []string // its arguments
	taskRoot string   // LAMBDA_TASK_ROOT and the working folder
	env      []string // the function's environment, but the per-worker variables
	label    string   // for INIT_START: the runtime and what plays it here
	// nodeSDK is a node_modules folder with the AWS SDK for Node.js
	// handlers, pythonSDK a folder with boto3 for Python handlers; "" when
	// there is none.
	nodeSDK, pythonSDK string
	// custom is a provided.* function: its own program speaks the Runtime
	// API, not one of xflow's bootstraps.
	custom bool
}

// function is one deployed function of the spec (a spec.Function, the
// function of a config lambda) run on this machine: its warm workers.
// Invocations take an idle worker or start one: as on Lambda, a worker
// (execution environment) runs one invocation at a time and is kept for
// the next, and concurrent invocations get environments of their own.
type function struct {
	name     string // the AWS function name
	arn      string
	timeout  time.Duration
	memoryMB int
	launch   launch
	logs     *Logs
	logGroup string

	mu      sync.Mutex
	idle    []*worker
	all     map[*worker]bool
	stopped bool
}

// invoke runs one invocation. A *FunctionError is the function's failure
// (an error it returned, a crash, a timeout); err is the runtime's.
func (f *function) invoke(ctx context.Context, payload []byte) ([]byte, *FunctionError, error) {
	w, err := f.acquire()
	if err != nil {
		return nil, nil, err
	}
	inv := newInvocation(payload, f.arn)
	result, ferr := w.run(inv)
	f.release(w)
	return result, ferr, nil
}

func (f *function) acquire() (*worker, error) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil, errStopped
	}
	for n := len(f.idle); n > 0; n = len(f.idle) {
		w := f.idle[n-1]
		f.idle = f.idle[:n-1]
		select {
		case <-w.exited:
			// It died while idle (it crashed, or its code exited): Lambda
			// would start a new environment, not fail the invocation.
			delete(f.all, w)
			go w.stop()
			continue
		default:
		}
		f.mu.Unlock()
		return w, nil
	}
	f.mu.Unlock()
	w, err := f.startWorker()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		w.stop()
		return nil, errStopped
	}
	f.all[w] = true
	return w, nil
}

// release keeps a healthy worker warm and drops a dead one.
func (f *function) release(w *worker) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.dead() || f.stopped {
		delete(f.all, w)
		go w.stop()
		return
	}
	f.idle = append(f.idle, w)
}

// stop stops every worker; invocations in flight fail.
func (f *function) stop() {
	f.mu.Lock()
	f.stopped = true
	ws := make([]*worker, 0, len(f.all))
	for w := range f.all {
		ws = append(ws, w)
	}
	f.all, f.idle = map[*worker]bool{}, nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(w.stop)
	}
	wg.Wait()
}

// worker is one warm worker process (a Lambda execution environment)
// with its own Runtime API server.
type worker struct {
	fn     *function
	api    *runtimeAPI
	cmd    *exec.Cmd
	out    *output
	stream string // its log stream

	started   time.Time
	initDone  bool
	exited    chan struct{}
	exitErr   error
	killed    bool // by the runtime: timeout or stop
	mu        sync.Mutex
	deadState bool
}

func (f *function) startWorker() (*worker, error) {
	api, err := startRuntimeAPI()
	if err != nil {
		return nil, err
	}
	stream := logStreamName(time.Now())
	pr, pw, err := os.Pipe()
	if err != nil {
		api.stop()
		return nil, fmt.Errorf("start a worker of %s: %w", f.name, err)
	}
	cmd := exec.Command(f.launch.path, f.launch.args...)
	cmd.Dir = f.launch.taskRoot
	cmd.Env = append(append([]string(nil), f.launch.env...),
		"AWS_LAMBDA_RUNTIME_API="+api.address(),
		"AWS_LAMBDA_LOG_STREAM_NAME="+stream,
	)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own process group, killed with the runtime (see workerProcAttr).
	cmd.SysProcAttr = workerProcAttr()
	w := &worker{fn: f, api: api, cmd: cmd, stream: stream, started: time.Now(), exited: make(chan struct{})}
	w.out = newOutput(f.logs, f.logGroup, stream, pr)
	w.out.mark("INIT_START Runtime Version: " + f.launch.label)
	if err := cmd.Start(); err != nil {
		pw.Close()
		api.stop()
		w.out.mark(fmt.Sprintf("INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\tError Type: Runtime.InvalidEntrypoint (%v)", err))
		return nil, fmt.Errorf("start a worker of %s: %w", f.name, err)
	}
	pw.Close() // the child holds it; EOF comes when it and its children exit
	go func() {
		w.exitErr = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// logStreamName is Lambda's name for an execution environment's log
// stream: 2026/05/01/[$LATEST]<32 hex digits>.
func logStreamName(t time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	return t.UTC().Format("2006/01/02") + "/[$LATEST]" + hex.EncodeToString(b[:])
}

func (w *worker) dead() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deadState
}

func (w *worker) markDead() {
	w.mu.Lock()
	w.deadState = true
	w.mu.Unlock()
}

// run gives the worker one invocation and waits for its end: a response,
// an error, the worker's exit, or the function's timeout.
func (w *worker) run(inv *invocation) ([]byte, *FunctionError) {
	f := w.fn
	start := time.Now()
	w.out.mark(fmt.Sprintf("START RequestId: %s Version: $LATEST", inv.id))

	// Deliver: the worker takes it at its next /next, after its init for
	// a new worker.
	var initDur time.Duration
	coldStart := !w.initDone
	inv.timeout = f.timeout
	// Lambda gives init 10 s, then retries it within the first invoke
	// under the function's timeout: a new worker has both.
	deliver := time.NewTimer(initTimeout + f.timeout)
	defer deliver.Stop()
	delivered := false
	for !delivered {
		select {
		case w.api.next <- inv:
			<-inv.taken
			delivered = true
		case fe := <-w.api.initErr:
			w.markDead()
			fe.Status = "error"
			w.kill()
			initDur = time.Since(w.started)
			w.report(inv, start, initDur, fe)
			return nil, fe
		case <-w.exited:
			w.markDead()
			fe := w.exitError(inv)
			w.report(inv, start, time.Since(w.started), fe)
			return nil, fe
		case <-deliver.C:
			w.markDead()
			w.kill()
			fe := &FunctionError{Type: "Runtime.InitTimeout", Message: fmt.Sprintf("the runtime did not ask for an invocation within %s of its start", initTimeout+f.timeout), Status: "timeout"}
			w.out.mark(fmt.Sprintf("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: timeout", ms(time.Since(w.started))))
			w.report(inv, start, 0, fe)
			return nil, fe
		}
	}
	if coldStart {
		w.initDone = true
		initDur = inv.got.Sub(w.started)
	}
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	var fe *FunctionError
	select {
	case <-inv.done:
		fe = inv.err
	case <-w.exited:
		// It may have answered just before exiting.
		select {
		case <-inv.done:
			fe = inv.err
		default:
			w.markDead()
			fe = w.exitError(inv)
			inv.finish(nil, fe)
		}
	case <-timer.C:
		if inv.finish(nil, nil) { // claim it: a late answer is refused
			w.markDead()
			w.kill()
			secs := f.timeout.Seconds()
			w.out.mark(fmt.Sprintf("%s %s Task timed out after %.2f seconds", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, secs))
			fe = &FunctionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, secs), Status: "timeout"}
			inv.err = fe
		} else {
			fe = inv.err
		}
	}
	w.report(inv, start, initDur, fe)
	if fe != nil {
		fe.requestID = inv.id
		return nil, fe
	}
	return inv.result, nil
}

// exitError is the failure of a worker that exited. Lambda's log line
// names only the exit status; what the runtime said before it died (a
// shell's "[[: not found", a panic) is the useful part, so the error that
// track and the failures file show ends with its last line of output.
func (w *worker) exitError(inv *invocation) *FunctionError {
	status := "exit status 0"
	if w.exitErr != nil {
		status = w.exitErr.Error()
	}
	last := w.out.mark(fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s\nRuntime.ExitError", inv.id, status))
	msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", inv.id, status)
	if last != "" {
		msg += "; its last output: " + clipLine(last, maxLastLine)
	}
	return &FunctionError{Type: "Runtime.ExitError", Message: msg, Status: "error"}
}

// maxLastLine bounds the line of output an exit error quotes.
const maxLastLine = 500

func clipLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// report writes END and REPORT as Lambda does, with Status for a
// timeout or a crash.
func (w *worker) report(inv *invocation, start time.Time, initDur time.Duration, fe *FunctionError) {
	f := w.fn
	d := time.Since(start)
	if initDur > 0 {
		d -= initDur
	}
	// A runtime that failed its init started before the invocation did,
	// so its init time may exceed the invocation's: the invocation then
	// ran for no time at all, never less.
	d = max(d, 0)
	line := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		inv.id, ms(d), int64(ms(d))+1, f.memoryMB, w.maxMemoryMB())
	if initDur > 0 {
		line += fmt.Sprintf("\tInit Duration: %.2f ms", ms(initDur))
	}
	if fe != nil && fe.Status != "" {
		line += "\tStatus: " + fe.Status
		if fe.Status == "error" {
			line += "\tError Type: " + fe.Type
		}
	}
	w.out.markEnd("END RequestId: "+inv.id, line)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// maxMemoryMB is the worker's peak resident memory (VmHWM).
func (w *worker) maxMemoryMB() int {
	if w.cmd.Process == nil {
		return 0
	}
	f, err := os.Open("/proc/" + strconv.Itoa(w.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return (kb + 1023) / 1024
		}
	}
	return 0
}

// kill kills the worker's process group at once.
func (w *worker) kill() {
	w.mu.Lock()
	w.killed = true
	w.mu.Unlock()
	if p := w.cmd.Process; p != nil {
		syscall.Kill(-p.Pid, syscall.SIGKILL)
	}
}

// stop ends an idle or dead worker: its long poll is answered with 410,
// on which xflow's bootstraps exit; whatever is left is killed. A custom
// runtime (aws-lambda-go, for one) takes any answer but 200 as a fatal
// error and logs it, so it gets SIGTERM instead, as Lambda shuts an
// execution environment down.
func (w *worker) stop() {
	if w.fn.launch.custom {
		w.mu.Lock()
		w.killed = true // an exit from here on is the runtime's doing
		w.mu.Unlock()
		if p := w.cmd.Process; p != nil {
			syscall.Kill(-p.Pid, syscall.SIGTERM)
		}
	} else {
		w.api.stop()
	}
	select {
	case <-w.exited:
	case <-time.After(500 * time.Millisecond):
	}
	w.kill()
	w.api.stop()
	<-w.exited
	<-w.out.done
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID is an X-Ray trace header for an untraced invocation.
func newTraceID() string {
	var b [12]byte
	rand.Read(b[:])
	var p [8]byte
	rand.Read(p[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:]), hex.EncodeToString(p[:]))
}
