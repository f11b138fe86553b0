package local

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func readAll(t *testing.T, s *stream) []Record {
	t.Helper()
	r := s.newReader()
	defer r.close()
	recs, err := r.read(0, 1_000_000, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func readAllReadOnly(t *testing.T, s *stream) []Record {
	t.Helper()
	r := s.newReadOnlyReader()
	defer r.close()
	recs, err := r.read(0, 1_000_000, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func mustOpen(t *testing.T, dir, name string) *stream {
	t.Helper()
	s, err := openStream(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s
}

func TestStreamAppendRead(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "S")
	before := time.Now().Add(-time.Millisecond)
	seqs, _, err := s.append([]appendRecord{{"k1", []byte("a")}, {"k2", []byte("bb")}, {"k3", nil}})
	if err != nil {
		t.Fatal(err)
	}
	more, _, err := s.append([]appendRecord{{"k4", []byte("dddd")}})
	if err != nil {
		t.Fatal(err)
	}
	seqs = append(seqs, more...)
	recs := readAll(t, s)
	if len(recs) != 4 {
		t.Fatalf("read %d records, want 4", len(recs))
	}
	for i, r := range recs {
		if r.Seq != seqs[i] {
			t.Errorf("record %d: sequence %d, append said %d", i, r.Seq, seqs[i])
		}
		if i > 0 && !(recs[i-1].SequenceNumber() < r.SequenceNumber()) || len(r.SequenceNumber()) != 20 {
			t.Errorf("sequence numbers %q then %q do not sort as strings", recs[max(i-1, 0)].SequenceNumber(), r.SequenceNumber())
		}
		if i > 0 && recs[i-1].Next != r.Seq {
			t.Errorf("record %d starts at %d, the one before ends at %d", i, r.Seq, recs[i-1].Next)
		}
		if r.Arrival.Before(before) || r.Arrival.After(time.Now()) {
			t.Errorf("record %d arrived at %v", i, r.Arrival)
		}
	}
	if got := fmt.Sprintf("%s=%s %s=%s %s=%q %s=%s", recs[0].PartitionKey, recs[0].Data, recs[1].PartitionKey, recs[1].Data, recs[2].PartitionKey, recs[2].Data, recs[3].PartitionKey, recs[3].Data); got != `k1=a k2=bb k3="" k4=dddd` {
		t.Errorf("records: %s", got)
	}
	// Reading from a record's sequence number starts there.
	r := s.newReader()
	defer r.close()
	from, _ := r.read(recs[2].Seq, 10, 1<<62)
	if len(from) != 2 || from[0].PartitionKey != "k3" {
		t.Errorf("read from %s: %v", recs[2].SequenceNumber(), from)
	}
	if end, _ := s.end(); end != recs[3].Next {
		t.Errorf("end = %d, want %d", end, recs[3].Next)
	}
}

// tornTails are the ways a writer can die in the middle of a record.
var tornTails = map[string]func(good []byte) []byte{
	"half a header": func(good []byte) []byte { return good[:7] },
	"short body":    func(good []byte) []byte { return good[:len(good)-3] },
	"zeros":         func(good []byte) []byte { return make([]byte, 40) },
}

// TestStreamTornTail: a partial record at the end, under the lock, is a
// dead writer's: the next writer cuts it off (keeping its bytes in the
// quarantine folder, and saying so) and appends where it started.
func TestStreamTornTail(t *testing.T) {
	for name, tail := range tornTails {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, "S")
			var logged bytes.Buffer
			s.log = slog.New(slog.NewTextHandler(&logged, nil))
			if _, _, err := s.append([]appendRecord{{"k", []byte("one")}, {"k", []byte("two")}}); err != nil {
				t.Fatal(err)
			}
			end, _ := s.end()
			seg := filepath.Join(dir, "streams", "S", "00000000000000000000.rec")
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail(encodeRecord(nil, 1, "k", []byte("dead"))))
			f.Close()

			if recs := readAllReadOnly(t, s); len(recs) != 2 {
				t.Fatalf("read %d records past a torn tail, want 2", len(recs))
			}
			// Another writer (another process) cuts the tail off first.
			other := mustOpen(t, dir, "S")
			other.log = s.log
			seqs, _, err := other.append([]appendRecord{{"k", []byte("three")}})
			if err != nil {
				t.Fatal(err)
			}
			if seqs[0] != end {
				t.Errorf("the record after the torn tail starts at %d, want %d", seqs[0], end)
			}
			recs := readAll(t, s)
			if len(recs) != 3 || string(recs[2].Data) != "three" {
				t.Fatalf("after repair: %d records", len(recs))
			}
			if _, err := os.Stat(filepath.Join(dir, "quarantine", "S", formatSeq(end)+".bin")); err != nil {
				t.Errorf("the torn tail is not in the quarantine folder: %v", err)
			}
			if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), formatSeq(end)) {
				t.Errorf("the repair was not logged as an error naming %s:\n%s", formatSeq(end), logged.String())
			}
		})
	}
}

