package local

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
)

// A stream is an append-only log of records split into segment files
// named by the stream offset of their first byte (20 digits), like
// Kafka's. A record's sequence number is its stream offset, written as 20
// decimal digits: unique, increasing, sortable as a string, and enough to
// find the record again without an index.
//
// Segments are <base>.rec, each record framed so that a reader can tell a
// torn tail from damage and find the next record past bad bytes:
//
//	[4]byte    sync marker ff 78 66 72 ("\xffxfr"; 0xff never occurs in UTF-8 text)
//	uint32 LE  n, the length of the body
//	uint32 LE  CRC-32C of the body
//	uint32 LE  CRC-32C of the 12 bytes before it
//	body:      int64 LE arrival time (Unix ms), uint16 LE partition key
//	           length, partition key, data
//
// The header's own checksum makes its length trustworthy: a record whose
// body is damaged is skipped whole, and a damaged header is skipped by
// looking for the next sync marker whose header and body check out.
//
// Segments written by xflow before this format are <base>.seg, whose
// records are the body behind a uint32 LE length and a uint32 LE CRC-32C
// of the body. They are read as they are, never appended to: a writer
// that finds one last starts a .rec segment where it ends. Past bad bytes
// in one, a reader tries every offset for a record that checks out.
//
// A record with an empty partition key is padding: Kinesis allows no such
// record, so none was ever published; it stands in place of bytes that
// were damaged, which went to the quarantine folder (its data says where),
// so that no other record's sequence number moves.
const (
	headerV2   = 16
	headerV1   = 8
	bodyHeader = 10
	seqDigits  = 20
	extV2      = ".rec"
	extV1      = ".seg"
	syncMarker = "\xffxfr"
)

// shardID is the one shard of every local stream: order is kept per
// stream, which is at least what Kinesis keeps per partition key.
const shardID = "shardId-000000000000"

// maxBody bounds a body's length field: larger is not a record. The
// partition key is counted in characters, so it may take four bytes each.
const maxBody = spec.MaxRecordBytes + bodyHeader + 4*spec.MaxPartitionKey

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

// segment is one segment file of a stream.
type segment struct {
	base int64
	v1   bool // the format before framing: read only
}

func (g segment) name() string {
	ext := extV2
	if g.v1 {
		ext = extV1
	}
	return fmt.Sprintf("%0*d%s", seqDigits, g.base, ext)
}

func (g segment) header() int {
	if g.v1 {
		return headerV1
	}
	return headerV2
}

// minPadding is the smallest stretch a padding record fills.
func (g segment) minPadding() int64 { return int64(g.header() + bodyHeader) }

// listSegments returns the segments in a stream's folder, by base. A
// legacy segment left empty beside a framed one of the same base (a writer
// died between creating one and removing the other) is left out; two
// segments of one base otherwise are an error.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []segment
	for _, e := range ents {
		name := e.Name()
		var g segment
		switch {
		case strings.HasSuffix(name, extV2):
			name = strings.TrimSuffix(name, extV2)
		case strings.HasSuffix(name, extV1):
			name, g.v1 = strings.TrimSuffix(name, extV1), true
		default:
			continue
		}
		if len(name) != seqDigits {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		g.base = n
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b segment) int {
		if a.base != b.base {
			return compareInt(a.base, b.base)
		}
		if a.v1 == b.v1 {
			return 0
		}
		if a.v1 {
			return -1
		}
		return 1
	})
	for i := 0; i+1 < len(out); i++ {
		if out[i].base != out[i+1].base {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, out[i].name())); err == nil && fi.Size() == 0 && out[i].v1 {
			out = slices.Delete(out, i, i+1)
			i--
			continue
		}
		return nil, fmt.Errorf("%s: segments %s and %s both start at offset %d: was this state folder written by two versions of xflow at once? Move the older one away", dir, out[i].name(), out[i+1].name(), out[i].base)
	}
	return out, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// encodeRecord appends a framed record to b.
