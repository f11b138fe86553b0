package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/publish"
)

// TestBodyErrors: a body that cannot be read is the client's fault: cut
// short before its Content-Length or with a malformed chunk, 400
// invalid_body; too slow, 408 request_timeout. Each is logged as a
// client error (level INFO, with its code), never as a failure of the
// server, and the backend is not called.
func TestBodyErrors(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	backend := &fakeBackend{publish: func(context.Context, *publish.Record) (publish.Result, error) {
		t.Error("the backend was called with a body that could not be read")
		return publish.Result{}, errors.New("no")
	}}
	log, logs := testLogger()
	s := New(Options{Config: testConfig("p-"), Backend: backend, Logger: log, ReadTimeout: readTimeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	const head = "POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name    string
		request string
		close   bool // close the client's side once the request is written
		status  int
		code    string
	}{
		{name: "short Content-Length", request: head + "Content-Length: 100\r\n\r\n{\"stream\": \"FileUploaded\"", close: true, status: 400, code: codeInvalidBody},
		{name: "bad chunk", request: head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", status: 400, code: codeInvalidBody},
		{name: "chunked, cut short", request: head + "Transfer-Encoding: chunked\r\n\r\n10\r\n{\"stream\"", close: true, status: 400, code: codeInvalidBody},
		{name: "slow body", request: head + "Content-Length: 100\r\n\r\n{\"stream\"", status: 408, code: codeRequestTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			if tt.close {
				conn.(*net.TCPConn).CloseWrite()
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			var got struct {
				Error Error `json:"error"`
			}
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != tt.status || got.Error.Code != tt.code {
				t.Errorf("answer %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if tt.status == 408 && time.Since(start) > readTimeout+5*time.Second {
				t.Errorf("the 408 took %s, with a read timeout of %s", time.Since(start), readTimeout)
			}
		})
	}
	for _, l := range logLines(t, logs) {
		if l["level"] != "INFO" {
			t.Errorf("logged at %v, want INFO for a client's error: %v", l["level"], l)
		}
		if l["msg"] == "request" && l["error"] != codeInvalidBody && l["error"] != codeRequestTimeout {
			t.Errorf("request logged without its code: %v", l)
		}
	}
}

// TestHostCheck: a server without a token answers only requests for a
// loopback name or address, or a host given in AllowedHosts, so that a
// DNS-rebinding page (Host: evil.example, with matching same-origin fetch
// headers) cannot publish; with a token, the token decides.
func TestHostCheck(t *testing.T) {
	calls := 0
	backend := &fakeBackend{publish: func(_ context.Context, rec *publish.Record) (publish.Result, error) {
		calls++
		return published(rec), nil
	}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := New(Options{Config: testConfig("p-"), Backend: backend, Logger: quiet, AllowedHosts: []string{"xflow.internal", "proxy.example:8443"}})
	withToken := New(Options{Config: testConfig("p-"), Backend: backend, Logger: quiet, Token: testToken})
	body := `{"stream": "FileUploaded", "event": {"execution_id": "ex1"}}`
	tests := []struct {
		host   string
		server *Server
		token  string
		status int
	}{
		{"127.0.0.1:8080", open, "", 200},
		{"localhost:8080", open, "", 200},
		{"LOCALHOST", open, "", 200},
		{"[::1]:8080", open, "", 200},
		{"127.0.0.2", open, "", 200},
		{"app.localhost:8080", open, "", 200},
		{"xflow.internal:8080", open, "", 200},
		{"Xflow.Internal", open, "", 200},
		{"proxy.example:8443", open, "", 200},
		{"proxy.example:9999", open, "", 403},
		{"evil.example:8080", open, "", 403},
		{"127.0.0.1.nip.io:8080", open, "", 403},
		{"192.168.1.10:8080", open, "", 403},
		{"0.0.0.0:8080", open, "", 403},
		{"evil.example:8080", withToken, "", 401},
		{"evil.example:8080", withToken, testToken, 200},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "http://"+tt.host+"/publish", strings.NewReader(body))
		req.Host = tt.host
		// What a page of evil.example sends once its name points at
		// 127.0.0.1: a same-origin fetch.
		req.Header.Set("Origin", "http://"+tt.host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		before := calls
		rec := httptest.NewRecorder()
		tt.server.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("Host %s (token %v): %d %s, want %d", tt.host, tt.server == withToken, rec.Code, rec.Body, tt.status)
		}
		if tt.status == 403 && (calls != before || !strings.Contains(rec.Body.String(), `"code":"host_not_allowed"`)) {
			t.Errorf("Host %s: published %d, answer %s; want nothing published and host_not_allowed", tt.host, calls-before, rec.Body)
		}
	}
	// The page and /ping too: the whole server is not for that name.
	req := httptest.NewRequest("GET", "/ping", nil)
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	open.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("GET /ping for evil.example: %d", rec.Code)
	}
}

// TestBlankOrPaddedToken: a token no client can send is refused at start,
// by CheckAddr and by Serve, whatever the address: " " passed for a token
// beyond loopback, and "abc " could never match.
func TestBlankOrPaddedToken(t *testing.T) {
	tests := []struct {
		token string
		ok    bool
	}{
		{"", true},
		{"s3cret", true},
		{"two words", true},
		{" ", false},
		{"\t\n", false},
		{"abc ", false},
		{" abc", false},
		{"ab\x00c", false},
		{"ab\x1bc", false},
	}
	for _, tt := range tests {
		for _, addr := range []string{"127.0.0.1:8080", "0.0.0.0:8080"} {
			err := CheckAddr(context.Background(), addr, tt.token)
			if tt.token == "" && addr == "0.0.0.0:8080" {
				continue // no token beyond loopback: ErrNoToken, tested elsewhere
			}
			if (err == nil) != tt.ok {
				t.Errorf("CheckAddr(%s, %q) = %v, want ok %v", addr, tt.token, err, tt.ok)
			}
		}
		if err := CheckToken(tt.token); err != nil && strings.Contains(err.Error(), tt.token) && strings.TrimSpace(tt.token) != "" {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Config: testConfig("p-"), Backend: &fakeBackend{}, Token: "abc ", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// Bounded: a server that accepted the token would serve until stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Serve(ctx, ln); err == nil || !strings.Contains(err.Error(), "whitespace") {
		t.Errorf("Serve with a padded token = %v, want it refused at once", err)
	}
}
