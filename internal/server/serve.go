package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Timeouts of the HTTP server: a client that sends its headers or body
// slowly (slowloris) cannot hold a connection for long, and an idle
// keep-alive connection is closed after a while.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// writeMargin is added to the longest Backend timeout for WriteTimeout,
	// which runs from the end of the headers to the end of the answer.
	writeMargin = 30 * time.Second
)

// ErrNoToken means the server was asked to listen beyond loopback without
// a token; errors.Is tells it.
var ErrNoToken = errors.New("a token is required to listen beyond loopback")

type noTokenError struct{ addr string }

func (e noTokenError) Error() string {
	return fmt.Sprintf("refusing to listen on %s without a token: it is not loopback, and anyone who can reach it could publish events; "+
		"set XFLOW_API_TOKEN (or --token), or listen on loopback (%s)", e.addr, DefaultAddr)
}

func (e noTokenError) Unwrap() error { return ErrNoToken }

// CheckAddr refuses an address beyond loopback when there is no token:
// all interfaces ("", 0.0.0.0, ::), another interface's address, or a
// host name that resolves to one. It runs before a long --deploy; Serve
// checks again the address actually bound.
func CheckAddr(ctx context.Context, addr, token string) error {
	if err := CheckToken(token); err != nil {
		return err
	}
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w (write host:port, as in %s)", addr, err, DefaultAddr)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil || host == "" {
		if host == "" || !ip.Unmap().IsLoopback() {
			return noTokenError{addr}
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return noTokenError{addr}
		}
	}
	return nil
}

// CheckToken refuses a token that no client could send: blank, or with
// whitespace around it, which an Authorization header cannot carry (so
// such a token never matches, and " " would even pass for a token). ""
// means no token and is fine.
func CheckToken(token string) error {
	switch {
	case token == "":
		return nil
	case strings.TrimSpace(token) == "":
		return errors.New("the token is blank (only whitespace): set XFLOW_API_TOKEN or --token to a secret, or to nothing to serve loopback without one")
	case strings.TrimSpace(token) != token:
		return errors.New("the token has whitespace at its start or end, which no client can send in an Authorization header: remove it from XFLOW_API_TOKEN or --token")
	case strings.ContainsFunc(token, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("the token holds a control character, which no client can send in an Authorization header: use letters, digits and punctuation")
	}
	return nil
}

// ListenAndServe listens on addr (host:port) and serves until ctx is done;
// see Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve answers requests on ln until ctx is done, then stops gracefully:
// it stops accepting, lets the requests in flight finish within the
// shutdown timeout and returns nil; requests still running then are cut
// off and reported as an error. Without a token it refuses a listener
// that is not on loopback. Requests are not cancelled by ctx: a stop lets
// them finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	if s.tokenErr != nil {
		ln.Close()
		return s.tokenErr
	}
	if s.tokenHash == nil {
		if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().Unmap().IsLoopback() {
			ln.Close()
			return noTokenError{addr}
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       s.readTimeout,
		WriteTimeout:      max(s.publishTimeout, s.trackTimeout) + writeMargin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", addr, "url", "http://"+addr, "token", s.tokenHash != nil)

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	s.log.Info("stopping: no new connections; waiting for requests in flight", "timeout", s.shutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("stopped after %s with requests still in flight; they were cut off", s.shutdownTimeout)
	}
	<-served // http.ErrServerClosed, at once after Shutdown
	s.log.Info("stopped")
	return nil
}
