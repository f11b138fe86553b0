package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
)

// The Lambda Runtime API (2018-06-01), as AWS documents it, served on
// loopback to one worker process: the worker asks for the next invocation
// (a long poll), then posts its response or its error; a runtime that
// cannot start posts an init error. Every worker has a server of its own,
// so a request needs no routing and a worker that is killed takes nothing
// else down.
const runtimeAPIPrefix = "/2018-06-01/runtime"

// The Runtime API's headers.
const (
	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// Error types of the Runtime API's answers, and of the function errors
// it records, as Lambda and the emulator name them.
const (
	errTypeInvalidRequestID       = "InvalidRequestID"
	errTypeInvalidStateTransition = "InvalidStateTransition"
	errTypeRequestEntityTooLarge  = "RequestEntityTooLarge"
	errTypeInvalidRequest         = "InvalidRequest"
	errTypeStopped                = "Runtime.Stopped"
	errTypeResponseSizeTooLarge   = "Function.ResponseSizeTooLarge"
)

// The runtime's states, named as the emulator names them in its
// InvalidStateTransition messages. A worker starts, takes an invocation
// (/next: Running), answers it (InvocationResponse or
// InvocationErrorResponse, then ResponseSent) and takes the next. An
// answer when no invocation runs is refused with 403, as the emulator
// refuses it; a /next while one runs is allowed, as there, and waits.
const (
	stateStarted       = "Started"
	stateRunning       = "Running"
	stateResponse      = "InvocationResponse"
	stateErrorResponse = "InvocationErrorResponse"
	stateResponseSent  = "RuntimeResponseSentState"
)

// stateTransitionFailed is the emulator's message for a refused answer.
const stateTransitionFailed = "State transition from %s to %s failed for runtime. Error: State transition is not allowed"

// invocation is one call of a function.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	arn      string
	traceID  string

	once    sync.Once
	done    chan struct{}
	result  []byte         // the response, when err is nil
	err     *FunctionError // the function's error
	timeout time.Duration
	taken   chan struct{} // closed when the worker took it
	got     time.Time     // when; the deadline counts from then
}

func newInvocation(payload []byte, arn string) *invocation {
	return &invocation{id: newRequestID(), payload: payload, arn: arn, traceID: newTraceID(), done: make(chan struct{}), taken: make(chan struct{})}
}

// finish completes the invocation once; later calls report false.
func (inv *invocation) finish(result []byte, err *FunctionError) bool {
	ok := false
	inv.once.Do(func() {
		inv.result, inv.err, ok = result, err, true
		close(inv.done)
	})
	return ok
}

// FunctionError is a failed invocation: the error document a runtime
// posted (errorType, errorMessage, stackTrace), or one the local runtime
// made for a timeout or a crash, as Lambda does.
type FunctionError struct {
	Type    string          `json:"errorType"`
	Message string          `json:"errorMessage"`
	Raw     json.RawMessage `json:"-"` // the document as posted
	// Status is what Lambda's REPORT line says: "" for an error the
	// function returned, "timeout" or "error" when Lambda stopped it.
	Status string `json:"-"`

	requestID string
}

func (e *FunctionError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// runtimeAPI is one worker's server.
type runtimeAPI struct {
	ln  net.Listener
	srv *http.Server

	next     chan *invocation // invocations for the worker to take
	initErr  chan *FunctionError
	stopping chan struct{}

	mu      sync.Mutex
	pending map[string]*invocation // taken, not yet answered
	state   string
	stopped bool
}

func startRuntimeAPI() (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Lambda Runtime API: %w", err)
	}
	a := &runtimeAPI{
		ln:       ln,
		next:     make(chan *invocation),
		initErr:  make(chan *FunctionError, 1),
		stopping: make(chan struct{}),
		pending:  map[string]*invocation{},
		state:    stateStarted,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimeAPIPrefix+"/invocation/next", a.handleNext)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/response", a.handleResponse)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/invocation/{id}/error", a.handleError)
	mux.HandleFunc("POST "+runtimeAPIPrefix+"/init/error", a.handleInitError)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *runtimeAPI) address() string { return a.ln.Addr().String() }

