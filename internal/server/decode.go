package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/didyoumean"
	"github.com/xflowhq/xflow/internal/jsontext"
	"github.com/xflowhq/xflow/internal/publish"
)

// The fields of a POST /publish body. "stream" names the event, as the
// original xFlow's API did.
const (
	fieldStream = "stream"
	fieldEvent  = "event"
)

const bodyShape = `{"stream": "<event>", "event": {"execution_id": "<id>", ...}}`

// DecodePublish checks the body of POST /publish against c and returns the
// record to send: one JSON object in UTF-8 with exactly the fields
// "stream" (an event of c) and "event" (a JSON object with a string
// execution_id, sent as written). It needs no AWS access. Every refusal is
// an *Error with a 4xx status that names the field at fault.
func DecodePublish(c *config.Config, body []byte) (*publish.Record, error) {
	data := bytes.Trim(body, " \t\r\n")
	if len(data) == 0 {
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is empty; send %s", bodyShape)
	}
	if !utf8.Valid(data) {
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid UTF-8 at %s", jsontext.Position(data, jsontext.InvalidUTF8(data)))
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	if data[0] != '{' {
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is %s, not a JSON object; send %s", jsontext.Kind(data), bodyShape)
	}
	fields, err := objectFields(data)
	if err != nil {
		return nil, err
	}
	streamRaw, ok := fields[fieldStream]
	if !ok {
		return nil, errorf(http.StatusBadRequest, codeMissingField, fieldStream, `the body has no "stream": name the event to publish, as in %s`, bodyShape)
	}
	eventRaw, ok := fields[fieldEvent]
	if !ok {
		return nil, errorf(http.StatusBadRequest, codeMissingField, fieldEvent, `the body has no "event": add the event's JSON object, as in %s`, bodyShape)
	}
	if streamRaw[0] != '"' {
		return nil, errorf(http.StatusBadRequest, codeInvalidField, fieldStream, `"stream" is %s, not a string: name the event to publish`, jsontext.Kind(streamRaw))
	}
	var stream string
	if err := json.Unmarshal(streamRaw, &stream); err != nil {
		return nil, errorf(http.StatusBadRequest, codeInvalidField, fieldStream, `"stream" is not a valid string: %v`, err)
	}
	if stream == "" {
		return nil, errorf(http.StatusBadRequest, codeInvalidField, fieldStream, `"stream" is empty: name the event to publish`)
	}
	rec, err := publish.Prepare(c, stream, eventRaw)
	if err != nil {
		e := errorOf(context.Background(), err)
		if e.Status >= 500 { // Prepare refuses only with publish's kinds
			e = errorf(http.StatusBadRequest, codeInvalidEvent, fieldEvent, "%v", err)
		}
		return nil, e
	}
	return rec, nil
}

// checkJSON refuses a body that is not one JSON value, saying where.
func checkJSON(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	err := dec.Decode(&v)
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v at %s", syn, jsontext.Position(data, int(syn.Offset)-1))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: it ends at %s before the value is complete", jsontext.Position(data, len(data)))
	case err != nil:
		return errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
	default:
		return errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body must be one JSON object, but more follows it at %s", jsontext.Position(data, int(dec.InputOffset())))
	}
}

// objectFields returns the fields of a valid JSON object, refusing
// unknown and repeated ones: keys match exactly, where encoding/json would
// take "Stream" for "stream", and a repeated key would silently win.
func objectFields(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "", "the body is not valid JSON: %v", err)
		}
		switch {
		case key != fieldStream && key != fieldEvent:
			msg := fmt.Sprintf("the body has an unknown field %q; it takes %q (the event's name) and %q (its JSON object)", clip(key), fieldStream, fieldEvent)
			if c := didyoumean.Closest(key, []string{fieldStream, fieldEvent}); c != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", c)
			}
			return nil, errorf(http.StatusBadRequest, codeUnknownField, clip(key), "%s", msg)
		case fields[key] != nil:
			return nil, errorf(http.StatusBadRequest, codeInvalidField, key, "the body has %q twice", key)
		}
		fields[key] = raw
	}
	return fields, nil
}

// clip shortens what a client wrote for a message about it.
func clip(s string) string {
	const most = 64
	if utf8.RuneCountInString(s) <= most {
		return s
	}
	return string([]rune(s)[:most]) + "…"
}
