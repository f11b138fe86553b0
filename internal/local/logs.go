package local

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/xflowhq/xflow/internal/names"
)

// Logs is CloudWatch Logs in a state folder: the tracker writes to it
// through CreateLogStream and PutLogEvents, the workers' output goes to
// their functions' log groups, and package track reads it through
// GetLogEvents and FilterLogEvents. The methods have the SDK v2 client's
// signatures and return its error types, so that code written against
// *cloudwatchlogs.Client uses a Logs unchanged.
//
// A log group is a folder, logs/ plus the group name (/aws/lambda/f is
// logs/aws/lambda/f/), marked by a .group file; a log stream is a JSON
// Lines file in it, named by the escaped stream name: a header line with
// the stream's name and creation time, then one line per event in the
// order they were put. Readers ignore an unfinished last line, so they can
// read while the runtime writes. Log files are not fsynced: like
// CloudWatch's, they are a record of what happened, not of what must
// happen; the streams and checkpoints are.
//
// Logs is safe for concurrent use within a process; one process (the
// runtime) writes, any number read.
type Logs struct {
	dir string
	now func() time.Time

	mu    sync.Mutex
	files map[string]*logFile // open for appending, by path
}

type logFile struct {
	mu     sync.Mutex
	f      *os.File
	closed bool // evicted: reopen
}

// maxOpenLogFiles bounds the files a Logs keeps open for appending.
const maxOpenLogFiles = 128

// Limits of the CloudWatch Logs API that the local store keeps.
const (
	maxEventsPerCall = 10_000
	maxBytesPerCall  = 1_048_576
	eventOverhead    = 26
	defaultDescribe  = 50
)

// OpenLogs opens the log store of a state folder, which need not exist
// yet: reading a group that was never written is ResourceNotFoundException,
// as on AWS.
func OpenLogs(stateDir string) (*Logs, error) {
	if stateDir == "" {
		return nil, errors.New("open local logs: no state folder")
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("open local logs: %w", err)
	}
	return &Logs{dir: filepath.Join(abs, "logs"), now: time.Now, files: map[string]*logFile{}}, nil
}

// Close closes the files held open for appending.
func (l *Logs) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for p, f := range l.files {
		f.mu.Lock()
		errs = append(errs, f.f.Close())
		f.closed = true
		f.mu.Unlock()
		delete(l.files, p)
	}
	return errors.Join(errs...)
}

// groupDir maps a log group name to its folder. Each '/'-separated part is
// escaped so that no name leaves logs/ or collides with a stream file.
func (l *Logs) groupDir(group string) (string, error) {
	if group == "" || len(group) > names.MaxLogGroupName {
		return "", invalidParam(fmt.Sprintf("log group name must be 1 to %d characters", names.MaxLogGroupName))
	}
	parts := strings.Split(strings.Trim(group, "/"), "/")
	for i, p := range parts {
		parts[i] = escapeName(p)
	}
	return filepath.Join(l.dir, filepath.Join(parts...)), nil
}

const groupMarker = ".group"

// streamFile maps a log stream name to its file in a group's folder.
// Names too long for a file name are hashed; the header line keeps the
// real name.
func streamFile(groupDir, stream string) string {
	name := escapeName(stream)
	if len(name) > 200 {
		sum := sha256.Sum256([]byte(stream))
		name = "~" + hex.EncodeToString(sum[:])
	}
	return filepath.Join(groupDir, name+".jsonl")
}

// escapeName makes a name safe as one path element: '/', '%', '\\', NUL
// and control characters are percent-encoded, and so are "." and "..",
// and a leading '.' or '~' (kept for the store's own files).
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == '%' || c == '\\' || c < 0x20 || c == 0x7f || (i == 0 && (c == '.' || c == '~')) {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "%00"
	}
	return b.String()
}

func notFound(msg string) error {
	return &types.ResourceNotFoundException{Message: aws.String(msg)}
}

func invalidParam(msg string) error {
	return &types.InvalidParameterException{Message: aws.String(msg)}
}

