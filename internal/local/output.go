package local

import (
	"errors"
	"os"
	"strings"
	"sync"
	"time"
)

// maxLogLine is the longest log event Lambda makes of one line of output;
// longer lines are split.
const maxLogLine = 256 << 10

// output turns a worker's stdout and stderr (one pipe, so their lines keep
// their order) into log events of the worker's log stream, and writes the
// runtime's START, END and REPORT lines in their place among them.
//
// Placement is the subtle part: a handler's last lines are in the pipe
// before it posts its response, but the reader may not have read them yet
// when the response arrives. So a marker is queued, the blocked read is
// woken with a deadline, and the reader drains every byte the pipe holds
// (FIONREAD) before it writes the marker.
type output struct {
	logs          *Logs
	group, stream string
	r             *os.File

	mu      sync.Mutex
	queue   []*marker
	partial []byte
	closed  bool
	done    chan struct{}
	// last is the last non-blank line of output since the end of the
	// last invocation.
	last string
}

type marker struct {
	lines   []string
	written chan struct{}
	last    string // the output's last line before it
	end     bool   // it ends an invocation: last starts over
}

func newOutput(logs *Logs, group, stream string, r *os.File) *output {
	o := &output{logs: logs, group: group, stream: stream, r: r, done: make(chan struct{})}
	go o.run()
	return o
}

func (o *output) run() {
	defer close(o.done)
	buf := make([]byte, 64<<10)
	for {
		o.mu.Lock()
		if len(o.queue) > 0 {
			o.drain(buf)
			o.writeMarkers()
		}
		o.r.SetReadDeadline(time.Time{})
		o.mu.Unlock()

		n, err := o.r.Read(buf)
		o.mu.Lock()
		if n > 0 {
			o.consume(buf[:n])
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			// EOF: the worker and everything it started are gone.
			o.flushPartial()
			o.writeMarkers()
			o.closed = true
			o.r.Close()
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
	}
}

// maxDrain bounds a drain, for a worker whose background threads never
// stop writing.
const maxDrain = 4 << 20

// drain reads what the pipe holds now. Lock held.
func (o *output) drain(buf []byte) {
	o.r.SetReadDeadline(time.Time{})
	for total := 0; total < maxDrain; {
		n := pipeBuffered(o.r)
		if n <= 0 {
			break
		}
		total += n
		got, err := o.r.Read(buf[:min(n, len(buf))])
		if got > 0 {
			o.consume(buf[:got])
		}
		if err != nil {
			break
		}
	}
	o.flushPartial()
}

func (o *output) writeMarkers() {
	for _, m := range o.queue {
		m.last = o.last
		if m.end {
			o.last = ""
		}
		o.write(m.lines)
		close(m.written)
	}
	o.queue = nil
}

// mark writes lines after all output the worker wrote before the call,
// and returns the last non-blank line of that output since the end of the
// previous invocation ("" for none): what a runtime that died said last,
// whether in its init or in the invocation.
func (o *output) mark(lines ...string) string {
	return o.enqueue(&marker{lines: lines, written: make(chan struct{})})
}

// markEnd is mark for the lines that end an invocation (END, REPORT).
func (o *output) markEnd(lines ...string) string {
	return o.enqueue(&marker{lines: lines, written: make(chan struct{}), end: true})
}

func (o *output) enqueue(m *marker) string {
	o.mu.Lock()
	if o.closed {
		last := o.last
		if m.end {
			o.last = ""
		}
		o.write(m.lines)
		o.mu.Unlock()
		return last
	}
	o.queue = append(o.queue, m)
	o.r.SetReadDeadline(time.Now()) // wake the reader
	o.mu.Unlock()
	select {
	case <-m.written:
		return m.last
	case <-o.done:
		// The reader wrote the queue when the pipe closed, or is about to.
		<-m.written
		return m.last
	}
}

// consume turns complete lines into log events. Lock held.
func (o *output) consume(b []byte) {
	var msgs []string
	for len(b) > 0 {
		i := indexByte(b, '\n')
		if i < 0 {
			o.partial = append(o.partial, b...)
			if len(o.partial) >= maxLogLine {
				msgs = append(msgs, message(o.partial[:maxLogLine]))
				o.partial = append([]byte(nil), o.partial[maxLogLine:]...)
			}
			break
		}
		line := b[:i]
		if len(o.partial) > 0 {
			line = append(o.partial, line...)
			o.partial = nil
		}
		for len(line) > maxLogLine {
			msgs = append(msgs, message(line[:maxLogLine]))
			line = line[maxLogLine:]
		}
		msgs = append(msgs, message(line))
		b = b[i+1:]
	}
	o.output(msgs)
}

func (o *output) flushPartial() {
	if len(o.partial) > 0 {
		o.output([]string{message(o.partial)})
		o.partial = nil
	}
}

// output writes the worker's own lines. Lock held.
func (o *output) output(msgs []string) {
	for _, m := range msgs {
		if strings.TrimSpace(m) != "" {
			o.last = m
		}
	}
	o.write(msgs)
}

func (o *output) write(msgs []string) {
	if len(msgs) == 0 {
		return
	}
	// A log write that fails loses log lines, not records: say so and go on.
	if err := o.logs.write(o.group, o.stream, time.Now(), msgs...); err != nil {
		os.Stderr.WriteString("xflow: write the logs of " + o.group + ": " + err.Error() + "\n")
	}
}

// message is one line of output as a log event: Lambda's runtimes end
// the lines of one multi-line entry (a traceback) with carriage returns
// so that the log keeps them together; the event then holds newlines.
func message(line []byte) string {
	s := strings.TrimSuffix(string(line), "\r")
	return strings.ReplaceAll(s, "\r", "\n")
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
