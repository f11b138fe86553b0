package local

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/names"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// Repair repairs what Check finds: damaged bytes of a stream go to the
	// quarantine folder (see Damage); a checkpoint past the end of its
	// stream moves to the end, one inside a record to that record's start,
	// and an unreadable one to the stream's oldest record (delivering it
	// all again: at least once, never lost). Nothing must run on the
	// folder. Without Repair, Check changes nothing.
	Repair bool
	// Log receives what repair did; text on stderr when nil.
	Log *slog.Logger
}

// CheckReport is what Check found in a state folder, and what repair did
// or would do.
type CheckReport struct {
	StateDir    string
	Streams     []StreamCheck
	Checkpoints []CheckpointCheck
	// Quarantined counts the damage found before this check, now in the
	// quarantine folder.
	Quarantined int
	Repaired    bool
}

// StreamCheck is what Check found in one stream.
type StreamCheck struct {
	Stream   string
	Segments int
	// Legacy counts segments in the format of xflow before framing: read,
	// never appended to.
	Legacy  int
	Records int64
	// End is the stream offset after its last record (after repair).
	End    int64
	Damage []Damage
	// Problem is what no repair here can fix (segments that overlap),
	// "" when there is none.
	Problem string
}

// CheckpointCheck is the check of one checkpoint file.
type CheckpointCheck struct {
	Path   string // the file
	Stream string
	// Function is the AWS name of the function or tracker whose place in
	// Stream the checkpoint keeps (see mapping.function).
	Function string
	Value    string // as written
	// Problem is "" when the checkpoint is fine.
	Problem string
	// Fix is the offset repair writes.
	Fix int64
	// FixText says what writing Fix does.
	FixText  string
	Repaired bool
}

// Clean tells whether nothing needs repair.
func (r *CheckReport) Clean() bool { return r.Problems() == 0 }

// Problems counts the damage and bad checkpoints found.
func (r *CheckReport) Problems() int {
	n := 0
	for _, s := range r.Streams {
		n += len(s.Damage)
		if s.Problem != "" {
			n++
		}
	}
	for _, c := range r.Checkpoints {
		if c.Problem != "" {
			n++
		}
	}
	return n
}

// checkpointProblems are the checkpoints that need repair.
func (r *CheckReport) checkpointProblems() []CheckpointCheck {
	var out []CheckpointCheck
	for _, c := range r.Checkpoints {
		if c.Problem != "" && !c.Repaired {
			out = append(out, c)
		}
	}
	return out
}

