package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"
)

// recorder notes what a handler answered, for the request log.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	errCode     string // the error code answered, if any
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader && status >= 200 {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request: method, path, the route that
// matched, status, duration and bytes written. Never the headers (the
// token) nor the body (events may hold personal data).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			status := rec.status
			if !rec.wroteHeader {
				status = http.StatusOK // what net/http sends for an empty answer
			}
			level := slog.LevelInfo
			if status >= 500 && status != statusClientClosedRequest {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", rec.bytes),
				slog.String("remote", r.RemoteAddr),
			}
			if r.Pattern != "" {
				attrs = append(attrs, slog.String("route", r.Pattern))
			}
			if rec.errCode != "" {
				attrs = append(attrs, slog.String("error", rec.errCode))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// recoverPanics turns a panic in a handler into a 500 and a log line with
// the stack, so that one bad request never stops the server.
// http.ErrAbortHandler is net/http's way to abort an answer and passes
// through.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.writeError(w, r, errorf(http.StatusInternalServerError, codeInternal, "", "internal error; the server's log has the details"))
		}()
		next.ServeHTTP(w, r)
	})
}
