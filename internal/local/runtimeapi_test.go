package local

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// apiAnswer is one answer of the Runtime API.
type apiAnswer struct {
	status    int
	errorType string
	message   string
	requestID string
}

func apiCall(t *testing.T, a *runtimeAPI, method, path string, body []byte) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.address()+runtimeAPIPrefix+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	ans := apiAnswer{status: resp.StatusCode, requestID: resp.Header.Get(headerRequestID)}
	var doc struct{ ErrorType, ErrorMessage string }
	if json.Unmarshal(data, &doc) == nil {
		ans.errorType, ans.message = doc.ErrorType, doc.ErrorMessage
	}
	return ans
}

// dispatch hands the worker an invocation, as function.invoke does, and
// returns it once /next took it.
func dispatch(t *testing.T, a *runtimeAPI) (*invocation, apiAnswer) {
	t.Helper()
	inv := newInvocation([]byte(`{}`), "arn:aws:lambda:us-east-1:123456789012:function:f")
	inv.timeout = time.Minute
	go func() { a.next <- inv }()
	return inv, apiCall(t, a, "GET", "/invocation/next", nil)
}

// TestRuntimeAPILimits: Lambda takes a response of up to 6 MiB and 100
// bytes; one byte more is refused with its error, and the invocation fails
// with Function.ResponseSizeTooLarge.
func TestRuntimeAPILimits(t *testing.T) {
	a, err := startRuntimeAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	for _, tc := range []struct {
		size   int
		status int
		errT   string
	}{
		{6<<20 + 100, http.StatusAccepted, ""},
		{6<<20 + 101, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"},
	} {
		inv, next := dispatch(t, a)
		if next.status != http.StatusOK || next.requestID != inv.id {
			t.Fatalf("/next: %+v", next)
		}
		body := []byte(`"` + strings.Repeat("x", tc.size-2) + `"`)
		ans := apiCall(t, a, "POST", "/invocation/"+inv.id+"/response", body)
		if ans.status != tc.status || ans.errorType != tc.errT {
			t.Errorf("a response of %d bytes: %d %s, want %d %s", tc.size, ans.status, ans.errorType, tc.status, tc.errT)
		}
		<-inv.done
		switch {
		case tc.errT == "" && (inv.err != nil || len(inv.result) != tc.size):
			t.Errorf("a response of %d bytes: result %d bytes, error %v", tc.size, len(inv.result), inv.err)
		case tc.errT != "" && (inv.err == nil || inv.err.Type != "Function.ResponseSizeTooLarge" || !strings.Contains(inv.err.Message, "(6291556 bytes)")):
			t.Errorf("a response of %d bytes: error %v, want Function.ResponseSizeTooLarge naming 6291556 bytes", tc.size, inv.err)
		}
		if tc.errT != "" && !strings.Contains(ans.message, "6291556") {
			t.Errorf("the refusal does not name the limit: %q", ans.message)
		}
	}
}

// TestRuntimeAPIStates: answers in the wrong state get the emulator's
// 403 InvalidStateTransition; an unknown request id while an invocation
// runs gets 400 InvalidRequestID.
func TestRuntimeAPIStates(t *testing.T) {
	a, err := startRuntimeAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer a.stop()

	// Before the first /next: nothing to answer.
	ans := apiCall(t, a, "POST", "/invocation/some-id/response", []byte(`{}`))
	if ans.status != http.StatusForbidden || ans.errorType != "InvalidStateTransition" || ans.message != "State transition from Started to InvocationResponse failed for runtime. Error: State transition is not allowed" {
		t.Errorf("a response before /next: %+v", ans)
	}

	inv, _ := dispatch(t, a)
	if ans := apiCall(t, a, "POST", "/invocation/not-"+inv.id+"/response", []byte(`{}`)); ans.status != http.StatusBadRequest || ans.errorType != "InvalidRequestID" {
		t.Errorf("a response for an unknown request id: %+v", ans)
	}
	if ans := apiCall(t, a, "POST", "/invocation/"+inv.id+"/response", []byte(`{}`)); ans.status != http.StatusAccepted {
		t.Fatalf("the response: %+v", ans)
	}
	// The same invocation answered again, by response or by error.
	for _, path := range []string{"/response", "/error"} {
		to := map[string]string{"/response": "InvocationResponse", "/error": "InvocationErrorResponse"}[path]
		ans := apiCall(t, a, "POST", "/invocation/"+inv.id+path, []byte(`{}`))
		want := "State transition from RuntimeResponseSentState to " + to + " failed for runtime. Error: State transition is not allowed"
		if ans.status != http.StatusForbidden || ans.errorType != "InvalidStateTransition" || ans.message != want {
			t.Errorf("a second answer (%s): %+v", path, ans)
		}
	}

	// A /next while an invocation runs is allowed, as by the emulator: it
	// waits for the next invocation, which comes only once this one ends.
	inv2, _ := dispatch(t, a)
	waiting := make(chan apiAnswer, 1)
	go func() { waiting <- apiCall(t, a, "GET", "/invocation/next", nil) }()
	select {
	case ans := <-waiting:
		t.Fatalf("a /next while %s runs returned at once: %+v", inv2.id, ans)
	case <-time.After(300 * time.Millisecond):
	}
	apiCall(t, a, "POST", "/invocation/"+inv2.id+"/error", []byte(`{"errorType": "E", "errorMessage": "m"}`))
	inv3 := newInvocation([]byte(`{}`), "arn")
	inv3.timeout = time.Minute
	a.next <- inv3
	if ans := <-waiting; ans.status != http.StatusOK || ans.requestID != inv3.id {
		t.Errorf("the waiting /next: %+v, want %s", ans, inv3.id)
	}
}
