package local

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// stream is one event's stream in a state folder (the format is in
// segment.go). One value per stream and process: in-process readers are
// woken by its appends, readers in other processes poll.
//
// Writers hold the stream's flock exclusively while they write and fsync;
// readers hold it shared while they read, each through a file of its own
// (flock excludes open files, not processes). So a reader sees only what
// was written and synced, and whatever it finds that is not a record is
// not a write in progress: it is a dead writer's torn tail, or damage.
type stream struct {
	name     string
	dir      string
	stateDir string
	log      *slog.Logger // where damage is reported

	mu       sync.Mutex // writers of this process; then the flock
	lock     *os.File
	active   *os.File // the last segment, for appending
	seg      segment  // its segment
	size     int64    // its size known to be valid
	segments []segment

	// Appends queue here; the first in line commits every append queued
	// so far with one write and one fsync (group commit), then hands over
	// to the next in line.
	qmu        sync.Mutex
	qcond      *sync.Cond
	queue      []*appendReq
	committing bool

	// The last listing of the folder's segments (see listSegments).
	listMu    sync.Mutex
	listed    []segment
	listedMod time.Time
	listedAt  time.Time

	// changed is closed and replaced after each append of this process.
	notifyMu sync.Mutex
	changed  chan struct{}
}

// setLog sends what the streams find damaged to l.
func (s *Streams) setLog(l *slog.Logger) {
	for _, st := range s.streams {
		st.log = l
	}
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
	return newStream(stateDir, name, dir, lock), nil
}

