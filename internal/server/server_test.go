package server

// These tests use fake backends: what AWS can answer, panics, logs,
// addresses and stopping.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
)

// TestBackendErrors maps what a backend can fail with to a status: AWS's
// faults are 5xx other than 500, and a bug is a 500 with its cause in the
// log only.
func TestBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		hidden     string // in the log, never in the answer
	}{
		{"throttled", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecord",
			Err: &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "Rate exceeded for shard"}},
			503, "aws_throttled", "1", "Rate exceeded for shard"},
		{"access denied", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecord",
			Err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:iam::123456789012:user/x is not authorized"}},
			502, "aws_error", "", "arn:aws:iam::123456789012"},
		{"unreachable", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecord",
			Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}},
			502, "aws_unreachable", "", "connection refused"},
		{"no credentials", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecord",
			Err: errors.New("failed to refresh cached credentials, no EC2 IMDS role found")},
			502, "aws_error", "", "no EC2 IMDS role found"},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), 504, "aws_timeout", "", ""},
		{"stream not found", &publish.Error{Kind: publish.ErrStreamNotFound, Msg: "stream p-FileUploaded of event FileUploaded does not exist"},
			503, "stream_not_found", "", ""},
		{"bug", errors.New("nil map somewhere"), 500, "internal", "", "nil map somewhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail := func(context.Context) error { return tc.err }
			backend := &fakeBackend{
				publish: func(ctx context.Context, _ *publish.Record) (publish.Result, error) {
					return publish.Result{}, fail(ctx)
				},
				track: func(ctx context.Context, _, _ string) (*track.Report, error) { return nil, fail(ctx) },
			}
			log, logs := testLogger()
			ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Logger: log}).Handler())
			defer ts.Close()
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/publish", `{"stream": "FileUploaded", "event": {"execution_id": "ex-1"}}`},
				{"GET", "/track/workflows/compute_word_count/executions/ex-1", ""},
			} {
				a := do(t, ts.Client(), req.method, ts.URL+req.path, "", strings.NewReader(req.body))
				if a.Status != tc.status || a.Error.Code != tc.code {
					t.Errorf("%s %s: %d %s, want %d %s", req.method, req.path, a.Status, a.Body, tc.status, tc.code)
				}
				if got := a.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
				}
				if tc.hidden != "" && strings.Contains(string(a.Body), tc.hidden) {
					t.Errorf("the answer shows the cause %q: %s", tc.hidden, a.Body)
				}
			}
			if tc.hidden != "" && !strings.Contains(logs.String(), tc.hidden) {
				t.Errorf("the log lacks the cause %q:\n%s", tc.hidden, logs)
			}
		})
	}
}

// TestPanicRecovered: a handler that panics answers a JSON 500, logs the
// panic with its stack, and the server goes on serving.
func TestPanicRecovered(t *testing.T) {
	backend := &fakeBackend{
		publish: func(context.Context, *publish.Record) (publish.Result, error) { panic("boom in the backend") },
	}
	log, logs := testLogger()
	ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Logger: log}).Handler())
	defer ts.Close()
	a := do(t, ts.Client(), "POST", ts.URL+"/publish", "", strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-1"}}`))
	if a.Status != 500 || a.Error.Code != "internal" || strings.Contains(string(a.Body), "boom") {
		t.Errorf("panic: %d %s", a.Status, a.Body)
	}
	if a := do(t, ts.Client(), "GET", ts.URL+"/ping", "", nil); a.Status != 200 {
		t.Errorf("ping after a panic: %d", a.Status)
	}
	var panicLogged, requestLogged bool
	for _, l := range logLines(t, logs) {
		if l["msg"] == "panic serving a request" && l["panic"] == "boom in the backend" && strings.Contains(fmt.Sprint(l["stack"]), "server.(*fakeBackend).Publish") {
			panicLogged = true
		}
		if l["msg"] == "request" && l["path"] == "/publish" && l["status"] == float64(500) && l["level"] == "ERROR" {
			requestLogged = true
		}
	}
	if !panicLogged || !requestLogged {
		t.Errorf("panic logged %v, request logged as a 500 %v:\n%s", panicLogged, requestLogged, logs)
	}
}

