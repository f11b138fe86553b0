package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/track"
)

// Ping is the answer of GET /ping.
type Ping struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, Ping{Name: "xflow", Version: s.version})
}

// publish serves POST /publish: the body is checked against the config
// (DecodePublish), then the Backend sends it. The answer is where the
// event landed (publish.Result).
func (s *Server) publish(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > MaxBodyBytes {
		return bodyTooLarge()
	}
	// The connection's own writer, so that net/http closes the connection
	// after a body cut off by the limit rather than read the rest.
	body, err := io.ReadAll(http.MaxBytesReader(innermost(w), r.Body, MaxBodyBytes))
	if err != nil {
		return s.bodyError(err)
	}
	rec, err := DecodePublish(s.config, body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.publishTimeout)
	defer cancel()
	res, err := s.backend.Publish(ctx, rec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// bodyError is the answer to a body that could not be read: the
// client's doing in every case (too large, too slow, cut short or
// malformed), so a 4xx, never a 5xx.
func (s *Server) bodyError(err error) *Error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return bodyTooLarge()
	}
	if ne, ok := errors.AsType[net.Error](err); (ok && ne.Timeout()) || errors.Is(err, os.ErrDeadlineExceeded) {
		return errorf(http.StatusRequestTimeout, codeRequestTimeout, "",
			"the request body did not arrive within %s; send it whole, without pauses", s.readTimeout)
	}
	return errorf(http.StatusBadRequest, codeInvalidBody, "",
		"the request body could not be read (%v): it ended before its Content-Length, or its chunked encoding is malformed", err)
}

func bodyTooLarge() *Error {
	return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, fieldEvent,
		"the request body is more than %d bytes; an event may weigh at most %d bytes (1 MiB, a Kinesis record) with its execution_id",
		MaxBodyBytes, spec.MaxRecordBytes)
}

// innermost unwraps a ResponseWriter down to net/http's.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// track serves GET /track/workflows/{workflow_id}/executions/{execution_id}
// with the report of `xflow track --json`: 200 whatever the execution's
// state, not_found included.
func (s *Server) track(w http.ResponseWriter, r *http.Request) error {
	workflowID, executionID := r.PathValue("workflow_id"), r.PathValue("execution_id")
	if _, err := track.Check(s.config, workflowID, executionID); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.trackTimeout)
	defer cancel()
	rep, err := s.backend.Track(ctx, workflowID, executionID)
	if err != nil {
		return err
	}
	if err := s.backend.CheckTracker(ctx, rep); err != nil {
		return err
	}
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	return rep.WriteJSON(w)
}