func encodeRecord(b []byte, ms int64, key string, data []byte) []byte {
	n := bodyHeader + len(key) + len(data)
	start := len(b)
	b = append(b, syncMarker...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0) // body checksum, below
	b = binary.LittleEndian.AppendUint32(b, 0) // header checksum, below
	b = binary.LittleEndian.AppendUint64(b, uint64(ms))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+8:], crc32.Checksum(b[start+headerV2:], crcTable))
	binary.LittleEndian.PutUint32(b[start+12:], crc32.Checksum(b[start:start+12], crcTable))
	return b
}

// encodeV1 appends a record in the legacy format (for padding in legacy
// segments, and for tests).
func encodeV1(b []byte, ms int64, key string, data []byte) []byte {
	n := bodyHeader + len(key) + len(data)
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(ms))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+headerV1:], crcTable))
	return b
}

// encodePadding is a padding record of exactly size bytes (at least
// g.minPadding()) whose data says where the bytes it replaces went.
func encodePadding(g segment, size int64, note string) []byte {
	room := int(size) - g.header() - bodyHeader
	data := []byte(note)
	if len(data) > room {
		data = data[:0]
	}
	data = append(data, bytes.Repeat([]byte(" "), room-len(data))...)
	ms := time.Now().UnixMilli()
	if g.v1 {
		return encodeV1(nil, ms, "", data)
	}
	return encodeRecord(nil, ms, "", data)
}

// verdict is what a reader finds at an offset of a segment.
type verdict int

const (
	vRecord  verdict = iota // a record
	vPadding                // a padding record: skip it
	vEnd                    // the end of the segment
	vPartial                // bytes that end before the record they start does
	vBad                    // not a record
)

// window reads a segment file through a buffer, so that reading records
// one after another, or looking at every byte for the next record, takes
// few system calls.
type window struct {
	f    *os.File
	size int64 // of the file, as the reader knows it
	off  int64 // file offset of buf[0]
	buf  []byte
}

// windowChunk is how much a window reads at least.
const windowChunk = 64 << 10

func (w *window) reset(f *os.File, size int64) {
	w.f, w.size, w.off, w.buf = f, size, 0, w.buf[:0]
}

// at returns the file's bytes from offset p: at least n of them, or all
// up to the end of the file when it has fewer. The slice is the window's
// own: it changes at the next call.
func (w *window) at(p int64, n int) ([]byte, error) {
	if p >= w.size {
		return nil, nil
	}
	avail := w.size - p
	if int64(n) > avail {
		n = int(avail)
	}
	if p >= w.off && p+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[p-w.off:], nil
	}
	want := int64(max(n, windowChunk))
	want = min(want, avail)
	w.buf = slices.Grow(w.buf[:0], int(want))[:want]
	m, err := w.f.ReadAt(w.buf, p)
	w.buf, w.off = w.buf[:m], p
	if m < int(want) && err != io.EOF {
		return nil, err
	}
	if m < n { // the file is shorter than the reader thought
		w.size = p + int64(m)
	}
	return w.buf, nil
}

// parsed is what parseAt found.
type parsed struct {
	v   verdict
	n   int64 // the record's length, header included; for vBad, 0 when its header cannot be trusted
	ms  int64
	key []byte // the window's bytes: copy them to keep them
	dat []byte
}