// TestRequestLog: one line per request with method, path, route, status,
// duration and bytes; never the token nor the event.
func TestRequestLog(t *testing.T) {
	backend := &fakeBackend{
		publish: func(_ context.Context, rec *publish.Record) (publish.Result, error) { return published(rec), nil },
	}
	log, logs := testLogger()
	ts := httptest.NewServer(New(Options{Config: testConfig("p-"), Backend: backend, Token: testToken, Logger: log}).Handler())
	defer ts.Close()
	const secret = "card-4111111111111111"
	a := do(t, ts.Client(), "POST", ts.URL+"/publish", testToken, strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-1", "card": "`+secret+`"}}`))
	if a.Status != 200 {
		t.Fatalf("publish: %d %s", a.Status, a.Body)
	}
	do(t, ts.Client(), "POST", ts.URL+"/publish", "wrong-"+testToken, strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-1", "card": "`+secret+`"}}`))
	do(t, ts.Client(), "GET", ts.URL+"/ping", "", nil)

	lines := logLines(t, logs)
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), logs)
	}
	for i, want := range []struct {
		path, route string
		status      float64
		bytes       int
		errCode     any
	}{
		{"/publish", "POST /publish", 200, len(a.Body), nil},
		{"/publish", "POST /publish", 401, -1, "unauthorized"},
		{"/ping", "GET /ping", 200, -1, nil},
	} {
		l := lines[i]
		if l["msg"] != "request" || l["path"] != want.path || l["route"] != want.route || l["status"] != want.status || l["error"] != want.errCode {
			t.Errorf("line %d: %v", i, l)
		}
		if _, ok := l["duration"].(float64); !ok {
			t.Errorf("line %d has no duration: %v", i, l)
		}
		if b, ok := l["bytes"].(float64); !ok || b <= 0 || (want.bytes >= 0 && int(b) != want.bytes) {
			t.Errorf("line %d: bytes %v, want %d", i, l["bytes"], want.bytes)
		}
	}
	for _, leak := range []string{testToken, secret} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log shows %q:\n%s", leak, logs)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:8080", "", true},
		{"[::1]:8080", "", true},
		{"127.0.0.2:0", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"[::]:8080", "", false},
		{"192.168.1.10:8080", "", false},
		{"0.0.0.0:8080", "s3cret", true},
		{":8080", "s3cret", true},
	} {
		err := CheckAddr(context.Background(), tc.addr, tc.token)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNoToken)) {
			t.Errorf("CheckAddr(%q, token %v) = %v, want ok %v", tc.addr, tc.token != "", err, tc.ok)
		}
	}
	if err := CheckAddr(context.Background(), "8080", ""); err == nil || errors.Is(err, ErrNoToken) {
		t.Errorf("an address without a port: %v", err)
	}
}

// TestServeRefusesAllInterfaces checks the address actually bound.
func TestServeRefusesAllInterfaces(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Config: testConfig("p-"), Backend: &fakeBackend{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	err = s.Serve(context.Background(), ln)
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "XFLOW_API_TOKEN") {
		t.Errorf("Serve on %s without a token = %v", ln.Addr(), err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the refused listener still accepts connections")
	}
}

// slowServer serves with a backend whose Publish waits for release; it
// tells when a publish has started.
func slowServer(t *testing.T, shutdown time.Duration) (s *Server, started chan string, release chan struct{}, logs *syncBuffer) {
	started, release = make(chan string, 10), make(chan struct{})
	backend := &fakeBackend{
		publish: func(ctx context.Context, rec *publish.Record) (publish.Result, error) {
			started <- rec.ExecutionID
			select {
			case <-release:
				return published(rec), nil
			case <-ctx.Done():
				return publish.Result{}, ctx.Err()
			}
		},
	}
	log, logs := testLogger()
	return New(Options{Config: testConfig("p-"), Backend: backend, Logger: log, ShutdownTimeout: shutdown}), started, release, logs
}

// TestGracefulStop cancels the server's context while a slow publish is
// in flight: new connections are refused, the publish completes with its
// 200, and Serve returns nil.
func TestGracefulStop(t *testing.T) {
	s, started, release, logs := slowServer(t, 10*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(url+"/publish", "application/json", strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-slow"}}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	stop() // as SIGTERM does through signal.NotifyContext

	// The server stops accepting while the publish is still in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 5s after the stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case r := <-done:
		t.Fatalf("the request ended before it was released: %+v", r)
	default:
	}

	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"execution_id":"ex-slow"`) {
		t.Errorf("the request in flight: %+v", r)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no stop in the log:\n%s", logs)
	}
}

// TestStopTimeout: a request still running when the shutdown timeout
// ends is cut off, and Serve says so.
func TestStopTimeout(t *testing.T) {
	s, started, _, _ := slowServer(t, 200*time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/publish", "application/json", strings.NewReader(`{"stream": "FileUploaded", "event": {"execution_id": "ex-stuck"}}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	stop()
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "still in flight") {
			t.Errorf("Serve = %v, want the requests cut off", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its shutdown timeout")
	}
}