// openExistingStream opens a stream to read it without creating anything;
// ok is false when the state folder has no such stream.
func openExistingStream(stateDir, name string) (s *stream, ok bool, err error) {
	dir := filepath.Join(stateDir, "streams", name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	lock, err := os.Open(filepath.Join(dir, "lock"))
	if errors.Is(err, fs.ErrNotExist) {
		lock = nil // no writer ever ran: nothing to exclude
	} else if err != nil {
		return nil, false, fmt.Errorf("open stream %s: %w", name, err)
	}
	return newStream(stateDir, name, dir, lock), true, nil
}

func newStream(stateDir, name, dir string, lock *os.File) *stream {
	s := &stream{name: name, dir: dir, stateDir: stateDir, lock: lock, log: slog.Default(), changed: make(chan struct{})}
	s.qcond = sync.NewCond(&s.qmu)
	return s
}

func (s *stream) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
		s.active = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

func (s *stream) segmentPath(g segment) string { return filepath.Join(s.dir, g.name()) }

// listSegments returns the stream's segments, by base. The folder is
// read again only when its modification time changed, or changed so
// recently that a later change in the same clock tick could hide behind
// it: writers, readers and idle checks ask often, and segments change
// seldom.
func (s *stream) listSegments() ([]segment, error) {
	fi, err := os.Stat(s.dir)
	if err != nil {
		return nil, err
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	if s.listed != nil && fi.ModTime().Equal(s.listedMod) && s.listedAt.Sub(s.listedMod) > listSettle {
		return slices.Clone(s.listed), nil
	}
	now := time.Now()
	segs, err := listSegments(s.dir)
	if err != nil {
		return nil, err
	}
	s.listed, s.listedMod, s.listedAt = segs, fi.ModTime(), now
	return slices.Clone(segs), nil
}

// listSettle is how long after a folder's change its modification time
// is trusted to show the next change: longer than any file system's
// clock tick.
const listSettle = 100 * time.Millisecond

// withLock runs f holding both the process's and the file's lock.
func (s *stream) withLock(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil {
		if err := flock(s.lock, syscall.LOCK_EX); err != nil {
			return fmt.Errorf("lock stream %s: %w", s.name, err)
		}
		defer flock(s.lock, syscall.LOCK_UN)
	}
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
// processes may have appended to, and deals with what is not a record
// after the last one it knows: a torn tail is cut off, damage moved to
// the quarantine folder. Lock held.
func (s *stream) refresh() error {
	segs, err := s.listSegments()
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return s.startSegment(segment{base: 0})
	}
	s.segments = segs
	last := segs[len(segs)-1]
	if s.active == nil || s.seg != last {
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
	if fi.Size() < s.size { // another process repaired what we had not seen
		s.size = 0
	}
	if fi.Size() != s.size {
		end, err := s.validate(s.active, last, s.size, fi.Size())
		if err != nil {
			return err
		}
		s.size = end
	}
	if last.v1 {
		// Legacy segments are read, never appended to.
		end := last.base + s.size
		if s.size == 0 {
			if err := os.Remove(s.segmentPath(last)); err != nil {
				return err
			}
			s.segments = s.segments[:len(s.segments)-1]
		}
		return s.startSegment(segment{base: end})
	}
	return nil
}

// startSegment creates a new, empty last segment. Lock held.
func (s *stream) startSegment(g segment) error {
	f, err := os.OpenFile(s.segmentPath(g), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(s.segmentPath(g))
		return err
	}
	s.replaceActive(f, g, 0)
	s.segments = append(s.segments, g)
	return nil
}

func (s *stream) replaceActive(f *os.File, g segment, size int64) {
	if s.active != nil {
		s.active.Close()
	}
	s.active, s.seg, s.size = f, g, size
}

// validate reads the records of the last segment from file offset from
// to size, repairing what it finds on the way (see repair), and returns
// the offset after the last of them: the segment then holds records up
// to its end. Lock held.
func (s *stream) validate(f *os.File, g segment, from, size int64) (int64, error) {
	w := &window{}
	w.reset(f, size)
	p := from
	for {
		r, err := parseAt(w, g, p)
		if err != nil {
			return p, err
		}
		switch r.v {
		case vEnd:
			return p, nil
		case vRecord, vPadding:
			p += r.n
			continue
		}
		next, _, err := s.repair(f, w, g, p, true, nil)
		if err != nil {
			return p, err
		}
		if next >= w.size {
			return next, nil
		}
		p = next
	}
}

// appendRecord is a record to append.
type appendRecord struct {
	PartitionKey string
	Data         []byte
}

// appendReq is one append waiting for its group's commit.
type appendReq struct {
	recs    []appendRecord
	size    int64 // encoded
	seqs    []int64
	arrival time.Time
	err     error
	done    bool
}

// append writes records durably and returns their sequence numbers
// (stream offsets) and arrival time. It returns after the fsync, so an
// acknowledged record survives a crash of any process; it fails with
// nothing of its records readable, then or later.
//
// Concurrent appends share a commit: the first of them writes the
// records of all those queued so far and syncs once, while the next ones
// queue for the commit after it. Alone, an append commits at once, so
// latency at low load is one write and one fsync, as without grouping.
func (s *stream) append(recs []appendRecord) ([]int64, time.Time, error) {
	req := &appendReq{recs: recs}
	for _, r := range recs {
		req.size += int64(headerV2 + bodyHeader + len(r.PartitionKey) + len(r.Data))
	}
	s.qmu.Lock()
	s.queue = append(s.queue, req)
	for !req.done && s.committing {
		s.qcond.Wait()
	}
	if !req.done {
		s.committing = true
		s.qmu.Unlock()
		s.commitQueued()
		s.qmu.Lock()
		s.committing = false
		s.qcond.Broadcast()
	}
	s.qmu.Unlock()
	if req.err != nil {
		return nil, time.Time{}, fmt.Errorf("append to stream %s: %w", s.name, req.err)
	}
	return req.seqs, req.arrival, nil
}

// commitQueued commits the appends queued so far and marks them done.
func (s *stream) commitQueued() {
	var batch []*appendReq
	take := func() {
		s.qmu.Lock()
		batch, s.queue = s.queue, nil
		s.qmu.Unlock()
	}
	err := s.withLock(func() error {
		// Taken under the lock, so that the appends queued while it was
		// waited for go in this commit too.
		take()
		if err := s.refresh(); err != nil {
			return fmt.Errorf("open: %w", err)
		}
		return s.commit(batch)
	})
	if batch == nil {
		take()
	}
	committed := false
	for _, r := range batch {
		if r.seqs == nil && r.err == nil {
			r.err = err
		}
		committed = committed || r.err == nil
	}
	s.qmu.Lock()
	for _, r := range batch {
		r.done = true
	}
	s.qmu.Unlock()
	if committed {
		s.notify()
	}
}

// commit writes a batch of appends at the end of the stream and syncs
// it; an append that does not fit in the segment starts a new one. Each
// append gets its sequence numbers or an error; on an error the segment
// is cut back to where the failed write started, so that no part of it
// is ever read. Lock held.
func (s *stream) commit(batch []*appendReq) error {
	arrival := time.Now()
	ms := arrival.UnixMilli()
	var buf []byte
	var pending []*appendReq
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := s.writeSynced(buf)
		for _, r := range pending {
			if err != nil {
				r.err = err
			} else {
				r.arrival = time.UnixMilli(ms)
			}
		}
		if err != nil {
			for _, r := range pending {
				r.seqs = nil
			}
		}
		buf, pending = buf[:0], pending[:0]
		return err
	}
	for _, r := range batch {
		if s.size+int64(len(buf)) > 0 && s.size+int64(len(buf))+r.size > segmentBytes {
			if err := flush(); err != nil {
				return err
			}
			if err := s.startSegment(segment{base: s.seg.base + s.size}); err != nil {
				return err
			}
		}
		r.seqs = make([]int64, len(r.recs))
		for i, rec := range r.recs {
			r.seqs[i] = s.seg.base + s.size + int64(len(buf))
			buf = encodeRecord(buf, ms, rec.PartitionKey, rec.Data)
		}
		pending = append(pending, r)
	}
	return flush()
}

// writeSynced appends buf to the active segment and syncs it, or cuts the
// segment back to its size before and fails.
func (s *stream) writeSynced(buf []byte) error {
	_, err := writeAt(s.active, buf, s.size)
	if err == nil {
		err = s.active.Sync()
	}
	if err != nil {
		// A short write (a full disk) or a failed sync must leave nothing
		// a reader could take for an accepted record.
		if terr := s.active.Truncate(s.size); terr != nil {
			return fmt.Errorf("%w; and cutting off the partial write failed: %v (the next writer will)", err, terr)
		}
		s.active.Sync()
		return err
	}
	s.size += int64(len(buf))
	return nil
}

// writeAt is os.File.WriteAt; tests replace it to simulate a full disk.
var writeAt = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }

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
	return last.base + fi.Size(), nil
}

