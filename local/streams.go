package local

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A stream is an append-only log of records split into segment files
// named by the stream offset of their first byte (<base>.seg, 20 digits),
// like Kafka's. A record's sequence number is its stream offset, written
// as 20 decimal digits: unique, increasing, sortable as a string, and
// enough to find the record again without an index. Each record is
//
//	uint32 LE  n, the length of the body
//	uint32 LE  CRC-32C of the body
//	body:      int64 LE arrival time (Unix ms), uint16 LE partition key
//	           length, partition key, data
//
// A writer that dies in the middle of a record leaves a torn tail: a
// length that runs past the end of the file or a body whose checksum does
// not match. The next writer (or a reader that finds the tail stuck) takes
// the lock and truncates it; that record was never acknowledged, since
// PutRecord returns only after the write and its fsync.
const (
	recordHeader = 8
	bodyHeader   = 10
	seqDigits    = 20
	segmentExt   = ".seg"
)

// shardID is the one shard of every local stream: order is kept per
// stream, which is at least what Kinesis keeps per partition key.
const shardID = "shardId-000000000000"

// Limits of a record, as Kinesis has them.
const (
	maxRecordData   = 1 << 20 // data plus partition key
	maxPartitionKey = 256
)

// segmentBytes is the size after which a writer starts a new segment.
// Tests make it small.
var segmentBytes int64 = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Record is one record of a stream.
type Record struct {
	Seq          int64 // stream offset; SequenceNumber is its text
	Next         int64 // offset of the record after it
	Arrival      time.Time
	PartitionKey string
	Data         []byte
}

// SequenceNumber is the record's sequence number as Kinesis writes one.
func (r Record) SequenceNumber() string { return formatSeq(r.Seq) }

func formatSeq(off int64) string { return fmt.Sprintf("%0*d", seqDigits, off) }

// parseSeq reads a sequence number back into a stream offset.
func parseSeq(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid sequence number %q", s)
	}
	return n, nil
}

// stream is one event's stream in a state folder. One value per stream
// and process: in-process readers are woken by its appends, readers in
// other processes poll.
type stream struct {
	name string
	dir  string

	mu       sync.Mutex // writers of this process; then the flock
	lock     *os.File
	active   *os.File // the last segment, for appending
	base     int64    // its base offset
	size     int64    // its size known to be valid
	segments []int64  // bases, ascending

	// changed is closed and replaced after each append of this process.
	notifyMu sync.Mutex
	changed  chan struct{}
}

// openStream opens (creating) the stream of a state folder.
func openStream(stateDir, name string) (*stream, error) {
	dir := filepath.Join(stateDir, "streams", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", name, err)
	}
	return &stream{name: name, dir: dir, lock: lock, changed: make(chan struct{})}, nil
}

func (s *stream) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
		s.active = nil
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}

func (s *stream) segmentPath(base int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%0*d%s", seqDigits, base, segmentExt))
}

// listSegments returns the bases of the stream's segments, ascending.
func (s *stream) listSegments() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || len(name) != seqDigits {
			continue
		}
		if n, err := strconv.ParseInt(name, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// withLock runs f holding both the process's and the file's lock.
func (s *stream) withLock(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := flock(s.lock, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock stream %s: %w", s.name, err)
	}
	defer flock(s.lock, syscall.LOCK_UN)
	return f()
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// refresh brings the writer's view up to date with the files, which other
// processes may have appended to, and truncates a torn tail. Lock held.
func (s *stream) refresh() error {
	segs, err := s.listSegments()
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		f, err := os.OpenFile(s.segmentPath(0), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return err
		}
		s.replaceActive(f, 0, 0)
		s.segments = []int64{0}
		return nil
	}
	s.segments = segs
	last := segs[len(segs)-1]
	if s.active == nil || s.base != last {
		f, err := os.OpenFile(s.segmentPath(last), os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		s.replaceActive(f, last, 0)
	}
	fi, err := s.active.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == s.size {
		return nil
	}
	if fi.Size() < s.size { // someone truncated a torn tail we had not seen
		s.size = 0
	}
	valid, err := validPrefix(s.active, s.size, fi.Size())
	if err != nil {
		return err
	}
	if valid < fi.Size() {
		if err := s.active.Truncate(valid); err != nil {
			return fmt.Errorf("truncate the torn tail of %s: %w", s.active.Name(), err)
		}
		if err := s.active.Sync(); err != nil {
			return err
		}
	}
	s.size = valid
	return nil
}

func (s *stream) replaceActive(f *os.File, base, size int64) {
	if s.active != nil {
		s.active.Close()
	}
	s.active, s.base, s.size = f, base, size
}

// validPrefix returns the offset in f after the last whole, intact record
// at or after from, reading up to size.
func validPrefix(f *os.File, from, size int64) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, size-from), 256<<10)
	off := from
	var hdr [recordHeader]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if n < bodyHeader || n > maxRecordData+bodyHeader+4*maxPartitionKey || off+recordHeader+n > size {
			return off, nil
		}
		body = slices.Grow(body[:0], int(n))[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return off, nil
		}
		if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:8]) {
			return off, nil
		}
		off += recordHeader + n
	}
}

