package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
)

// Error codes of the API, the "code" of an error answer.
const (
	codeInvalidJSON        = "invalid_json"         // 400: the body is not one JSON object
	codeMissingField       = "missing_field"        // 400: "stream" or "event" is missing
	codeInvalidField       = "invalid_field"        // 400: a field has the wrong type or is empty
	codeUnknownField       = "unknown_field"        // 400: a field the API does not know (a typo)
	codeInvalidEvent       = "invalid_event"        // 400: the event is not an object with a usable execution_id
	codeInvalidExecutionID = "invalid_execution_id" // 400
	codeInvalidLimit       = "invalid_limit"        // 400: ?limit= is not 1 to 50
	codeInvalidCursor      = "invalid_cursor"       // 400: ?cursor= is not one the server gave, or it expired
	codeUnauthorized       = "unauthorized"         // 401
	codeInvalidBody        = "invalid_body"         // 400: the body could not be read (cut short, a bad chunk)
	codeCrossOrigin        = "cross_origin"         // 403: a cross-site browser request
	codeHostNotAllowed     = "host_not_allowed"     // 403: without a token, a Host that is not loopback nor allowed
	codeRequestTimeout     = "request_timeout"      // 408: the body came too slowly
	codeNotFound           = "not_found"            // 404: no such route or page asset
	codeUnknownEvent       = "unknown_event"        // 404: the event is not in the config
	codeUnknownWorkflow    = "unknown_workflow"     // 404: the workflow is not in the config
	codeMethodNotAllowed   = "method_not_allowed"   // 405
	codeTooLarge           = "too_large"            // 413
	codeCanceled           = "canceled"             // 499: the client went away (logged only)
	codeInternal           = "internal"             // 500: a bug; logged with its cause
	codeAWSError           = "aws_error"            // 502: AWS refused the call
	codeAWSUnreachable     = "aws_unreachable"      // 502: AWS could not be reached
	codeStreamNotFound     = "stream_not_found"     // 503: the workflow is not deployed
	codeAWSThrottled       = "aws_throttled"        // 503: AWS throttled the call; retry later
	codeAWSTimeout         = "aws_timeout"          // 504: AWS did not answer in time
	codeInvalidStatus      = "invalid_status"       // 400: ?status= is not a status
	codeRuntimeNotRunning  = "runtime_not_running"  // 503: locally, no runtime runs the state folder (for a moment)
)

// statusClientClosedRequest is nginx's status for a client that left
// before the answer; it only shows in the log.
const statusClientClosedRequest = 499

// Error is an error answer of the API:
//
//	{"error": {"code": "missing_field", "message": "...", "field": "stream"}}
//
// Every request refused for its content is an *Error with a 4xx Status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the body field or the query parameter at fault, when
	// one is.
	Field string `json:"field,omitempty"`
	// retryAfter, in seconds, is sent as Retry-After when positive.
	retryAfter int
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// throttlingCodes are the AWS error codes that mean "slow down".
var throttlingCodes = map[string]bool{
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"RequestLimitExceeded":                   true,
	"TooManyRequestsException":               true,
	"KMSThrottlingException":                 true,
}

// errorOf turns what a handler returned into an answer. Refusals of
// publish and track keep their messages, written for people; AWS failures
// become 5xx with a short message, their details going to the log only
// (AWS messages may name accounts and roles).
func errorOf(ctx context.Context, err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	switch {
	case errors.Is(err, publish.ErrUnknownEvent):
		return errorf(http.StatusNotFound, codeUnknownEvent, "stream", "%v", err)
	case errors.Is(err, publish.ErrInvalidEvent):
		return errorf(http.StatusBadRequest, codeInvalidEvent, "event", "%v", err)
	case errors.Is(err, publish.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "event", "%v", err)
	case errors.Is(err, publish.ErrStreamNotFound):
		return errorf(http.StatusServiceUnavailable, codeStreamNotFound, "", "%v", err)
	case errors.Is(err, track.ErrUnknownWorkflow):
		return errorf(http.StatusNotFound, codeUnknownWorkflow, "", "%v", err)
	case errors.Is(err, track.ErrInvalidExecutionID):
		return errorf(http.StatusBadRequest, codeInvalidExecutionID, "", "%v", err)
	case errors.Is(err, local.ErrNotRunning):
		e := errorf(http.StatusServiceUnavailable, codeRuntimeNotRunning, "", "no local runtime runs the state folder at the moment; the server starts one within seconds: try again")
		e.retryAfter = 2
		return e
	case errors.Is(err, ErrInvalidPageToken):
		return errorf(http.StatusBadRequest, codeInvalidCursor, paramCursor,
			"the cursor is not valid any more (a page token expires after a day); start again from the first page (leave cursor out)")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return errorf(statusClientClosedRequest, codeCanceled, "", "the client closed the request")
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, codeAWSTimeout, "", "AWS did not answer in time; try again later")
	}
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok {
		if throttlingCodes[apiErr.ErrorCode()] {
			e := errorf(http.StatusServiceUnavailable, codeAWSThrottled, "", "AWS is throttling this server's calls (%s); try again later", apiErr.ErrorCode())
			e.retryAfter = 1
			return e
		}
		return errorf(http.StatusBadGateway, codeAWSError, "", "AWS refused the call (%s); the server's log has the details", apiErr.ErrorCode())
	}
	if _, ok := errors.AsType[*smithyhttp.RequestSendError](err); ok {
		return errorf(http.StatusBadGateway, codeAWSUnreachable, "", "AWS could not be reached; the server's log has the details")
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return errorf(http.StatusBadGateway, codeAWSUnreachable, "", "AWS could not be reached; the server's log has the details")
	}
	if _, ok := errors.AsType[*smithy.OperationError](err); ok {
		// An AWS call that failed before it was sent, for example for
		// want of credentials.
		return errorf(http.StatusBadGateway, codeAWSError, "", "the call to AWS failed; the server's log has the details")
	}
	return errorf(http.StatusInternalServerError, codeInternal, "", "internal error; the server's log has the details")
}

// writeError answers with err, unless an answer was already started, and
// logs the cause of a 5xx.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(r.Context(), err)
	rec, _ := w.(*recorder)
	if rec != nil {
		rec.errCode = e.Code
		if rec.wroteHeader {
			s.log.Error("answer cut short", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
	}
	if e.Status >= 500 && e.Code != codeCanceled && error(e) != err { // an *Error has no cause to log
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "code", e.Code, "err", err)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	_ = writeJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

func setJSONHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode the answer: %w", err)
	}
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
