package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
)

// damageFixture is a stream S of 20 records, r0…r19 of executions
// ex-0…ex-19, whose subscriber fn has consumed the first ten: its
// checkpoint is at r10.
type damageFixture struct {
	dir  string
	recs []Record
	seg  string // the segment's file
	cp   string // fn's checkpoint file
}

const consumed = 10

func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	dir := t.TempDir()
	s, err := openStream(dir, "S")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, _, err := s.append([]appendRecord{{fmt.Sprintf("ex-%d", i), fmt.Appendf(nil, `{"execution_id": "ex-%d", "n": "r%d"}`, i, i)}}); err != nil {
			t.Fatal(err)
		}
	}
	f := &damageFixture{dir: dir, recs: readAll(t, s), seg: filepath.Join(dir, "streams", "S", "00000000000000000000.rec"), cp: filepath.Join(dir, "checkpoints", "S", "fn")}
	s.close()
	os.MkdirAll(filepath.Dir(f.cp), 0o755)
	if err := os.WriteFile(f.cp, []byte(strconv.FormatInt(f.recs[consumed].Seq, 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// flip flips one byte at offset off of the segment.
func (f *damageFixture) flip(t *testing.T, off int64) {
	t.Helper()
	b, err := os.ReadFile(f.seg)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(f.seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dataByte is the offset of a byte of record i's data.
func (f *damageFixture) dataByte(i int) int64 {
	return f.recs[i].Seq + headerV2 + bodyHeader + int64(len(f.recs[i].PartitionKey)) + 3
}

// restart is what a start of the runtime does with the state folder: the
// check of every stream and checkpoint (repairing the streams, and the
// checkpoints with repair), then the mapping delivers from its
// checkpoint. It returns the records delivered (their "n") and the log.
func (f *damageFixture) restart(t *testing.T, repair bool) (delivered []string, logged string, err error) {
	t.Helper()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s, err := openStream(f.dir, "S")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	s.log = log
	rep, err := checkStreams(f.dir, map[string]*stream{"S": s}, checkMode{streams: true, checkpoints: repair, log: log})
	if err != nil {
		t.Fatal(err)
	}
	if bad := rep.checkpointProblems(); len(bad) > 0 {
		return nil, buf.String(), &CheckpointError{Checkpoints: bad}
	}
	ft := &fakeTarget{answer: func(int, []kinesisEventRecord) ([]byte, *FunctionError) { return []byte("null"), nil }}
	m := &mapping{
		rt: &Runtime{stateDir: f.dir, region: "us-east-1"}, stream: s, streamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/S",
		function: "fn", target: ft, now: time.Now, log: log,
		settings: spec.Mapping{BatchSize: 7, RetryAttempts: 1, OnFailure: spec.OnFailureQueue},
	}
	if err := m.openCheckpoint(f.dir); err != nil {
		t.Fatal(err)
	}
	deliver(t, m)
	for _, b := range ft.batches {
		for _, d := range b {
			var e struct{ N string }
			json.Unmarshal([]byte(d), &e)
			delivered = append(delivered, e.N)
		}
	}
	// Delivery goes on: records appended now arrive too.
	if _, _, err := s.append([]appendRecord{{"ex-new", []byte(`{"execution_id": "ex-new", "n": "new"}`)}}); err != nil {
		t.Fatal(err)
	}
	n := len(ft.batches)
	deliver(t, m)
	if len(ft.batches) != n+1 || !strings.Contains(ft.batches[n][0], `"new"`) {
		t.Errorf("a record appended after the repair was not delivered: batches %v", ft.batches[n:])
	}
	return delivered, buf.String(), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func rs(from, to int, except ...int) []string {
	var out []string
	for i := from; i <= to; i++ {
		if !slices.Contains(except, i) {
			out = append(out, fmt.Sprintf("r%d", i))
		}
	}
	return out
}

// TestDamage: each way a state folder gets damaged, and what the next
// start makes of it. Every intact record is delivered, once, in order
// (those consumed before are not delivered again); the damaged one alone
// is not; its bytes are in the quarantine folder with the execution ids
// they hold; an error names the stream, the sequence number and the
// execution; and delivery goes on. A checkpoint that cannot be used stops
// the start with an error naming the file and the fix, unless repair.
func TestDamage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, f *damageFixture) (at int64) // the damaged sequence number, or -1
		// want is delivered after the restart (with repair when the
		// start without it is refused with wantRefused).
		want        []string
		kind        string   // of the damage
		ids         []string // readable in the damaged bytes
		wantRefused string
		wantLogged  string
	}{{
		name: "one byte flipped mid-segment in consumed data",
		damage: func(t *testing.T, f *damageFixture) int64 {
			f.flip(t, f.dataByte(4))
			return f.recs[4].Seq
		},
		want: rs(10, 19), kind: DamageCorrupt, ids: []string{"ex-4"},
	}, {
		name: "one byte flipped mid-segment in unconsumed data",
		damage: func(t *testing.T, f *damageFixture) int64 {
			f.flip(t, f.dataByte(14))
			return f.recs[14].Seq
		},
		want: rs(10, 19, 14), kind: DamageCorrupt, ids: []string{"ex-14"},
	}, {
		name: "one byte flipped in the length of an unconsumed record",
		damage: func(t *testing.T, f *damageFixture) int64 {
			f.flip(t, f.recs[12].Seq+5)
			return f.recs[12].Seq
		},
		want: rs(10, 19, 12), kind: DamageCorrupt, ids: []string{"ex-12"},
	}, {
		name: "one byte flipped in the sync marker of the first unconsumed record",
		damage: func(t *testing.T, f *damageFixture) int64 {
			f.flip(t, f.recs[consumed].Seq)
			return f.recs[consumed].Seq
		},
		want: rs(11, 19), kind: DamageCorrupt, ids: []string{"ex-10"},
	}, {
		name: "one byte flipped in the last record",
		damage: func(t *testing.T, f *damageFixture) int64 {
			f.flip(t, f.dataByte(19))
			return f.recs[19].Seq
		},
		want: rs(10, 18), kind: DamageCorrupt, ids: []string{"ex-19"},
	}, {
		name: "a truncated tail",
		damage: func(t *testing.T, f *damageFixture) int64 {
			if err := os.Truncate(f.seg, f.recs[19].Next-5); err != nil {
				t.Fatal(err)
			}
			return f.recs[19].Seq
		},
		want: rs(10, 18), kind: DamageTorn, ids: []string{"ex-19"},
	}, {
		name: "a checkpoint past the end",
		damage: func(t *testing.T, f *damageFixture) int64 {
			os.WriteFile(f.cp, []byte("99999999\n"), 0o644)
			return -1
		},
		want:        nil, // moved to the end: only what comes next
		wantRefused: "99999999 is past the end of stream S",
		wantLogged:  "repaired checkpoint",
	}, {
		name: "a garbage checkpoint",
		damage: func(t *testing.T, f *damageFixture) int64 {
			os.WriteFile(f.cp, []byte("garbage\n"), 0o644)
			return -1
		},
		want:        rs(0, 19), // from the oldest record: at least once
		wantRefused: `"garbage" is not a stream offset`,
		wantLogged:  "repaired checkpoint",
	}, {
		name: "a checkpoint inside a record",
		damage: func(t *testing.T, f *damageFixture) int64 {
			os.WriteFile(f.cp, []byte(strconv.FormatInt(f.recs[13].Seq+3, 10)), 0o644)
			return -1
		},
		want:        rs(13, 19),
		wantRefused: "is inside the record at",
		wantLogged:  "repaired checkpoint",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDamageFixture(t)
			at := tc.damage(t, f)
			repair := false
			delivered, logged, err := f.restart(t, false)
			if tc.wantRefused != "" {
				var ce *CheckpointError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), f.cp) || !strings.Contains(err.Error(), "--repair") {
					t.Fatalf("start without repair: %v; want a checkpoint error naming %s and --repair", err, f.cp)
				}
				if !strings.Contains(err.Error(), tc.wantRefused) {
					t.Errorf("start without repair: %v\nwant it to say %q", err, tc.wantRefused)
				}
				repair = true
				delivered, logged, err = f.restart(t, true)
			}
			if err != nil {
				t.Fatalf("start (repair %v): %v", repair, err)
			}
			if !slices.Equal(delivered, tc.want) {
				t.Errorf("delivered %v\nwant      %v", delivered, tc.want)
			}
			if tc.wantLogged != "" && !strings.Contains(logged, tc.wantLogged) {
				t.Errorf("the log does not say %q:\n%s", tc.wantLogged, logged)
			}
			if at < 0 {
				if _, err := os.Stat(filepath.Join(f.dir, "quarantine")); err == nil {
					t.Errorf("a checkpoint's repair put something in the quarantine folder")
				}
				return
			}
			ds, err := Damages(f.dir)
			if err != nil || len(ds) != 1 {
				t.Fatalf("damage in the quarantine folder: %+v, %v; want one", ds, err)
			}
			d := ds[0]
			if d.SequenceNumber != formatSeq(at) || d.Kind != tc.kind || !slices.Equal(d.ExecutionIDs, tc.ids) {
				t.Errorf("damage %+v; want at %s, %s, executions %v", d, formatSeq(at), tc.kind, tc.ids)
			}
			if fi, err := os.Stat(filepath.Join(f.dir, d.Quarantine)); err != nil || fi.Size() != d.Length {
				t.Errorf("the quarantined bytes: %v (want a file of %d bytes)", err, d.Length)
			}
			for _, want := range []string{"level=ERROR", "stream S", formatSeq(at), tc.ids[0]} {
				if !strings.Contains(logged, want) {
					t.Errorf("the log lacks %q:\n%s", want, logged)
				}
			}
			// A second start finds nothing new, and says nothing.
			_, again, err := f.restart(t, false)
			if err != nil || strings.Contains(again, "level=ERROR") {
				t.Errorf("second start: %v\n%s", err, again)
			}
		})
	}
}

