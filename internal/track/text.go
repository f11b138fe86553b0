package track

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// timeFormat is RFC 3339 in UTC with milliseconds, the precision of
// CloudWatch Logs.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// WriteText writes the report for people: one line per event of the flow
// (✓ received, · not received, ? not in the flow), then the next expected
// event, the functions that should produce it and their failing lines.
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	head := fmt.Sprintf("workflow %s, execution %s", r.WorkflowID, r.ExecutionID)
	received := 0
	for _, e := range r.Events {
		if e.State == StateReceived {
			received++
		}
	}
	if r.Status == StatusNotFound && !r.LogGroupFound {
		fmt.Fprintf(b, "%s: not found: the workflow's tracking log group %s does not exist\n", head, r.LogGroup)
		if r.Hint != "" {
			fmt.Fprintf(b, "  %s\n", r.Hint)
		}
		return b.Flush()
	}
	if r.Status == StatusTrackerFailing && r.Tracker != nil {
		fmt.Fprintf(b, "%s: the tracker of this workflow is failing: %s\n", head, r.Tracker.Reason)
		r.writeTracker(b)
		if received == 0 {
			return b.Flush()
		}
		fmt.Fprintf(b, "  %d of %d events received so far:\n", received, len(r.Events))
	}
	switch r.Status {
	case StatusTrackerFailing:
	case StatusNotFound:
		fmt.Fprintf(b, "%s: not found: none of its events were seen in %s\n", head, r.LogGroup)
		fmt.Fprintf(b, "  check the execution id and the workflow; or the execution has not started, or its first event is not tracked yet\n")
		r.writeUnparsed(b)
		return b.Flush()
	case StatusFinished:
		fmt.Fprintf(b, "%s: finished, all %d events received\n", head, len(r.Events))
	case StatusFailed:
		fmt.Fprintf(b, "%s: failed, %d of %d events received\n", head, received, len(r.Events))
	default:
		fmt.Fprintf(b, "%s: in progress, %d of %d events received\n", head, received, len(r.Events))
	}

	width := 0
	for _, evs := range [][]Event{r.Events, r.UnexpectedEvents} {
		for _, e := range evs {
			width = max(width, len(e.Name))
		}
	}
	for _, e := range r.Events {
		if e.State == StateReceived {
			fmt.Fprintf(b, "  ✓ %-*s  %s%s%s\n", width, e.Name, e.ReceivedAt.Format(timeFormat), extra(e), r.omitted(e.Name))
		} else {
			fmt.Fprintf(b, "  · %s\n", e.Name)
		}
	}
	for _, e := range r.UnexpectedEvents {
		fmt.Fprintf(b, "  ? %-*s  %s  not in the flow%s\n", width, e.Name, e.ReceivedAt.Format(timeFormat), extra(e))
	}

	if r.NextExpectedEvent != nil {
		r.writeNext(b)
	}
	r.writeDeadLetters(b)
	r.writeDamage(b)
	r.writeUnparsed(b)
	return b.Flush()
}

// writeTracker says what is wrong with a failing tracker, and what it
// means for the report.
func (r *Report) writeTracker(b *bufio.Writer) {
	h := r.Tracker
	fmt.Fprintf(b, "  track reads what the tracker %s writes: the execution's events may well have been published, and show once the tracker works again\n", h.Function)
	if n := len(h.Errors); n > 0 {
		fmt.Fprintf(b, "  %s, its last error line%s in %s since %s:\n", h.Function, plural(n), h.LogGroup, h.Since.Format(timeFormat))
		for _, l := range h.Errors[max(0, n-3):] {
			writeLine(b, l)
		}
	}
	if d := h.FailureQueueDepth; d != nil && *d > 0 {
		fmt.Fprintf(b, "  its failure queue %s holds %d batch%s it gave up on\n", h.FailureQueue, *d, pluralES(*d))
	}
	for _, m := range h.Mappings {
		if m.State == "Enabled" && !strings.HasPrefix(m.LastProcessingResult, "PROBLEM") {
			continue
		}
		line := "  its mapping from stream " + m.Stream + ": " + m.State
		if m.StateReason != "" {
			line += " (" + m.StateReason + ")"
		}
		if m.LastProcessingResult != "" {
			line += ", last processing result: " + m.LastProcessingResult
		}
		fmt.Fprintln(b, line)
	}
	for _, u := range h.Unchecked {
		fmt.Fprintf(b, "  not checked: %s\n", u)
	}
}

// writeDamage lists the records of the execution lost to damaged bytes.
func (r *Report) writeDamage(b *bufio.Writer) {
	for _, d := range r.Damage {
		what := "could not be read back (its bytes fail their checksums)"
		if d.Kind == "torn" {
			what = "was cut short at the end of the stream"
		}
		fmt.Fprintf(b, "  damaged: the %s record at sequence number %s (%d bytes) %s; found %s; the bytes are in %s\n",
			cmp.Or(d.Event, d.Stream), d.SequenceNumber, d.Length, what, d.Time.Format(timeFormat), d.Where)
	}
}