// TestReaderRepairsTail: with no writer coming, a reader that finds a
// torn tail under the shared lock cuts it off at once: no writer is
// writing while it holds the lock.
func TestReaderRepairsTail(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "S")
	s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s.append([]appendRecord{{"k", []byte("one")}})
	end, _ := s.end()
	seg := filepath.Join(dir, "streams", "S", "00000000000000000000.rec")
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{1, 2, 3, 4, 5})
	f.Close()
	r := s.newReader()
	defer r.close()
	recs, err := r.read(end, 10, 1<<20)
	if err != nil || len(recs) != 0 {
		t.Fatalf("read at the torn tail: %d records, %v", len(recs), err)
	}
	if fi, _ := os.Stat(seg); fi.Size() != end {
		t.Errorf("the segment is %d bytes after the reader's repair, want %d", fi.Size(), end)
	}
}

func TestStreamSegments(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 200
	dir := t.TempDir()
	s := mustOpen(t, dir, "S")
	var want []string
	for i := range 30 {
		d := fmt.Sprintf("record-%02d-%s", i, bytes.Repeat([]byte("x"), 30))
		want = append(want, d)
		if _, _, err := s.append([]appendRecord{{"k", []byte(d)}}); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := s.listSegments()
	if len(segs) < 5 {
		t.Fatalf("%d segments, want many of 200 bytes", len(segs))
	}
	recs := readAll(t, s)
	var got []string
	for i, r := range recs {
		got = append(got, string(r.Data))
		if i > 0 && recs[i-1].Next != r.Seq {
			t.Errorf("record %d starts at %d, the one before ends at %d", i, r.Seq, recs[i-1].Next)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("read across segments:\n%v\nwant\n%v", got, want)
	}
}

// TestConcurrentWriters: writers with their own open files, as in two
// processes, append at once; every record is there once, intact, with a
// sequence number of its own.
func TestConcurrentWriters(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 4096
	dir := t.TempDir()
	writers := []*stream{mustOpen(t, dir, "S"), mustOpen(t, dir, "S")}
	var wg sync.WaitGroup
	const each = 50
	for w := range 4 {
		wg.Go(func() {
			for i := range each {
				recs := []appendRecord{{"k", fmt.Appendf(nil, "w%d-%d", w, i)}}
				if i%10 == 0 {
					recs = append(recs, appendRecord{"k", fmt.Appendf(nil, "w%d-%d-b", w, i)})
				}
				if _, _, err := writers[w%2].append(recs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	recs := readAll(t, mustOpen(t, dir, "S"))
	seen := map[string]bool{}
	seqs := map[int64]bool{}
	for _, r := range recs {
		if seen[string(r.Data)] || seqs[r.Seq] {
			t.Errorf("record %s (%d) twice", r.Data, r.Seq)
		}
		seen[string(r.Data)], seqs[r.Seq] = true, true
	}
	if want := 4 * (each + each/10); len(recs) != want {
		t.Errorf("read %d records, want %d", len(recs), want)
	}
	// Per writer goroutine, in the order it appended.
	for w := range 4 {
		last := -1
		for _, r := range recs {
			var ww, i int
			if n, _ := fmt.Sscanf(string(r.Data), "w%d-%d", &ww, &i); n == 2 && ww == w {
				if i < last {
					t.Errorf("writer %d: record %d after %d", w, i, last)
				}
				last = i
			}
		}
	}
}

// BenchmarkAppend is one durable PutRecord's worth of work.
func BenchmarkAppend(b *testing.B) {
	s, err := openStream(b.TempDir(), "S")
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	data := bytes.Repeat([]byte("x"), 200)
	for b.Loop() {
		if _, _, err := s.append([]appendRecord{{"ex-1", data}}); err != nil {
			b.Fatal(err)
		}
	}
}