// appendRecord is a record to append.
type appendRecord struct {
	PartitionKey string
	Data         []byte
}

// append writes records durably and returns their sequence numbers
// (stream offsets) and arrival time. It returns after the fsync, so an
// acknowledged record survives a crash of any process.
func (s *stream) append(recs []appendRecord) ([]int64, time.Time, error) {
	seqs := make([]int64, len(recs))
	var arrival time.Time
	err := s.withLock(func() error {
		if err := s.refresh(); err != nil {
			return fmt.Errorf("open stream %s: %w", s.name, err)
		}
		arrival = time.Now()
		ms := arrival.UnixMilli()
		var buf []byte
		flush := func() error {
			if len(buf) == 0 {
				return nil
			}
			if _, err := s.active.WriteAt(buf, s.size); err != nil {
				return err
			}
			if err := s.active.Sync(); err != nil {
				return err
			}
			s.size += int64(len(buf))
			buf = buf[:0]
			return nil
		}
		for i, r := range recs {
			n := recordHeader + bodyHeader + len(r.PartitionKey) + len(r.Data)
			if s.size+int64(len(buf)) > 0 && s.size+int64(len(buf)+n) > segmentBytes {
				if err := flush(); err != nil {
					return err
				}
				base := s.base + s.size
				f, err := os.OpenFile(s.segmentPath(base), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
				if err != nil {
					return err
				}
				if err := syncDir(s.dir); err != nil {
					f.Close()
					return err
				}
				s.replaceActive(f, base, 0)
				s.segments = append(s.segments, base)
			}
			seqs[i] = s.base + s.size + int64(len(buf))
			buf = appendEncoded(buf, ms, r.PartitionKey, r.Data)
		}
		return flush()
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("append to stream %s: %w", s.name, err)
	}
	s.notify()
	return seqs, time.UnixMilli(arrival.UnixMilli()), nil
}

func appendEncoded(b []byte, ms int64, key string, data []byte) []byte {
	n := bodyHeader + len(key) + len(data)
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0) // checksum, below
	b = binary.LittleEndian.AppendUint64(b, uint64(ms))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+recordHeader:], crcTable))
	return b
}

func (s *stream) notify() {
	s.notifyMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.notifyMu.Unlock()
}

// waitChan is closed at the next append of this process.
func (s *stream) waitChan() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.changed
}

// end returns the offset after the last record, as the files say now.
func (s *stream) end() (int64, error) {
	segs, err := s.listSegments()
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	last := segs[len(segs)-1]
	fi, err := os.Stat(s.segmentPath(last))
	if err != nil {
		return 0, err
	}
	return last + fi.Size(), nil
}

// reader reads a stream from an offset. It is not safe for concurrent use.
type reader struct {
	s        *stream
	segs     []int64
	file     *os.File
	fileBase int64

	// tornSince is when the reader first found an incomplete record at
	// the same offset; after a while it repairs the tail itself.
	tornAt    int64
	tornSince time.Time
}