// reader reads a stream from an offset. It is not safe for concurrent use.
type reader struct {
	s      *stream
	lockf  *os.File // its own open file of the lock, for the shared flock
	repair bool     // deal with damage it finds (the runtime's readers)
	segs   []segment
	file   *os.File
	seg    segment
	w      window
	// after is where the last read ended: after its last record, or
	// after the padding it stepped over when it found no record.
	after int64
}

// newReader returns a reader that repairs what it finds that is not a
// record (under the writers' lock), as the runtime's mappings do.
func (s *stream) newReader() *reader { return &reader{s: s, repair: true} }

// newReadOnlyReader returns a reader that changes nothing: past damage it
// reads on from the next record, and a torn tail is the end.
func (s *stream) newReadOnlyReader() *reader { return &reader{s: s} }

func (r *reader) close() {
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
	if r.lockf != nil {
		r.lockf.Close()
		r.lockf = nil
	}
}

// rlock takes the stream's flock shared: writers finish their write and
// its fsync first.
func (r *reader) rlock() (unlock func(), err error) {
	if r.lockf == nil {
		f, err := os.Open(filepath.Join(r.s.dir, "lock"))
		if errors.Is(err, fs.ErrNotExist) {
			return func() {}, nil // no writer ever ran
		}
		if err != nil {
			return nil, err
		}
		r.lockf = f
	}
	if err := flock(r.lockf, syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("lock stream %s: %w", r.s.name, err)
	}
	return func() { flock(r.lockf, syscall.LOCK_UN) }, nil
}

// segmentFor returns the segment holding offset pos.
func (r *reader) segmentFor(pos int64) (segment, bool) {
	i, found := slices.BinarySearchFunc(r.segs, pos, func(g segment, p int64) int { return compareInt(g.base, p) })
	if found {
		return r.segs[i], true
	}
	if i == 0 {
		return segment{}, false
	}
	return r.segs[i-1], true
}