// stop ends the long poll and closes the server.
func (a *runtimeAPI) stop() {
	a.mu.Lock()
	if !a.stopped {
		a.stopped = true
		close(a.stopping)
	}
	a.mu.Unlock()
	a.srv.Close()
}

func (a *runtimeAPI) handleNext(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-a.next:
	case <-a.stopping:
		apiError(w, http.StatusGone, errTypeStopped, "the local runtime is stopping")
		return
	case <-r.Context().Done():
		return
	}
	a.mu.Lock()
	a.pending[inv.id] = inv
	a.state = stateRunning
	a.mu.Unlock()
	// The deadline counts from here, as Lambda's does from the invoke
	// after init.
	inv.got = time.Now()
	inv.deadline = inv.got.Add(inv.timeout)
	close(inv.taken)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, inv.arn)
	h.Set(headerTraceID, inv.traceID)
	w.Write(inv.payload)
}

// take answers an invocation: to (stateResponse or stateErrorResponse)
// is the transition asked for, refused as the emulator refuses it when no
// invocation runs.
func (a *runtimeAPI) take(w http.ResponseWriter, r *http.Request, to string) (*invocation, []byte, bool) {
	id := r.PathValue("id")
	a.mu.Lock()
	if a.state != stateRunning {
		from := a.state
		a.mu.Unlock()
		apiError(w, http.StatusForbidden, errTypeInvalidStateTransition, fmt.Sprintf(stateTransitionFailed, from, to))
		return nil, nil, false
	}
	inv, ok := a.pending[id]
	if ok {
		delete(a.pending, id)
		a.state = stateResponseSent
	}
	a.mu.Unlock()
	if !ok {
		apiError(w, http.StatusBadRequest, errTypeInvalidRequestID, "Invalid request ID")
		return nil, nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, spec.MaxResponseBytes+1))
	if err != nil {
		inv.finish(nil, &FunctionError{Type: "Runtime.Unknown", Message: "reading the response: " + err.Error(), Status: "error"})
		apiError(w, http.StatusBadRequest, errTypeInvalidRequest, err.Error())
		return nil, nil, false
	}
	return inv, body, true
}

func (a *runtimeAPI) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv, body, ok := a.take(w, r, stateResponse)
	if !ok {
		return
	}
	if len(body) > spec.MaxResponseBytes {
		inv.finish(nil, &FunctionError{Type: errTypeResponseSizeTooLarge, Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", spec.MaxResponseBytes)})
		apiError(w, http.StatusRequestEntityTooLarge, errTypeRequestEntityTooLarge, fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", spec.MaxResponseBytes))
		return
	}
	inv.finish(body, nil)
	accepted(w)
}

func (a *runtimeAPI) handleError(w http.ResponseWriter, r *http.Request) {
	inv, body, ok := a.take(w, r, stateErrorResponse)
	if !ok {
		return
	}
	inv.finish(nil, parseFunctionError(body, r.Header.Get(headerErrorType)))
	accepted(w)
}

func (a *runtimeAPI) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, spec.MaxResponseBytes))
	fe := parseFunctionError(body, r.Header.Get(headerErrorType))
	select {
	case a.initErr <- fe:
	default: // one is enough
	}
	accepted(w)
}

func parseFunctionError(body []byte, headerType string) *FunctionError {
	fe := &FunctionError{}
	if json.Unmarshal(body, fe) != nil || fe.Type == "" && fe.Message == "" {
		fe.Message = string(body)
	}
	if json.Valid(body) {
		fe.Raw = append(json.RawMessage(nil), body...)
	}
	if fe.Type == "" {
		fe.Type = headerType
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

// errStopped is returned by invocations refused because the runtime stops.
var errStopped = errors.New("the local runtime is stopping")