// tornPatience is how long a reader waits for an incomplete record to be
// completed before it concludes its writer died and truncates it.
var tornPatience = time.Second

func (s *stream) newReader() *reader { return &reader{s: s, tornAt: -1} }

func (r *reader) close() {
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
}

// segmentFor returns the base of the segment holding offset pos.
func (r *reader) segmentFor(pos int64) (int64, bool) {
	i, found := slices.BinarySearch(r.segs, pos)
	if found {
		return r.segs[i], true
	}
	if i == 0 {
		return 0, false
	}
	return r.segs[i-1], true
}

// read returns up to max records from offset pos, stopping before the
// total of their data and keys passes maxBytes (but returning at least
// one record).
func (r *reader) read(pos int64, max int, maxBytes int) ([]Record, error) {
	var out []Record
	total := 0
	for len(out) < max {
		rec, ok, err := r.readOne(pos)
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		total += len(rec.Data) + len(rec.PartitionKey)
		if len(out) > 0 && total > maxBytes {
			break
		}
		out = append(out, rec)
		pos = rec.Next
	}
	return out, nil
}

// readOne reads the record at pos; ok is false when there is none yet.
func (r *reader) readOne(pos int64) (Record, bool, error) {
	for attempt := 0; ; attempt++ {
		base, ok := r.segmentFor(pos)
		if ok && (r.file == nil || r.fileBase != base) {
			r.close()
			f, err := os.Open(r.s.segmentPath(base))
			if err != nil {
				return Record{}, false, err
			}
			r.file, r.fileBase = f, base
		}
		if ok {
			rec, status, err := readAt(r.file, base, pos)
			if err != nil {
				return Record{}, false, err
			}
			switch status {
			case recOK:
				r.tornAt = -1
				return rec, true, nil
			case recTorn:
				if r.tornAt != pos {
					r.tornAt, r.tornSince = pos, time.Now()
				} else if time.Since(r.tornSince) > tornPatience {
					// A writer holds the lock while it writes, so a tail
					// still torn under the lock is a dead writer's.
					if err := r.s.withLock(r.s.refresh); err != nil {
						return Record{}, false, err
					}
					r.tornAt = -1
				}
				return Record{}, false, nil
			}
			// recEOF: maybe the next segment starts here.
		}
		if attempt > 0 {
			return Record{}, false, nil
		}
		segs, err := r.s.listSegments()
		if err != nil {
			return Record{}, false, err
		}
		if len(segs) == len(r.segs) {
			return Record{}, false, nil
		}
		r.segs = segs
	}
}

const (
	recOK = iota
	recEOF
	recTorn
)

func readAt(f *os.File, base, pos int64) (Record, int, error) {
	var hdr [recordHeader + bodyHeader]byte
	n, err := f.ReadAt(hdr[:], pos-base)
	if n == 0 && err == io.EOF {
		return Record{}, recEOF, nil
	}
	if n < len(hdr) {
		if err == io.EOF {
			return Record{}, recTorn, nil
		}
		return Record{}, 0, err
	}
	size := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if size < bodyHeader || size > maxRecordData+bodyHeader+4*maxPartitionKey {
		return Record{}, recTorn, nil
	}
	body := make([]byte, size)
	n, err = f.ReadAt(body, pos-base+recordHeader)
	if int64(n) < size {
		if err == io.EOF {
			return Record{}, recTorn, nil
		}
		return Record{}, 0, err
	}
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return Record{}, recTorn, nil
	}
	ms := int64(binary.LittleEndian.Uint64(body[0:8]))
	klen := int(binary.LittleEndian.Uint16(body[8:10]))
	if bodyHeader+klen > len(body) {
		return Record{}, recTorn, nil
	}
	return Record{
		Seq:          pos,
		Next:         pos + recordHeader + size,
		Arrival:      time.UnixMilli(ms),
		PartitionKey: string(body[bodyHeader : bodyHeader+klen]),
		Data:         body[bodyHeader+klen:],
	}, recOK, nil
}

// syncDir makes a file's creation or rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeFileAtomic replaces path with data: a reader or a crash sees the
// old content or the new, never a part.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}