// read returns up to max records from offset pos, stopping before the
// total of their data and keys passes maxBytes (but returning at least
// one record).
func (r *reader) read(pos int64, max int, maxBytes int) ([]Record, error) {
	unlock, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer func() { unlock() }()
	var out []Record
	total := 0
	for len(out) < max {
		rec, next, status, err := r.readOne(pos)
		if err != nil {
			return out, err
		}
		if status == readDamage {
			if !r.repair {
				pos = next // skip it; the runtime repairs it
				continue
			}
			// Repairs take the writers' lock, which waits for readers.
			unlock()
			err := r.s.withLock(func() (err error) {
				next, err = r.s.repairAt(pos)
				return err
			})
			if u, lerr := r.rlock(); lerr == nil {
				unlock = u
			} else {
				unlock = func() {}
				err = errors.Join(err, lerr)
			}
			if err != nil {
				return out, err
			}
			r.file = closeFile(r.file) // it may have been cut
			pos = next
			continue
		}
		if status != readRecord {
			if next > pos {
				pos = next // past padding
			}
			break
		}
		total += len(rec.Data) + len(rec.PartitionKey)
		if len(out) > 0 && total > maxBytes {
			break
		}
		out = append(out, rec)
		pos = rec.Next
	}
	r.after = pos
	return out, nil
}

func closeFile(f *os.File) *os.File {
	if f != nil {
		f.Close()
	}
	return nil
}

const (
	readRecord = iota
	readNone   // nothing there yet (or a torn tail, for a read-only reader)
	readDamage // not a record: next is where the next one starts, for a read-only reader
)

// readOne reads the record at pos, skipping padding. Shared lock held.
func (r *reader) readOne(pos int64) (rec Record, next int64, status int, err error) {
	for attempt := 0; ; {
		g, ok := r.segmentFor(pos)
		if ok {
			if r.file == nil || r.seg != g {
				r.file = closeFile(r.file)
				f, err := os.Open(r.s.segmentPath(g))
				if errors.Is(err, fs.ErrNotExist) {
					r.segs = nil // listed before it was replaced
					ok = false
				} else if err != nil {
					return Record{}, 0, 0, err
				} else {
					r.file, r.seg = f, g
				}
			}
		}
		if ok {
			fi, err := r.file.Stat()
			if err != nil {
				return Record{}, 0, 0, err
			}
			if r.w.f != r.file || r.w.size != fi.Size() {
				r.w.reset(r.file, fi.Size())
			}
			p, err := parseAt(&r.w, g, pos-g.base)
			if err != nil {
				return Record{}, 0, 0, err
			}
			switch p.v {
			case vRecord:
				return Record{
					Seq:          pos,
					Next:         pos + p.n,
					Arrival:      time.UnixMilli(p.ms),
					PartitionKey: string(p.key),
					Data:         slices.Clone(p.dat),
				}, pos + p.n, readRecord, nil
			case vPadding:
				pos += p.n
				continue
			case vPartial, vBad:
				// Under the shared lock no writer is writing: this is a
				// dead writer's torn tail, or damage.
				if r.repair {
					return Record{}, pos, readDamage, nil
				}
				e, err := examine(&r.w, g, pos-g.base)
				if err != nil {
					return Record{}, 0, 0, err
				}
				if e.tail && r.isLast(g) {
					return Record{}, pos, readNone, nil
				}
				return Record{}, g.base + e.end, readDamage, nil
			}
			// vEnd: maybe the next segment starts here, or after a gap
			// left by a cut tail.
			if i := slices.Index(r.segs, g); i >= 0 && i+1 < len(r.segs) {
				pos = max(pos, r.segs[i+1].base)
				continue
			}
		}
		if attempt > 0 {
			return Record{}, pos, readNone, nil
		}
		attempt++
		segs, err := r.s.listSegments()
		if err != nil {
			return Record{}, 0, 0, err
		}
		r.segs = segs
	}
}

func (r *reader) isLast(g segment) bool { return len(r.segs) > 0 && r.segs[len(r.segs)-1] == g }

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
	_, err = writeAt(f, data, 0)
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
