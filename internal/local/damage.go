package local

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/track"
)

// Damage is a stretch of a stream's segment that held no readable record:
// a partial record at the end (torn: a writer died in the middle of an
// append, or the file was cut short), or bytes that fail their checksums
// (corrupt). Its bytes are kept in the quarantine folder, and the
// segment holds a padding record in their place (or, for a torn tail,
// ends before them), so that every other record keeps its sequence
// number. Each is described by quarantine/<stream>/<offset>.json.
type Damage struct {
	Stream string `json:"stream"`
	// SequenceNumber is the stream offset where the bytes started.
	SequenceNumber string `json:"sequence_number"`
	Length         int64  `json:"length"`
	Kind           string `json:"kind"`   // DamageTorn or DamageCorrupt
	Action         string `json:"action"` // what was done: ActionPadded, ActionTrimmed or ActionKept
	// Segment is the segment file, relative to the state folder, and
	// SegmentOffset where in it the bytes started.
	Segment       string `json:"segment"`
	SegmentOffset int64  `json:"segment_offset"`
	// Quarantine is the file holding the bytes, relative to the state
	// folder.
	Quarantine string `json:"quarantine"`
	// ExecutionIDs are those readable in the bytes (a partition key, an
	// "execution_id" field), perhaps none.
	ExecutionIDs []string  `json:"execution_ids"`
	Found        time.Time `json:"found"`
}

// Kinds of damage.
const (
	DamageTorn    = "torn"
	DamageCorrupt = "corrupt"
)

// What repair does with damaged bytes.
const (
	// ActionPadded: replaced by a padding record of the same length.
	ActionPadded = "padded"
	// ActionTrimmed: the segment was cut before them (a torn tail, or a
	// stretch too short for a padding record at the end of a segment).
	ActionTrimmed = "trimmed"
	// ActionKept: left in place, too short for a padding record; readers
	// step over them each time.
	ActionKept = "kept"
)

// describe says what a damage is and what was (or would be) done, for logs
// and the check's report.
func (d Damage) describe(done bool) string {
	var what string
	switch d.Kind {
	case DamageTorn:
		what = "a partial record at the end of the stream: a writer died in the middle of an append (its publisher was never told it was accepted), or the file was cut short"
	default:
		what = "bytes that are not a record (they fail their checksums)"
	}
	var act string
	switch d.Action {
	case ActionPadded:
		act = "copy them to " + d.Quarantine + " and put a padding record in their place"
		if done {
			act = "copied to " + d.Quarantine + " and replaced by a padding record"
		}
	case ActionTrimmed:
		act = "copy them to " + d.Quarantine + " and cut the segment before them"
		if done {
			act = "copied to " + d.Quarantine + " and cut off"
		}
	default:
		act = "copy them to " + d.Quarantine + " and leave them (too few for a padding record): readers step over them"
		if done {
			act = "copied to " + d.Quarantine + " and left (too few for a padding record): readers step over them"
		}
	}
	ids := "no execution id readable in them"
	if len(d.ExecutionIDs) > 0 {
		ids = "executions " + strings.Join(d.ExecutionIDs, ", ")
	}
	return fmt.Sprintf("stream %s, sequence number %s (%s at byte %d), %d bytes: %s; %s; %s",
		d.Stream, d.SequenceNumber, d.Segment, d.SegmentOffset, d.Length, what, ids, act)
}

