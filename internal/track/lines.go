package track

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// timeoutMarker is how Lambda logs a timeout: "<time> <request id> Task
// timed out after 3.00 seconds". The line does not name the execution, so
// the filter also asks for it and lines correlates it by request id.
const timeoutMarker = "Task timed out"

// failureMarkers make a line a failure: Python's and Node's error levels
// and uncaught errors, tracebacks, Lambda's timeout, crash and REPORT
// status lines, Go panics, structured logs at error level.
var failureMarkers = []string{
	"[ERROR]", "[CRITICAL]", "\tERROR\t", "\tFATAL\t",
	"Traceback (most recent call last)",
	timeoutMarker,
	`"errorMessage"`, `"errorType"`, "errorMessage:",
	"Runtime.ExitError", "Runtime.Unknown", "Process exited before completing request",
	"Status: error", "Status: timeout",
	"panic: ",
	`"level":"ERROR"`, `"level":"error"`, `"level":"FATAL"`, `"level":"fatal"`,
	"level=ERROR", "level=error",
}

// isFailure reports whether a log line holds an error, a traceback or a
// timeout.
func isFailure(msg string) bool {
	for _, m := range failureMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// filterPattern narrows FilterLogEvents to the lines that contain the
// execution id or a timeout. A quoted term cannot hold a double quote, so
// an id with one is narrowed by its longest part without.
func filterPattern(executionID string) string {
	term := executionID
	if strings.ContainsAny(term, `"\`) {
		term = ""
		for _, part := range strings.FieldsFunc(executionID, func(r rune) bool { return r == '"' || r == '\\' }) {
			if len(part) > len(term) {
				term = part
			}
		}
	}
	if term == "" {
		return "" // every line of the window; lines selects
	}
	return fmt.Sprintf(`?"%s" ?"%s"`, term, timeoutMarker)
}

// isCandidate reports whether a line returned by FilterLogEvents is one
// the pattern asked for, so that a read on an emulator that ignores the
// pattern keeps only what AWS would have returned.
func isCandidate(msg, executionID string) bool {
	return hasToken(msg, executionID) || strings.Contains(msg, timeoutMarker)
}

// selectLines keeps the lines of one execution, oldest first: those that
// name the execution id as a whole word, and the timeout lines of the
// invocations (request ids) those lines belong to. Each is marked as a
// failure or not.
func selectLines(candidates []Line, executionID string) []Line {
	requests := map[string]bool{}
	for _, l := range candidates {
		if hasToken(l.Message, executionID) {
			for _, id := range requestIDs(l.Message, executionID) {
				requests[id] = true
			}
		}
	}
	out := []Line{}
	for _, l := range candidates {
		keep := hasToken(l.Message, executionID)
		if !keep {
			for _, id := range requestIDs(l.Message, executionID) {
				keep = keep || requests[id]
			}
		}
		if keep {
			l.Failure = isFailure(l.Message)
			out = append(out, l)
		}
	}
	return out
}

// hasToken reports whether s contains tok as a whole word: the characters
// around it are not letters, digits, '-' or '_'. So "ex1" is in
// "execution ex1 failed" and "id=ex1," but not in "ex10" or "ex1-b".
func hasToken(s, tok string) bool {
	if tok == "" {
		return false
	}
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], tok)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(tok)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[start:])
		from = start + size
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

var uuidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// requestIDs are the Lambda request ids a line names, other than a UUID
// that is (part of) the execution id itself.
func requestIDs(msg, executionID string) []string {
	var out []string
	for _, id := range uuidRe.FindAllString(msg, -1) {
		if !strings.Contains(strings.ToLower(executionID), strings.ToLower(id)) {
			out = append(out, strings.ToLower(id))
		}
	}
	return out
}