// parseAt reads the record at file offset p of a segment.
func parseAt(w *window, g segment, p int64) (parsed, error) {
	h := g.header()
	b, err := w.at(p, h)
	if err != nil {
		return parsed{}, err
	}
	switch {
	case len(b) == 0:
		return parsed{v: vEnd}, nil
	case len(b) < h:
		return parsed{v: vPartial}, nil
	}
	n := int64(binary.LittleEndian.Uint32(b[4*boolInt(!g.v1) : 4*boolInt(!g.v1)+4]))
	var bodyCRC uint32
	if g.v1 {
		bodyCRC = binary.LittleEndian.Uint32(b[4:8])
	} else {
		if string(b[0:4]) != syncMarker || crc32.Checksum(b[0:12], crcTable) != binary.LittleEndian.Uint32(b[12:16]) {
			return parsed{v: vBad}, nil
		}
		bodyCRC = binary.LittleEndian.Uint32(b[8:12])
	}
	if n < bodyHeader || n > maxBody {
		return parsed{v: vBad}, nil
	}
	trusted := int64(0) // a checked header vouches for the length
	if !g.v1 {
		trusted = int64(h) + n
	}
	if b, err = w.at(p, h+int(n)); err != nil {
		return parsed{}, err
	}
	if int64(len(b)) < int64(h)+n {
		return parsed{v: vPartial, n: trusted}, nil
	}
	body := b[h : int64(h)+n]
	if crc32.Checksum(body, crcTable) != bodyCRC {
		return parsed{v: vBad, n: trusted}, nil
	}
	klen := int64(binary.LittleEndian.Uint16(body[8:10]))
	if bodyHeader+klen > n {
		return parsed{v: vBad, n: trusted}, nil
	}
	out := parsed{v: vRecord, n: int64(h) + n, ms: int64(binary.LittleEndian.Uint64(body[0:8])), key: body[bodyHeader : bodyHeader+klen], dat: body[bodyHeader+klen:]}
	if klen == 0 {
		out.v = vPadding
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// startsRecord tells whether a record (or padding) starts at p: its
// header, and its body when the header alone cannot vouch for it, check
// out.
func startsRecord(w *window, g segment, p int64) (bool, error) {
	r, err := parseAt(w, g, p)
	if err != nil {
		return false, err
	}
	switch r.v {
	case vRecord, vPadding:
		return true, nil
	case vPartial, vBad:
		// A framed header that checks out is a record's even when its
		// body is torn or damaged.
		return !g.v1 && r.n > 0, nil
	}
	return false, nil
}

// extent is a stretch of a segment that holds no record, as examine
// finds it.
type extent struct {
	start, end int64 // file offsets
	// tail: nothing readable follows it in the segment.
	tail bool
	// complete: the bytes are a whole record that is damaged, not a
	// record cut short; a tail that is not complete is torn.
	complete bool
}

// examine finds how far the bytes at p (where no record is) reach: to
// the end of a record whose header vouches for its length, else to the
// next offset where a record checks out, else to the end of the segment.
func examine(w *window, g segment, p int64) (extent, error) {
	r, err := parseAt(w, g, p)
	if err != nil {
		return extent{}, err
	}
	switch {
	case r.v == vBad && r.n > 0:
		return extent{start: p, end: p + r.n, complete: true, tail: p+r.n >= w.size}, nil
	case r.v == vPartial && r.n > 0:
		// A checked header whose body runs past the end: torn.
		return extent{start: p, end: w.size, tail: true}, nil
	}
	q := p + 1
	for q < w.size {
		b, err := w.at(q, windowChunk)
		if err != nil {
			return extent{}, err
		}
		if !g.v1 {
			i := bytes.Index(b, []byte(syncMarker))
			if i < 0 {
				q += int64(max(1, len(b)-len(syncMarker)+1))
				continue
			}
			q += int64(i)
		}
		ok, err := startsRecord(w, g, q)
		if err != nil {
			return extent{}, err
		}
		if ok {
			return extent{start: p, end: q}, nil
		}
		q++
	}
	e := extent{start: p, end: w.size, tail: true}
	// A whole record with a damaged header is damage, not a torn write:
	// its length field (unchecked) or its body checksum says it is whole.
	b, err := w.at(p, int(w.size-p))
	if err != nil {
		return extent{}, err
	}
	h := g.header()
	if len(b) >= h+bodyHeader {
		lenAt, crcAt := 4, 8
		if g.v1 {
			lenAt, crcAt = 0, 4
		}
		n := int(binary.LittleEndian.Uint32(b[lenAt:]))
		e.complete = n == len(b)-h || crc32.Checksum(b[h:], crcTable) == binary.LittleEndian.Uint32(b[crcAt:])
	}
	return e, nil
}
