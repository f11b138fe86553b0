package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xflowhq/xflow/constructs/spec"
)

// publishSeeds are bodies of POST /publish, valid and not, for the fuzz
// corpus.
var publishSeeds = []string{
	`{"stream": "FileUploaded", "event": {"execution_id": "ex1", "message": "Test with ccc"}}`,
	`{"event": {"execution_id": "ex-2", "n": [1, 2.5e3, true, null]}, "stream": "FileParsed"}`,
	" \n{\"stream\":\"FileDownloaded\",\"event\":{\"execution_id\":\"\\u00e9t\\u00e9/1\"}}\n",
	`{"stream": "FileUploaded", "event": {"execution_id": "ex1"}, "extra": 1}`,
	`{"stream": "FileUploaded", "stream": "FileUploaded", "event": {"execution_id": "ex1"}}`,
	`{"stream": "FileUplaoded", "event": {"execution_id": "ex1"}}`,
	`{"stream": 1, "event": {"execution_id": "ex1"}}`,
	`{"stream": "", "event": {}}`,
	`{"stream": "FileUploaded", "event": {"execution_id": "a:b"}}`,
	`{"stream": "FileUploaded", "event": {"execution_id": ""}}`,
	`{"stream": "FileUploaded", "event": {"execution_id": "\u0001"}}`,
	`{"stream": "FileUploaded", "event": {"Execution_ID": "ex1"}}`,
	`{"stream": "FileUploaded", "event": [1]}`,
	`{"stream": "FileUploaded", "event": "{\"execution_id\": \"ex1\"}"}`,
	`{"stream": "FileUploaded"`,
	`{"stream": "FileUploaded", "event": {"execution_id": "ex1"}} {}`,
	`[]`, `null`, `"x"`, `1e400`, ``, " ", "\xff", `{"stream": "File\ud800"}`,
}

// FuzzDecodePublish: DecodePublish never panics, and classifies every
// body either as ready to send (a record whose data is a JSON object with
// the record's execution_id, small enough for Kinesis, on the stream of
// an event of the config) or as a 4xx *Error with a code and a message.
func FuzzDecodePublish(f *testing.F) {
	for _, s := range publishSeeds {
		f.Add([]byte(s))
	}
	c := testConfig("fz-")
	f.Fuzz(func(t *testing.T, body []byte) {
		rec, err := DecodePublish(c, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
				t.Fatalf("refusal %+v is not a 4xx with a code and a message", e)
			}
			if !json.Valid(body) && e.Code != codeInvalidJSON {
				t.Fatalf("invalid JSON refused as %q", e.Code)
			}
			if rec != nil {
				t.Fatalf("a record with an error")
			}
			return
		}
		if rec == nil {
			t.Fatal("no record and no error")
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("accepted a body that is not valid JSON in UTF-8: %q", body)
		}
		if _, ok := c.Subscription(rec.Event); !ok || rec.Stream != "fz-"+rec.Event {
			t.Fatalf("record of event %q on stream %q", rec.Event, rec.Stream)
		}
		if rec.ExecutionID == "" || len(rec.Data)+len(rec.ExecutionID) > spec.MaxRecordBytes {
			t.Fatalf("record with execution id %q and %d bytes", rec.ExecutionID, len(rec.Data))
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(rec.Data, &fields); err != nil {
			t.Fatalf("the record's data is not a JSON object: %v", err)
		}
		var id string
		if err := json.Unmarshal(fields["execution_id"], &id); err != nil || id != rec.ExecutionID {
			t.Fatalf("the data's execution_id %s is not the record's %q", fields["execution_id"], rec.ExecutionID)
		}
		if !strings.Contains(string(body), string(rec.Data)) {
			t.Fatalf("the data is not the event as sent")
		}
	})
}

func TestDecodePublish(t *testing.T) {
	c := testConfig("p-")
	for _, tc := range []struct {
		body  string
		code  string // "" for accepted
		field string
		want  string // a substring of the message, or the record's data
	}{
		{body: publishSeeds[0], want: `{"execution_id": "ex1", "message": "Test with ccc"}`},
		{body: publishSeeds[2], want: `{"execution_id":"\u00e9t\u00e9/1"}`},
		{body: publishSeeds[3], code: codeUnknownField, field: "extra"},
		{body: publishSeeds[4], code: codeInvalidField, field: "stream", want: `the body has "stream" twice`},
		{body: publishSeeds[5], code: codeUnknownEvent, field: "stream", want: `event "FileUplaoded" is not in xflow.yaml (did you mean "FileUploaded"?)`},
		{body: publishSeeds[9], code: codeInvalidEvent, field: "event", want: "execution_id is empty"},
		{body: publishSeeds[11], code: codeInvalidEvent, field: "event", want: `has no "execution_id"`},
		{body: publishSeeds[13], code: codeInvalidEvent, field: "event", want: "a string, not a JSON object"},
		{body: publishSeeds[14], code: codeInvalidJSON, want: "it ends at line 1, column 26 (byte 25)"},
		{body: "{\n  \"stream\": \"FileUploaded\",\n}", code: codeInvalidJSON, want: "at line 3, column 1 (byte 30)"},
		{body: `{"` + strings.Repeat("k", 500) + `": 1}`, code: codeUnknownField, field: strings.Repeat("k", 64) + "…", want: strings.Repeat("k", 64) + "…\""},
		{body: "\xff", code: codeInvalidJSON, want: "not valid UTF-8 at line 1, column 1 (byte 0)"},
	} {
		rec, err := DecodePublish(c, []byte(tc.body))
		if tc.code == "" {
			if err != nil || string(rec.Data) != tc.want {
				t.Errorf("%.60s: %v, data %q", tc.body, err, rec.Data)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%.60s:\n got %#v\nwant code %s field %q message with %q", tc.body, err, tc.code, tc.field, tc.want)
		}
	}
}