// TestCheckChangesNothing: Check without Repair reports the damage and
// bad checkpoints, and what repair would do, and leaves every file as it
// was.
func TestCheckChangesNothing(t *testing.T) {
	f := newDamageFixture(t)
	f.flip(t, f.dataByte(14))
	if err := os.Truncate(f.seg, f.recs[19].Next-5); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.cp, []byte("99999999\n"), 0o644)
	before := snapshot(t, f.dir)
	c, err := config.Parse(filepath.Join(f.dir, "xflow.yaml"), []byte("subscriptions:\n  - event: S\n    subscribers:\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(f.dir, c, CheckOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, f.dir); !maps(before, after) {
		t.Errorf("Check changed the state folder")
	}
	if rep.Clean() || rep.Problems() != 3 {
		t.Errorf("%d problems, want 3 (two damaged stretches, a checkpoint)", rep.Problems())
	}
	var out bytes.Buffer
	rep.WriteText(&out)
	for _, want := range []string{
		"stream S: 1 segment, 18 records",
		"sequence number " + formatSeq(f.recs[14].Seq),
		"executions ex-14",
		"put a padding record in their place",
		"sequence number " + formatSeq(f.recs[19].Seq),
		"a partial record at the end",
		"cut the segment before them",
		f.cp + ": 99999999 is past the end of stream S",
		"repair would move it to the end",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLegacySegments: a stream written by xflow before framed records
// (.seg) is read as it is; its torn tail is cut off; new records go to a
// .rec segment that starts where it ends, so no sequence number changes;
// and damage in it is found and padded over in its own format.
func TestLegacySegments(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, "streams", "S")
	os.MkdirAll(sdir, 0o755)
	var seg []byte
	var seqs []int64
	for i := range 5 {
		seqs = append(seqs, int64(len(seg)))
		seg = encodeV1(seg, 1700000000000+int64(i), fmt.Sprintf("ex-%d", i), fmt.Appendf(nil, `{"execution_id": "ex-%d"}`, i))
	}
	end := int64(len(seg))
	seg = append(seg, encodeV1(nil, 1, "ex-torn", []byte("torn"))[:9]...) // a dead writer's
	if err := os.WriteFile(filepath.Join(sdir, "00000000000000000000.seg"), seg, 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, "S")
	s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	recs := readAllReadOnly(t, s)
	if len(recs) != 5 || recs[3].Seq != seqs[3] || recs[3].PartitionKey != "ex-3" || recs[3].Arrival.UnixMilli() != 1700000000003 {
		t.Fatalf("legacy records read: %+v", recs)
	}
	got, _, err := s.append([]appendRecord{{"ex-5", []byte(`{"execution_id": "ex-5"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != end {
		t.Errorf("the first new record is at %d, want %d, where the legacy segment ends without its torn tail", got[0], end)
	}
	if _, err := os.Stat(filepath.Join(sdir, formatSeq(end)+".rec")); err != nil {
		t.Errorf("no framed segment at the legacy one's end: %v", err)
	}

	// A flipped byte in a legacy record: the others are all read.
	legacy := filepath.Join(sdir, "00000000000000000000.seg")
	b, _ := os.ReadFile(legacy)
	b[seqs[2]+headerV1+bodyHeader+6] ^= 0x20
	os.WriteFile(legacy, b, 0o644)
	var logged syncBuffer
	s2 := mustOpen(t, dir, "S")
	s2.log = slog.New(slog.NewTextHandler(&logged, nil))
	rep, err := checkStreams(dir, map[string]*stream{"S": s2}, checkMode{streams: true, log: s2.log})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Streams) != 1 || rep.Streams[0].Legacy != 1 || len(rep.Streams[0].Damage) != 1 || rep.Streams[0].Damage[0].SequenceNumber != formatSeq(seqs[2]) {
		t.Fatalf("check of the legacy stream: %+v", rep.Streams)
	}
	var keys []string
	for _, r := range readAll(t, s2) {
		keys = append(keys, r.PartitionKey)
	}
	if want := []string{"ex-0", "ex-1", "ex-3", "ex-4", "ex-5"}; !slices.Equal(keys, want) {
		t.Errorf("after repair: %v, want %v", keys, want)
	}
	if !strings.Contains(logged.String(), "executions ex-2") {
		t.Errorf("the log does not name ex-2:\n%s", logged.String())
	}
}

// TestGroupCommit: appends that arrive while a commit is under way share
// the next one (here each write takes 5 ms, as a slow disk's fsync), and
// one append alone is committed at once, without waiting for company.
func TestGroupCommit(t *testing.T) {
	defer func(f func(*os.File, []byte, int64) (int, error)) { writeAt = f }(writeAt)
	var commits atomicCounter
	writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		commits.add()
		time.Sleep(5 * time.Millisecond)
		return f.WriteAt(b, off)
	}
	s := mustOpen(t, t.TempDir(), "S")
	const writers, each = 20, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, _, err := s.append([]appendRecord{{"k", fmt.Appendf(nil, "%d-%d", w, i)}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := commits.get(); n > writers*each/4 {
		t.Errorf("%d concurrent appends took %d commits; want them grouped (at most a quarter as many)", writers*each, n)
	}
	if recs := readAll(t, s); len(recs) != writers*each {
		t.Errorf("%d records read, want %d", len(recs), writers*each)
	}

	// Alone: one commit per append, and no wait beyond the write's own.
	before := commits.get()
	start := time.Now()
	for i := range 5 {
		if _, _, err := s.append([]appendRecord{{"k", fmt.Appendf(nil, "alone-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := commits.get() - before; n != 5 {
		t.Errorf("5 appends one after the other took %d commits, want 5", n)
	}
	if d := time.Since(start); d > 5*(5*time.Millisecond)+time.Second {
		t.Errorf("5 lone appends took %s", d)
	}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCounter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
