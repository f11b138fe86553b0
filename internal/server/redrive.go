package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/jsontext"
	"github.com/xflowhq/xflow/internal/track"
)

// The field of a POST .../redrive body, which may also be empty.
const fieldDryRun = "dry_run"

// maxRedriveBody bounds the body of POST .../redrive: {"dry_run": true}.
const maxRedriveBody = 4 << 10

// redrive serves POST /workflows/{workflow_id}/executions/{execution_id}/redrive:
// every failure record that holds a record of the execution is delivered
// again to the function that gave it up (package redrive). The body is
// empty, or {"dry_run": true} to see what would be redriven. The answer is
// a redrive.ExecutionReport, 200 whatever became of each batch (its
// outcome says); nothing to redrive is 200 too, saying so.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request) error {
	workflowID, executionID := r.PathValue("workflow_id"), r.PathValue("execution_id")
	if _, err := track.Check(s.config, workflowID, executionID); err != nil {
		return err
	}
	if r.ContentLength > maxRedriveBody {
		return redriveTooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(innermost(w), r.Body, maxRedriveBody))
	if err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return redriveTooLarge()
		}
		return s.bodyError(err)
	}
	dryRun, err := decodeRedrive(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.redriveTimeout)
	defer cancel()
	rep, err := s.backend.Redrive(ctx, workflowID, executionID, dryRun)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func redriveTooLarge() *Error {
	return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "", "the body is more than %d bytes; send nothing, or {%q: true}", maxRedriveBody, fieldDryRun)
}

// decodeRedrive reads the body of POST .../redrive: empty, or a JSON
// object whose only field is "dry_run", a boolean.
func decodeRedrive(body []byte) (bool, error) {
	data := bytes.Trim(body, " \t\r\n")
	if len(data) == 0 {
		return false, nil
	}
	if err := checkJSON(data); err != nil {
		return false, err
	}
	if data[0] != '{' {
		return false, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is %s, not a JSON object; send nothing, or {%q: true}", jsontext.Kind(data), fieldDryRun)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token() // '{': checkJSON passed
	dryRun, seen := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
		}
		switch {
		case key != fieldDryRun:
			msg := fmt.Sprintf("the body has an unknown field %q; it takes only %q (true to see what would be redriven)", clip(key), fieldDryRun)
			if c := didyoumean.Closest(key, []string{fieldDryRun}); c != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", c)
			}
			return false, errorf(http.StatusBadRequest, codeUnknownField, clip(key), "%s", msg)
		case seen:
			return false, errorf(http.StatusBadRequest, codeInvalidField, key, "the body has %q twice", key)
		}
		seen = true
		if err := json.Unmarshal(raw, &dryRun); err != nil {
			return false, errorf(http.StatusBadRequest, codeInvalidField, fieldDryRun, "%q is %s, not true or false", fieldDryRun, jsontext.Kind(raw))
		}
	}
	return dryRun, nil
}