// writeDeadLetters lists the batches functions gave up on that the
// producers' lines do not already show.
func (r *Report) writeDeadLetters(b *bufio.Writer) {
	if r.FurthestEvent == nil && len(r.DeadLetters) > 0 {
		fmt.Fprintf(b, "  no record of %s could be tracked (is each a JSON object with \"execution_id\": %q?), but functions gave up on records whose partition key is %s:\n",
			r.ExecutionID, r.ExecutionID, r.ExecutionID)
	}
	from := r.producersStream()
	for _, d := range r.DeadLetters {
		if r.isProducers(d, from) {
			continue
		}
		fmt.Fprintf(b, "  %s  %s %s\n", d.Time.Format(timeFormat), d.Function, d.describe())
	}
}

// WriteJSON writes the report as indented JSON, with "<", ">" and "&"
// left as they are (the execution path draws arrows with ">").
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// omitted notes the payloads of an event too large to be kept.
func (r *Report) omitted(event string) string {
	for _, rec := range r.EventsReceived {
		if rec.EventName == event && rec.EventOmittedBytes > 0 {
			return fmt.Sprintf("  (payload of %d bytes not kept: too large for a CloudWatch Logs event)", rec.EventOmittedBytes)
		}
	}
	return ""
}

// extra notes repeated records and dropped duplicates of an event.
func extra(e Event) string {
	var parts []string
	if e.Records > 1 {
		parts = append(parts, fmt.Sprintf("%d records", e.Records))
	}
	switch e.DuplicatesDropped {
	case 0:
	case 1:
		parts = append(parts, "1 duplicate delivery dropped")
	default:
		parts = append(parts, fmt.Sprintf("%d duplicate deliveries dropped", e.DuplicatesDropped))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}

func (r *Report) writeNext(b *bufio.Writer) {
	next := *r.NextExpectedEvent
	if len(r.Producers) == 0 {
		if len(r.Events) > 0 && r.Events[0].Name == next {
			fmt.Fprintf(b, "next expected: %s, published by a client (xflow publish)\n", next)
		} else {
			fmt.Fprintf(b, "next expected: %s; no function subscribes to the event before it\n", next)
		}
		return
	}
	var fns []string
	for _, p := range r.Producers {
		s := p.Function
		if p.Failed {
			s += " (FAILED)"
		}
		fns = append(fns, s)
	}
	fmt.Fprintf(b, "next expected: %s, produced by: %s\n", next, strings.Join(fns, ", "))
	for _, p := range r.Producers {
		since := p.Since.Format(timeFormat)
		switch {
		case !p.LogGroupFound && !p.Failed:
			fmt.Fprintf(b, "  %s: %s does not exist: the function never ran, or never logged\n", p.Function, p.LogGroup)
		case p.Failed:
			fmt.Fprintf(b, "  %s, failing lines in %s since %s:\n", p.Function, p.LogGroup, since)
			for _, l := range p.Lines {
				if l.Failure {
					writeLine(b, l)
				}
			}
		case len(p.Lines) == 0:
			fmt.Fprintf(b, "  %s: no line about %s in %s since %s: not invoked yet, or still running\n", p.Function, r.ExecutionID, p.LogGroup, since)
		default:
			fmt.Fprintf(b, "  %s: no failure logged in %s since %s (%d line%s about %s; --json shows them)\n",
				p.Function, p.LogGroup, since, len(p.Lines), plural(len(p.Lines)), r.ExecutionID)
		}
		if p.Truncated {
			fmt.Fprintf(b, "    (more lines than the %d kept)\n", len(p.Lines))
		}
	}
}

// writeLine writes a log line under its time, continuation lines aligned.
func writeLine(b *bufio.Writer, l Line) {
	stamp := l.Time.Format(timeFormat)
	pad := strings.Repeat(" ", len(stamp))
	msg := strings.ReplaceAll(strings.TrimRight(l.Message, "\r\n"), "\t", " ")
	for i, line := range strings.Split(msg, "\n") {
		lead := pad
		if i == 0 {
			lead = stamp
		}
		fmt.Fprintf(b, "    %s  %s\n", lead, strings.TrimRight(line, "\r "))
	}
}

func (r *Report) writeUnparsed(b *bufio.Writer) {
	if n := len(r.UnparsedEntries); n > 0 {
		verb := "is not a tracker entry"
		if n > 1 {
			verb = "are not tracker entries"
		}
		fmt.Fprintf(b, "note: %d log event%s of %s %s; skipped (--json shows them)\n", n, plural(n), r.LogStream, verb)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