// Check reads the streams and checkpoints of c's events in a state folder
// and reports what is damaged and what repair does about it; with
// opts.Repair, it repairs them. A folder that does not exist is clean.
func Check(stateDir string, c *config.Config, opts CheckOptions) (*CheckReport, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	scheme := names.New(c.General.NamePrefix)
	streams := map[string]*stream{}
	defer func() {
		for _, st := range streams {
			st.close()
		}
	}()
	for _, e := range c.Events() {
		name := scheme.Stream(e)
		st, ok, err := openExistingStream(stateDir, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if opts.Repair {
			st.close()
			if st, err = openStream(stateDir, name); err != nil {
				return nil, err
			}
		}
		st.log = opts.Log
		streams[name] = st
	}
	return checkStreams(stateDir, streams, checkMode{streams: opts.Repair, checkpoints: opts.Repair, log: opts.Log})
}

// checkMode is what checkStreams repairs.
type checkMode struct {
	streams, checkpoints bool
	log                  *slog.Logger
}

func checkStreams(stateDir string, streams map[string]*stream, mode checkMode) (*CheckReport, error) {
	rep := &CheckReport{StateDir: stateDir}
	if prior, err := Damages(stateDir); err == nil {
		rep.Quarantined = len(prior)
	}
	cps, err := readCheckpoints(stateDir, streams)
	if err != nil {
		return nil, err
	}
	streamNames := make([]string, 0, len(streams))
	for n := range streams {
		streamNames = append(streamNames, n)
	}
	slices.Sort(streamNames)
	for _, name := range streamNames {
		var at []int64
		for _, c := range cps {
			if v, err := parseSeq(strings.TrimSpace(c.Value)); c.Stream == name && err == nil {
				at = append(at, v)
			}
		}
		sc, inside, err := streams[name].scan(mode.streams, at)
		if err != nil {
			return nil, fmt.Errorf("check stream %s: %w", name, err)
		}
		rep.Streams = append(rep.Streams, sc)
		for i := range cps {
			c := &cps[i]
			if c.Stream != name {
				continue
			}
			v, err := parseSeq(strings.TrimSpace(c.Value))
			switch start, in := inside[v]; {
			case err != nil:
				c.Problem = fmt.Sprintf("%q is not a stream offset: where %s stands in %s is lost", clipValue(c.Value), c.Function, name)
				c.Fix, c.FixText = 0, fmt.Sprintf("deliver %s to %s again from its oldest record (at least once)", name, c.Function)
			case sc.Problem != "":
			case v > sc.End:
				c.Problem = fmt.Sprintf("%d is past the end of stream %s (%d): records appended from there on would never reach %s", v, name, sc.End, c.Function)
				c.Fix, c.FixText = sc.End, fmt.Sprintf("move it to the end of the stream (%d): %s gets every record appended from now on", sc.End, c.Function)
			case in:
				c.Problem = fmt.Sprintf("%d is inside the record at %d, not at the start of one", v, start)
				c.Fix, c.FixText = start, fmt.Sprintf("move it to the start of that record (%d), which %s then gets again", start, c.Function)
			}
		}
	}
	rep.Checkpoints = cps
	if mode.checkpoints {
		for i := range rep.Checkpoints {
			c := &rep.Checkpoints[i]
			if c.Problem == "" {
				continue
			}
			if err := writeFileAtomic(c.Path, []byte(strconv.FormatInt(c.Fix, 10)+"\n")); err != nil {
				return nil, fmt.Errorf("repair checkpoint %s: %w", c.Path, err)
			}
			c.Repaired = true
			mode.log.Warn(fmt.Sprintf("repaired checkpoint %s: %s; moved to %d: %s", c.Path, c.Problem, c.Fix, c.FixText), "stream", c.Stream, "function", c.Function)
		}
	}
	rep.Repaired = mode.streams || mode.checkpoints
	return rep, nil
}

func clipValue(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// readCheckpoints reads the checkpoint files of the streams.
func readCheckpoints(stateDir string, streams map[string]*stream) ([]CheckpointCheck, error) {
	var out []CheckpointCheck
	for name := range streams {
		dir := filepath.Join(stateDir, "checkpoints", name)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") { // temporary files of atomic writes
				continue
			}
			path := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
			}
			out = append(out, CheckpointCheck{Path: path, Stream: name, Function: e.Name(), Value: string(data)})
		}
	}
	slices.SortFunc(out, func(a, b CheckpointCheck) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// scan reads every segment of the stream and reports what it holds and
// the damage in it, repairing it when repair is set. at are checkpoints
// of the stream: inside maps those inside a record to its start, and
// damage is split at them so that they stay at a record's start.
func (s *stream) scan(repair bool, at []int64) (sc StreamCheck, inside map[int64]int64, err error) {
	sc.Stream = s.name
	inside = map[int64]int64{}
	body := func() error {
		segs, err := s.listSegments()
		if err != nil {
			return err
		}
		sc.Segments = len(segs)
		for i, g := range segs {
			if g.v1 {
				sc.Legacy++
			}
			end, err := s.scanSegment(g, i == len(segs)-1, repair, at, &sc, inside)
			if err != nil {
				return err
			}
			if i+1 < len(segs) && g.base+end > segs[i+1].base {
				sc.Problem = fmt.Sprintf("segment %s runs %d bytes past the start of %s: two writers of different xflow versions wrote to this stream; move the state folder away, or remove the later segment after copying it", g.name(), g.base+end-segs[i+1].base, segs[i+1].name())
				return nil
			}
			sc.End = g.base + end
		}
		if repair && len(segs) > 0 && sc.Problem == "" {
			// The writer need not read again what was just read.
			last := segs[len(segs)-1]
			f, err := os.OpenFile(s.segmentPath(last), os.O_RDWR, 0)
			if err != nil {
				return err
			}
			s.replaceActive(f, last, sc.End-last.base)
		}
		return nil
	}
	if repair {
		err = s.withLock(body)
		return sc, inside, err
	}
	r := s.newReadOnlyReader()
	defer r.close()
	unlock, err := r.rlock()
	if err != nil {
		return sc, inside, err
	}
	defer unlock()
	return sc, inside, body()
}

// scanSegment reads one segment for scan and returns its size after
// repair (or after the repair a check describes).
func (s *stream) scanSegment(g segment, last, repair bool, at []int64, sc *StreamCheck, inside map[int64]int64) (int64, error) {
	flag := os.O_RDONLY
	if repair {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(s.segmentPath(g), flag, 0)
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
	p := int64(0)
	for {
		r, err := parseAt(w, g, p)
		if err != nil {
			return 0, err
		}
		switch r.v {
		case vEnd:
			return p, nil
		case vRecord, vPadding:
			for _, c := range at {
				if c > g.base+p && c < g.base+p+r.n {
					inside[c] = g.base + p
				}
			}
			if r.v == vRecord {
				sc.Records++
			}
			p += r.n
			continue
		}
		var ds []Damage
		var next int64
		if repair {
			next, ds, err = s.repair(f, w, g, p, last, at)
		} else {
			ds, next, err = s.plan(w, g, p, last, at)
		}
		if err != nil {
			return 0, err
		}
		sc.Damage = append(sc.Damage, ds...)
		if ds[len(ds)-1].Action == ActionTrimmed {
			return next, nil
		}
		p = next
	}
}

// WriteText writes the report for people: each stream and its damage,
// each bad checkpoint, and what repair does (or did) about them.
func (r *CheckReport) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "state folder %s\n", r.StateDir)
	if len(r.Streams) == 0 {
		fmt.Fprintf(b, "  no stream yet: nothing was published here\n")
	}
	for _, s := range r.Streams {
		legacy := ""
		if s.Legacy > 0 {
			legacy = fmt.Sprintf(", %d in the format of xflow before framed records (read as they are)", s.Legacy)
		}
		state := "fine"
		if n := len(s.Damage); n > 0 {
			state = fmt.Sprintf("%d damaged stretch%s", n, map[bool]string{true: "", false: "es"}[n == 1])
		}
		if s.Problem != "" {
			state = "cannot be read as one stream"
		}
		fmt.Fprintf(b, "stream %s: %d segment%s%s, %d record%s, ends at %d: %s\n", s.Stream, s.Segments, plural(s.Segments), legacy, s.Records, plural(int(s.Records)), s.End, state)
		for _, d := range s.Damage {
			fmt.Fprintf(b, "  damaged: %s\n", d.describe(r.Repaired))
		}
		if s.Problem != "" {
			fmt.Fprintf(b, "  %s\n", s.Problem)
		}
	}
	for _, c := range r.Checkpoints {
		if c.Problem == "" {
			continue
		}
		verb := "repair would " + c.FixText
		if c.Repaired {
			verb = "repaired: wrote " + strconv.FormatInt(c.Fix, 10) + ", to " + c.FixText
		}
		fmt.Fprintf(b, "checkpoint %s: %s; %s\n", c.Path, c.Problem, verb)
	}
	if r.Quarantined > 0 {
		what := fmt.Sprintf("%d damaged stretches found before are", r.Quarantined)
		if r.Quarantined == 1 {
			what = "1 damaged stretch found before is"
		}
		fmt.Fprintf(b, "%s in %s\n", what, filepath.Join(r.StateDir, "quarantine"))
	}
	return b.Flush()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