// CreateLogGroup creates a log group; it exists already is
// ResourceAlreadyExistsException, as on AWS.
func (l *Logs) CreateLogGroup(ctx context.Context, in *cloudwatchlogs.CreateLogGroupInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogGroupOutput, error) {
	dir, err := l.groupDir(aws.ToString(in.LogGroupName))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, groupMarker)); err == nil {
		return nil, &types.ResourceAlreadyExistsException{Message: aws.String("The specified log group already exists")}
	}
	if err := l.ensureGroup(aws.ToString(in.LogGroupName)); err != nil {
		return nil, err
	}
	return &cloudwatchlogs.CreateLogGroupOutput{}, nil
}

// ensureGroup creates a log group unless it exists.
func (l *Logs) ensureGroup(group string) error {
	dir, err := l.groupDir(group)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create log group %s: %w", group, err)
	}
	marker := filepath.Join(dir, groupMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	return os.WriteFile(marker, []byte(group+"\n"), 0o644)
}

// readGroup is the folder of the existing log group a read names, by
// name or by identifier (name or ARN), as the read APIs accept either.
func (l *Logs) readGroup(name, identifier *string) (dir, group string, err error) {
	group = aws.ToString(name)
	if group == "" {
		group = groupFromIdentifier(aws.ToString(identifier))
	}
	dir, err = l.existingGroup(group)
	return dir, group, err
}

func (l *Logs) existingGroup(group string) (string, error) {
	dir, err := l.groupDir(group)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, groupMarker)); err != nil {
		return "", notFound("The specified log group does not exist.")
	}
	return dir, nil
}

// streamHeader is the first line of a log stream file.
type streamHeader struct {
	LogStreamName string `json:"logStreamName"`
	CreationTime  int64  `json:"creationTime"`
}

// storedEvent is one event line.
type storedEvent struct {
	Timestamp     int64  `json:"t"`
	IngestionTime int64  `json:"i"`
	Message       string `json:"m"`
}

// CreateLogStream creates a log stream in an existing group.
func (l *Logs) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	name := aws.ToString(in.LogStreamName)
	if name == "" || len(name) > names.MaxLogStreamName || strings.ContainsAny(name, ":*") {
		return nil, invalidParam(fmt.Sprintf("log stream name must be 1 to %d characters and contain neither ':' nor '*'", names.MaxLogStreamName))
	}
	dir, err := l.existingGroup(aws.ToString(in.LogGroupName))
	if err != nil {
		return nil, err
	}
	created, err := l.createStream(dir, name)
	if err != nil {
		return nil, err
	}
	if !created {
		return nil, &types.ResourceAlreadyExistsException{Message: aws.String("The specified log stream already exists")}
	}
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