// plan finds the damage at file offset p of segment g (where parseAt
// found no record) and what repair does with it: one Damage per piece
// between the splits (stream offsets of checkpoints, which must stay at
// a record's start) that fall inside it. next is the file offset where
// reading goes on after it.
func (s *stream) plan(w *window, g segment, p int64, last bool, splits []int64) (ds []Damage, next int64, err error) {
	e, err := examine(w, g, p)
	if err != nil {
		return nil, 0, err
	}
	kind := DamageCorrupt
	if e.tail && last && !e.complete {
		kind = DamageTorn
	}
	cuts := []int64{e.start}
	if kind == DamageCorrupt {
		for _, c := range splits {
			if c -= g.base; c > e.start && c < e.end {
				cuts = append(cuts, c)
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
	}
	cuts = append(cuts, e.end)
	now := time.Now().UTC()
	for i := 0; i+1 < len(cuts); i++ {
		from, to := cuts[i], cuts[i+1]
		b, err := w.at(from, int(to-from))
		if err != nil {
			return nil, 0, err
		}
		b = b[:min(int64(len(b)), to-from)]
		d := Damage{
			Stream:         s.name,
			SequenceNumber: formatSeq(g.base + from),
			Length:         to - from,
			Kind:           kind,
			Segment:        filepath.ToSlash(filepath.Join("streams", s.name, g.name())),
			SegmentOffset:  from,
			Quarantine:     filepath.ToSlash(filepath.Join("quarantine", s.name, formatSeq(g.base+from)+".bin")),
			ExecutionIDs:   readableIDs(b, g),
			Found:          now,
		}
		tailPiece := e.tail && i+2 == len(cuts)
		switch {
		case kind == DamageTorn:
			d.Action = ActionTrimmed
		case to-from >= g.minPadding():
			d.Action = ActionPadded
		case tailPiece:
			d.Action = ActionTrimmed // nothing follows: no offset moves
		default:
			d.Action = ActionKept
		}
		ds = append(ds, d)
	}
	next = e.end
	if ds[len(ds)-1].Action == ActionTrimmed {
		next = ds[len(ds)-1].SegmentOffset
	}
	return ds, next, nil
}

// repair deals with the damage at file offset p of segment g, open as f
// for writing (see plan): each piece is copied to the quarantine folder
// and synced before the segment changes, then padded over or cut off, and
// an error names it in the log. Damage already in the quarantine (a
// repair that a crash interrupted, or bytes kept in place) keeps its
// first copy and is not reported again. It returns the file offset where
// reading goes on. Lock held.
func (s *stream) repair(f *os.File, w *window, g segment, p int64, last bool, splits []int64) (next int64, ds []Damage, err error) {
	ds, next, err = s.plan(w, g, p, last, splits)
	if err != nil {
		return 0, nil, err
	}
	for i := range ds {
		d := &ds[i]
		known, err := s.quarantine(w, d)
		if err != nil {
			return 0, nil, err
		}
		switch d.Action {
		case ActionPadded:
			pad := encodePadding(g, d.Length, fmt.Sprintf(`{"xflow":"padding: the bytes that were here are in %s"}`, d.Quarantine))
			if _, err := writeAt(f, pad, d.SegmentOffset); err != nil {
				return 0, nil, fmt.Errorf("pad over damage in %s: %w", d.Segment, err)
			}
		case ActionTrimmed:
			if err := f.Truncate(d.SegmentOffset); err != nil {
				return 0, nil, fmt.Errorf("cut off the damaged tail of %s: %w", d.Segment, err)
			}
		}
		if err := f.Sync(); err != nil {
			return 0, nil, err
		}
		if !known {
			s.log.Error("damaged stream: "+d.describe(true), "stream", d.Stream, "sequence_number", d.SequenceNumber, "bytes", d.Length, "executions", strings.Join(d.ExecutionIDs, ","), "quarantine", filepath.Join(s.stateDir, d.Quarantine))
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	w.reset(f, fi.Size()) // what it buffered changed
	return next, ds, nil
}

// repairAt repairs the damage a reader found at stream offset pos, unless
// another repaired it first. Lock held.
func (s *stream) repairAt(pos int64) (next int64, err error) {
	segs, err := s.listSegments()
	if err != nil {
		return 0, err
	}
	i, found := slices.BinarySearchFunc(segs, pos, func(g segment, p int64) int { return compareInt(g.base, p) })
	if !found {
		i--
	}
	if i < 0 {
		return pos, nil
	}
	g := segs[i]
	f, err := os.OpenFile(s.segmentPath(g), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	w := &window{}
	w.reset(f, fi.Size())
	r, err := parseAt(w, g, pos-g.base)
	if err != nil || r.v != vPartial && r.v != vBad {
		return pos, err
	}
	next, _, err = s.repair(f, w, g, pos-g.base, i == len(segs)-1, nil)
	if err != nil {
		return 0, fmt.Errorf("repair stream %s at %s: %w", s.name, formatSeq(pos), err)
	}
	return g.base + next, nil
}

// quarantine copies a damage's bytes and description to the quarantine
// folder, durably; known is true when they were there already.
func (s *stream) quarantine(w *window, d *Damage) (known bool, err error) {
	meta := filepath.Join(s.stateDir, strings.TrimSuffix(d.Quarantine, ".bin")+".json")
	if _, err := os.Stat(meta); err == nil {
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(meta), 0o755); err != nil {
		return false, fmt.Errorf("quarantine damaged bytes of stream %s: %w", s.name, err)
	}
	b, err := w.at(d.SegmentOffset, int(d.Length))
	if err != nil {
		return false, err
	}
	b = b[:min(int64(len(b)), d.Length)]
	if err := writeFileAtomic(filepath.Join(s.stateDir, d.Quarantine), b); err != nil {
		return false, fmt.Errorf("quarantine damaged bytes of stream %s: %w", s.name, err)
	}
	j, _ := json.MarshalIndent(d, "", "  ")
	if err := writeFileAtomic(meta, append(j, '\n')); err != nil {
		return false, fmt.Errorf("quarantine damaged bytes of stream %s: %w", s.name, err)
	}
	return false, nil
}

var executionIDField = regexp.MustCompile(`"execution_id"\s*:\s*("(?:[^"\\]|\\.){1,512}")`)

// readableIDs are the execution ids that can still be read in damaged
// bytes: partition keys of records whose header survived, and
// "execution_id" fields of JSON events.
func readableIDs(b []byte, g segment) []string {
	var ids []string
	add := func(id string) {
		if utf8.ValidString(id) && names.CheckExecutionID(id) == nil && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	h := g.header()
	for p := 0; p+h+bodyHeader <= len(b); {
		if !g.v1 && string(b[p:p+4]) != syncMarker {
			break
		}
		n := int(binary.LittleEndian.Uint32(b[p+4*boolInt(!g.v1):]))
		klen := int(binary.LittleEndian.Uint16(b[p+h+8:]))
		if klen > 0 && klen <= spec.MaxPartitionKey && p+h+bodyHeader+klen <= len(b) {
			add(string(b[p+h+bodyHeader : p+h+bodyHeader+klen]))
		}
		if n < bodyHeader || n > maxBody {
			break
		}
		p += h + n
	}
	for _, m := range executionIDField.FindAllSubmatch(b, -1) {
		var id string
		if json.Unmarshal(m[1], &id) == nil {
			add(id)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// Damages reads the descriptions of the damage found in a state folder's
// streams, oldest first.
func Damages(stateDir string) ([]Damage, error) {
	files, err := filepath.Glob(filepath.Join(stateDir, "quarantine", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Damage
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var d Damage
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Damage) int { return a.Found.Compare(b.Found) })
	return out, nil
}

// TrackDamage gives track the damage of one execution of a state folder
// (see track.Options.Damage), reading the quarantine folder again only
// when it changed.
func TrackDamage(stateDir string) func(ctx context.Context, executionID string) ([]track.Damage, error) {
	var (
		mu   sync.Mutex
		seen string
		all  []Damage
	)
	return func(ctx context.Context, executionID string) ([]track.Damage, error) {
		mu.Lock()
		defer mu.Unlock()
		state, err := quarantineState(stateDir)
		if err != nil {
			return nil, err
		}
		if state != seen {
			if all, err = Damages(stateDir); err != nil {
				return nil, err
			}
			seen = state
		}
		var out []track.Damage
		for _, d := range all {
			if !slices.Contains(d.ExecutionIDs, executionID) {
				continue
			}
			out = append(out, track.Damage{
				Stream:         d.Stream,
				SequenceNumber: d.SequenceNumber,
				Length:         d.Length,
				Kind:           d.Kind,
				Time:           track.Time{Time: d.Found},
				Where:          filepath.Join(stateDir, d.Quarantine),
			})
		}
		return out, nil
	}
}

// quarantineState sums up the quarantine folder: it changes whenever
// damage is added.
func quarantineState(stateDir string) (string, error) {
	dirs, err := os.ReadDir(filepath.Join(stateDir, "quarantine"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, d := range dirs {
		ents, err := os.ReadDir(filepath.Join(stateDir, "quarantine", d.Name()))
		if err != nil {
			return "", err
		}
		b.WriteString(d.Name() + ":" + strconv.Itoa(len(ents)) + "\n")
	}
	return b.String(), nil
}