// createStream creates a stream's file with its header; created is false
// when it existed. The file appears with its header or not at all (a
// full disk must not leave a file without one, which readers could not
// name): the header is written to a temporary file, which is then linked
// to the stream's name, and linking fails if the name exists.
func (l *Logs) createStream(dir, name string) (created bool, err error) {
	path := streamFile(dir, name)
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	f, err := os.CreateTemp(dir, ".new-stream-*")
	if err != nil {
		return false, fmt.Errorf("create log stream %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	hdr, _ := json.Marshal(streamHeader{LogStreamName: name, CreationTime: l.now().UnixMilli()})
	_, err = writeAt(f, append(hdr, '\n'), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create log stream %s: %w", name, err)
	}
	return true, nil
}

// PutLogEvents appends events to an existing log stream. As on AWS, the
// events of one call must be in chronological order and span less than
// 24 hours; events more than 14 days old or 2 hours ahead are rejected and
// reported in RejectedLogEventsInfo.
func (l *Logs) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	dir, err := l.existingGroup(aws.ToString(in.LogGroupName))
	if err != nil {
		return nil, err
	}
	path := streamFile(dir, aws.ToString(in.LogStreamName))
	if _, err := os.Stat(path); err != nil {
		return nil, notFound("The specified log stream does not exist.")
	}
	n := len(in.LogEvents)
	if n == 0 || n > maxEventsPerCall {
		return nil, invalidParam("a PutLogEvents call takes 1 to 10000 log events")
	}
	size := 0
	for i, e := range in.LogEvents {
		if e.Timestamp == nil || e.Message == nil {
			return nil, invalidParam("every log event needs a timestamp and a message")
		}
		size += len(*e.Message) + eventOverhead
		if i > 0 && *e.Timestamp < *in.LogEvents[i-1].Timestamp {
			return nil, invalidParam("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > maxBytesPerCall {
		return nil, invalidParam("the batch is larger than 1,048,576 bytes")
	}
	if *in.LogEvents[n-1].Timestamp-*in.LogEvents[0].Timestamp >= int64(24*time.Hour/time.Millisecond) {
		return nil, invalidParam("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	now := l.now().UnixMilli()
	tooOld := now - int64(14*24*time.Hour/time.Millisecond)
	tooNew := now + int64(2*time.Hour/time.Millisecond)
	var info types.RejectedLogEventsInfo
	rejected := false
	var buf []byte
	for i, e := range in.LogEvents {
		switch ts := *e.Timestamp; {
		case ts < tooOld:
			info.TooOldLogEventEndIndex, rejected = aws.Int32(int32(i+1)), true
			continue
		case ts > tooNew:
			if info.TooNewLogEventStartIndex == nil {
				info.TooNewLogEventStartIndex = aws.Int32(int32(i))
			}
			rejected = true
			continue
		}
		buf = appendEvent(buf, *e.Timestamp, now, *e.Message)
	}
	if err := l.appendLines(path, buf); err != nil {
		return nil, err
	}
	out := &cloudwatchlogs.PutLogEventsOutput{}
	if rejected {
		out.RejectedLogEventsInfo = &info
	}
	return out, nil
}

func appendEvent(b []byte, ts, ingested int64, msg string) []byte {
	line, _ := json.Marshal(storedEvent{Timestamp: ts, IngestionTime: ingested, Message: msg})
	b = append(b, line...)
	return append(b, '\n')
}

// appendLines appends whole lines to a stream file in one write, so that
// a reader sees all of them or an unfinished last line it ignores.
func (l *Logs) appendLines(path string, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	for {
		lf, err := l.file(path)
		if err != nil {
			return err
		}
		lf.mu.Lock()
		if lf.closed { // evicted between file and Lock
			lf.mu.Unlock()
			continue
		}
		err = lf.append(lines)
		lf.mu.Unlock()
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
}

// append writes whole lines at the end of the file, or none of them: a
// write cut short (a full disk) is cut off again, so that the next lines
// do not join a partial one that readers could not parse. lf.mu held.
func (lf *logFile) append(lines []byte) error {
	fi, err := lf.f.Stat()
	if err != nil {
		return err
	}
	if _, err := writeAt(lf.f, lines, fi.Size()); err != nil {
		lf.f.Truncate(fi.Size())
		return err
	}
	return nil
}

// isOpen tells whether a stream file is open for appending.
func (l *Logs) isOpen(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.files[path]
	return ok
}

func (l *Logs) file(path string) (*logFile, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lf, ok := l.files[path]; ok {
		return lf, nil
	}
	if len(l.files) >= maxOpenLogFiles {
		for p, lf := range l.files { // any one: appends reopen cheaply
			lf.mu.Lock()
			lf.f.Close()
			lf.closed = true
			lf.mu.Unlock()
			delete(l.files, p)
			break
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log stream file: %w", err)
	}
	lf := &logFile{f: f}
	l.files[path] = lf
	return lf, nil
}

// write appends messages to a log stream, creating the group and the
// stream as needed: the path for the runtime's own writers (workers'
// output, START/END/REPORT lines), which need no SDK shapes.
func (l *Logs) write(group, stream string, ts time.Time, msgs ...string) error {
	dir, err := l.groupDir(group)
	if err != nil {
		return err
	}
	path := streamFile(dir, stream)
	if l.isOpen(path) {
		// Written before: it exists.
	} else if _, err := os.Stat(path); err != nil {
		if err := l.ensureGroup(group); err != nil {
			return err
		}
		if _, err := l.createStream(dir, stream); err != nil {
			return err
		}
	}
	ms, now := ts.UnixMilli(), l.now().UnixMilli()
	var buf []byte
	for _, m := range msgs {
		buf = appendEvent(buf, ms, now, m)
	}
	return l.appendLines(path, buf)
}

// event is one stored event with its place in its stream.
type event struct {
	storedEvent
	stream string
	idx    int // line number among the stream's events
}

// readStream reads a stream file: its header and events in the order
// they were put.
func readStream(path string) (streamHeader, []event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return streamHeader{}, nil, err
	}
	var hdr streamHeader
	var evs []event
	for i := 0; len(data) > 0; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break // unfinished: being written
		}
		line := data[:nl]
		data = data[nl+1:]
		if i == 0 {
			if err := json.Unmarshal(line, &hdr); err != nil {
				return hdr, nil, fmt.Errorf("%s: bad header: %w", path, err)
			}
			if hdr.LogStreamName != "" {
				continue
			}
			// A file whose header a full disk kept from being written
			// (by xflow before headers were written atomically): its
			// name is the file's, and its first line an event.
			hdr = headerless(path)
		}
		var e event
		if err := json.Unmarshal(line, &e.storedEvent); err != nil {
			return hdr, nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		e.stream, e.idx = hdr.LogStreamName, len(evs)
		evs = append(evs, e)
	}
	if hdr.LogStreamName == "" {
		hdr = headerless(path) // empty: its header was never written
	}
	return hdr, evs, nil
}

// headerless is the header of a stream file that has none: the name
// unescaped from the file's, the file's time as its creation.
func headerless(path string) streamHeader {
	name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	if un, err := url.PathUnescape(name); err == nil {
		name = un
	}
	var created int64
	if fi, err := os.Stat(path); err == nil {
		created = fi.ModTime().UnixMilli()
	}
	return streamHeader{LogStreamName: name, CreationTime: created}
}

// chronological sorts events by timestamp, keeping the order they were
// put among equal timestamps: CloudWatch returns events by time, whatever
// order the calls that put them came in.
func chronological(evs []event) {
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
}

// GetLogEvents reads one log stream, a page at a time, in chronological
// order. As on AWS: without a token, StartFromHead false returns the last
// page and true the first; a forward token continues after the page it
// came with (and is returned unchanged at the end), a backward token
// before it; StartTime is inclusive and EndTime exclusive; a page holds at
// most Limit (10,000) events and 1 MB.
func (l *Logs) GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	dir, _, err := l.readGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	_, evs, err := readStream(streamFile(dir, aws.ToString(in.LogStreamName)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound("The specified log stream does not exist.")
	}
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return nil, err
	}
	// Keep the window, then order.
	kept := evs[:0]
	for _, e := range evs {
		if in.StartTime != nil && e.Timestamp < *in.StartTime {
			continue
		}
		if in.EndTime != nil && e.Timestamp >= *in.EndTime {
			continue
		}
		kept = append(kept, e)
	}
	evs = kept
	for i := range evs {
		evs[i].stream = "" // one stream: tokens carry no name
	}
	chronological(evs)

	forward := aws.ToBool(in.StartFromHead)
	var from, to int // the page is evs[from:to]
	var tok *pageKey
	if in.NextToken != nil {
		k, dir, err := parseGetToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		tok, forward = &k, dir == 'f'
	}
	if forward {
		from = 0
		if tok != nil {
			from = sortSearch(evs, *tok, true)
		}
		to = from
		for size := 0; to < len(evs) && to-from < limit; to++ {
			size += len(evs[to].Message) + eventOverhead
			if size > maxBytesPerCall && to > from {
				break
			}
		}
	} else {
		to = len(evs)
		if tok != nil {
			to = sortSearch(evs, *tok, false)
		}
		from = to
		for size := 0; from > 0 && to-from < limit; from-- {
			size += len(evs[from-1].Message) + eventOverhead
			if size > maxBytesPerCall && from < to {
				break
			}
		}
	}
	page := evs[from:to]
	out := &cloudwatchlogs.GetLogEventsOutput{Events: make([]types.OutputLogEvent, len(page))}
	for i, e := range page {
		out.Events[i] = types.OutputLogEvent{
			Timestamp:     aws.Int64(e.Timestamp),
			IngestionTime: aws.Int64(e.IngestionTime),
			Message:       aws.String(e.Message),
		}
	}
	// The tokens bracket the page by (timestamp, index) keys, so that they
	// stay right when events are added between calls. An empty page hands
	// back the token it came with, which is how callers see the end.
	switch {
	case len(page) > 0:
		out.NextForwardToken = aws.String(getToken('f', keyOf(page[len(page)-1])))
		out.NextBackwardToken = aws.String(getToken('b', keyOf(page[0])))
	case in.NextToken != nil:
		out.NextForwardToken, out.NextBackwardToken = in.NextToken, in.NextToken
	default:
		// No events: a forward token from the very start, a backward one
		// from the very end, each leading to an empty page.
		out.NextForwardToken = aws.String(getToken('f', pageKey{ts: -1 << 62, idx: -1}))
		out.NextBackwardToken = aws.String(getToken('b', pageKey{ts: 1 << 62}))
	}
	return out, nil
}

// groupFromIdentifier accepts a log group name or ARN.
func groupFromIdentifier(id string) string {
	if _, rest, ok := strings.Cut(id, ":log-group:"); ok {
		return strings.TrimSuffix(rest, ":*")
	}
	return id
}

func pageLimit(limit *int32) (int, error) {
	if limit == nil {
		return maxEventsPerCall, nil
	}
	if *limit < 1 || *limit > maxEventsPerCall {
		return 0, invalidParam("Limit must be between 1 and 10000")
	}
	return int(*limit), nil
}

// pageKey orders events: timestamp, then stream (FilterLogEvents), then
// index in the stream.
type pageKey struct {
	ts     int64
	stream string
	idx    int
}

func keyOf(e event) pageKey { return pageKey{ts: e.Timestamp, stream: e.stream, idx: e.idx} }

func compareKey(a, b pageKey) int {
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	if c := strings.Compare(a.stream, b.stream); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// sortSearch returns the index of the first event after k (after true) or
// the first at or after k (after false) in events sorted by key.
func sortSearch(evs []event, k pageKey, after bool) int {
	i, _ := slices.BinarySearchFunc(evs, k, func(e event, k pageKey) int {
		c := compareKey(keyOf(e), k)
		if after && c == 0 {
			return -1
		}
		return c
	})
	return i
}

// getToken writes a GetLogEvents token as f/<timestamp>/<index> or
// b/<timestamp>/<index>, after the shape of AWS's f/… and b/… tokens.
func getToken(dir byte, k pageKey) string {
	return fmt.Sprintf("%c/%d/%d", dir, k.ts, k.idx)
}

func parseGetToken(tok string) (pageKey, byte, error) {
	parts := strings.Split(tok, "/")
	if len(parts) != 3 || (parts[0] != "f" && parts[0] != "b") {
		return pageKey{}, 0, invalidParam("The specified nextToken is invalid.")
	}
	ts, err1 := strconv.ParseInt(parts[1], 10, 64)
	idx, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return pageKey{}, 0, invalidParam("The specified nextToken is invalid.")
	}
	return pageKey{ts: ts, idx: idx}, parts[0][0], nil
}

// FilterLogEvents reads the events of a log group (all its streams, or
// those named or prefixed) in a time window that match a filter pattern,
// interleaved in chronological order, a page at a time. StartTime and
// EndTime are both inclusive, as AWS documents them. NextToken is nil
// after the last page.
//
// Filter patterns: terms separated by spaces, each a word or a "quoted
// phrase", match case-sensitively as substrings; all plain terms must
// match, at least one ?term when there are any, and no -term. %regex% is
// a regular expression. JSON and space-delimited patterns ({...}, [...])
// are refused with InvalidParameterException rather than matched loosely.
func (l *Logs) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	dir, _, err := l.readGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != nil {
		return nil, invalidParam("logStreamNames and logStreamNamePrefix are mutually exclusive")
	}
	match, err := compilePattern(aws.ToString(in.FilterPattern))
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return nil, err
	}
	var after *pageKey
	if in.NextToken != nil {
		k, err := parseFilterToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		after = &k
	}
	paths, err := l.streamPaths(dir, in.LogStreamNames, in.LogStreamNamePrefix)
	if err != nil {
		return nil, err
	}
	var evs []event
	for _, p := range paths {
		hdr, stEvs, err := readStream(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		if len(in.LogStreamNames) == 0 && in.LogStreamNamePrefix != nil && !strings.HasPrefix(hdr.LogStreamName, *in.LogStreamNamePrefix) {
			continue
		}
		for _, e := range stEvs {
			if in.StartTime != nil && e.Timestamp < *in.StartTime {
				continue
			}
			if in.EndTime != nil && e.Timestamp > *in.EndTime {
				continue
			}
			if after != nil && compareKey(keyOf(e), *after) <= 0 {
				continue
			}
			if match(e.Message) {
				evs = append(evs, e)
			}
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return compareKey(keyOf(a), keyOf(b)) })
	out := &cloudwatchlogs.FilterLogEventsOutput{Events: []types.FilteredLogEvent{}}
	size := 0
	for i, e := range evs {
		size += len(e.Message) + eventOverhead
		if i == limit || (size > maxBytesPerCall && i > 0) {
			out.NextToken = aws.String(filterToken(keyOf(evs[i-1])))
			break
		}
		out.Events = append(out.Events, types.FilteredLogEvent{
			EventId:       aws.String(fmt.Sprintf("%d-%s-%d", e.Timestamp, shortHash(e.stream), e.idx)),
			LogStreamName: aws.String(e.stream),
			Timestamp:     aws.Int64(e.Timestamp),
			IngestionTime: aws.Int64(e.IngestionTime),
			Message:       aws.String(e.Message),
		})
	}
	return out, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func filterToken(k pageKey) string {
	return fmt.Sprintf("%d/%d/%s", k.ts, k.idx, base64.RawURLEncoding.EncodeToString([]byte(k.stream)))
}

func parseFilterToken(tok string) (pageKey, error) {
	parts := strings.SplitN(tok, "/", 3)
	if len(parts) == 3 {
		ts, err1 := strconv.ParseInt(parts[0], 10, 64)
		idx, err2 := strconv.Atoi(parts[1])
		stream, err3 := base64.RawURLEncoding.DecodeString(parts[2])
		if err1 == nil && err2 == nil && err3 == nil {
			return pageKey{ts: ts, stream: string(stream), idx: idx}, nil
		}
	}
	return pageKey{}, invalidParam("The specified nextToken is invalid.")
}

// streamPaths lists the stream files of a group folder: the named ones,
// or all (a prefix is checked against the header, since long names are
// hashed).
func (l *Logs) streamPaths(dir string, names []string, prefix *string) ([]string, error) {
	if len(names) > 0 {
		var out []string
		for _, n := range names {
			out = append(out, streamFile(dir, n))
		}
		return out, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out, nil
}

// compilePattern turns a CloudWatch Logs filter pattern into a matcher.
func compilePattern(p string) (func(string) bool, error) {
	p = strings.TrimSpace(p)
	switch {
	case p == "":
		return func(string) bool { return true }, nil
	case strings.HasPrefix(p, "{"), strings.HasPrefix(p, "["):
		return nil, invalidParam("JSON and space-delimited filter patterns are not supported by xflow's local log store; use terms, \"quoted phrases\" or %regex%")
	case len(p) >= 2 && p[0] == '%' && p[len(p)-1] == '%':
		re, err := regexp.Compile(p[1 : len(p)-1])
		if err != nil {
			return nil, invalidParam("Invalid filter pattern: " + err.Error())
		}
		return re.MatchString, nil
	}
	var all, any, none []string
	for i := 0; i < len(p); {
		if p[i] == ' ' || p[i] == '\t' {
			i++
			continue
		}
		kind := byte(0)
		if p[i] == '?' || p[i] == '-' {
			kind = p[i]
			i++
		}
		var term string
		if i < len(p) && p[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(p) {
				c := p[i]
				if c == '\\' && i+1 < len(p) {
					b.WriteByte(p[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, invalidParam("Invalid filter pattern: unterminated quoted term")
			}
			term = b.String()
		} else {
			j := i
			for j < len(p) && p[j] != ' ' && p[j] != '\t' {
				j++
			}
			term, i = p[i:j], j
		}
		if term == "" {
			continue
		}
		switch kind {
		case '?':
			any = append(any, term)
		case '-':
			none = append(none, term)
		default:
			all = append(all, term)
		}
	}
	return func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(any) == 0 {
			return true
		}
		for _, t := range any {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}, nil
}

// DescribeLogStreams lists the streams of a group: by name (the default)
// or, with OrderBy LastEventTime, by the time of their last event;
// Descending reverses; Limit (default 50) and NextToken page. As on AWS, a
// name prefix cannot be combined with LastEventTime ordering. The local
// server lists executions with it, as it would on AWS.
func (l *Logs) DescribeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error) {
	dir, group, err := l.readGroup(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	byTime := in.OrderBy == types.OrderByLastEventTime
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalidParam("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	limit := defaultDescribe
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, invalidParam("Limit must be between 1 and 50")
		}
		limit = int(*in.Limit)
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 {
			return nil, invalidParam("The specified nextToken is invalid.")
		}
		start = n
	}
	paths, err := l.streamPaths(dir, nil, nil)
	if err != nil {
		return nil, err
	}
	var all []types.LogStream
	for _, p := range paths {
		hdr, evs, err := readStream(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		if in.LogStreamNamePrefix != nil && !strings.HasPrefix(hdr.LogStreamName, *in.LogStreamNamePrefix) {
			continue
		}
		st := types.LogStream{
			LogStreamName: aws.String(hdr.LogStreamName),
			CreationTime:  aws.Int64(hdr.CreationTime),
			Arn:           aws.String(fmt.Sprintf("arn:aws:logs:local:000000000000:log-group:%s:log-stream:%s", group, hdr.LogStreamName)),
		}
		if len(evs) > 0 {
			first, last, ingest := evs[0].Timestamp, evs[0].Timestamp, evs[0].IngestionTime
			for _, e := range evs {
				first, last, ingest = min(first, e.Timestamp), max(last, e.Timestamp), max(ingest, e.IngestionTime)
			}
			st.FirstEventTimestamp, st.LastEventTimestamp, st.LastIngestionTime = aws.Int64(first), aws.Int64(last), aws.Int64(ingest)
		}
		all = append(all, st)
	}
	slices.SortFunc(all, func(a, b types.LogStream) int {
		if byTime {
			if c := cmp.Compare(aws.ToInt64(a.LastEventTimestamp), aws.ToInt64(b.LastEventTimestamp)); c != 0 {
				return c
			}
		}
		return strings.Compare(aws.ToString(a.LogStreamName), aws.ToString(b.LogStreamName))
	})
	if aws.ToBool(in.Descending) {
		slices.Reverse(all)
	}
	out := &cloudwatchlogs.DescribeLogStreamsOutput{LogStreams: []types.LogStream{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		out.LogStreams = all[start:end]
		if end < len(all) {
			out.NextToken = aws.String(strconv.Itoa(end))
		}
	}
	return out, nil
}
