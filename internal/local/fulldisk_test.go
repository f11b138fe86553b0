package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
)

// fullDisk makes a state folder's disk fill up and then empty: a small
// tmpfs when the test may mount one (as root), else writes that fail
// with ENOSPC past a budget, cut short as a full disk cuts them.
type fullDisk struct {
	t      *testing.T
	dir    string
	tmpfs  bool
	filler string

	mu     sync.Mutex
	budget int64 // injected: bytes left; < 0 unlimited
}

func newFullDisk(t *testing.T, dir string) *fullDisk {
	d := &fullDisk{t: t, dir: dir, budget: -1}
	// XFLOW_TEST_NO_TMPFS=1 tries the injected writes where tmpfs works.
	var out []byte
	err := errors.New("XFLOW_TEST_NO_TMPFS is set")
	if os.Getenv("XFLOW_TEST_NO_TMPFS") == "" {
		out, err = exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "xflow-test", dir).CombinedOutput()
	}
	if err == nil {
		d.tmpfs = true
		t.Cleanup(func() {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", dir, err, out)
			}
		})
		t.Logf("the state folder is on a 2 MiB tmpfs")
		return d
	}
	t.Logf("no tmpfs (mount: %v: %s): writes fail with ENOSPC past a budget instead", err, strings.TrimSpace(string(out)))
	prev := writeAt
	t.Cleanup(func() { writeAt = prev })
	writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.budget < 0 || d.budget >= int64(len(b)) {
			if d.budget >= 0 {
				d.budget -= int64(len(b))
			}
			return f.WriteAt(b, off)
		}
		n, _ := f.WriteAt(b[:d.budget], off)
		d.budget = 0
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return d
}

// fill leaves about left bytes free.
func (d *fullDisk) fill(left int64) {
	if !d.tmpfs {
		d.mu.Lock()
		d.budget = left
		d.mu.Unlock()
		return
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.dir, &st); err != nil {
		d.t.Fatal(err)
	}
	n := int64(st.Bavail)*st.Bsize - left
	d.filler = filepath.Join(d.dir, "filler")
	f, err := os.Create(d.filler)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for n > 0 {
		m, err := f.Write(chunk[:min(int64(len(chunk)), n)])
		if err != nil {
			d.t.Fatalf("fill the tmpfs: %v", err)
		}
		n -= int64(m)
	}
}

// free makes room again.
func (d *fullDisk) free() {
	if !d.tmpfs {
		d.mu.Lock()
		d.budget = -1
		d.mu.Unlock()
		return
	}
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatal(err)
	}
}

// TestFullDisk: publishes go on while the disk of the state folder fills
// up, from the runtime's process and from another (publish --local). Each
// is either accepted, or refused with "no space left"; once there is room
// again, every accepted one is in its stream once and visible in track
// (its tracking log created with its header, although creating it failed
// while the disk was full), and no refused one is anywhere; nothing in the
// streams is half-written.
func TestFullDisk(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.Mkdir(state, 0o755)
	disk := newFullDisk(t, state)
	cfgDir := t.TempDir()
	yaml := "subscriptions:\n  - event: Uploaded\n    subscribers:\nworkflows:\n  - id: disk\n    flow:\n      - Uploaded\n"
	c, err := config.Parse(filepath.Join(cfgDir, "xflow.yaml"), []byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var logged syncBuffer
	rt := New(c, Options{StateDir: state, Log: slog.New(slog.NewTextHandler(io.MultiWriter(&logged), nil))})
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		rt.Stop(sctx)
	}()

	disk.fill(120 << 10)
	payload := strings.Repeat("x", 3000)
	accepted := map[string]string{} // execution → sequence number
	var refused []string
	for i := 0; len(refused) < 30 && i < 2000; i++ {
		id := fmt.Sprintf("full-%04d", i)
		p := fmt.Appendf(nil, `{"execution_id": %q, "pad": %q}`, id, payload)
		put := rt.Publish
		if i%2 == 1 { // as another process (publish --local) does
			put = func(ctx context.Context, event string, payload []byte) (publishResult, error) {
				return Publish(ctx, state, c, event, payload)
			}
		}
		res, err := put(ctx, "Uploaded", p)
		switch {
		case err == nil:
			accepted[id] = res.SequenceNumber
		case strings.Contains(err.Error(), "no space left"):
			refused = append(refused, id)
		default:
			t.Fatalf("publish %s: %v; want it accepted or refused with \"no space left\"", id, err)
		}
	}
	if len(accepted) == 0 || len(refused) == 0 {
		t.Fatalf("%d accepted, %d refused: the disk never filled up, or was full from the start", len(accepted), len(refused))
	}
	t.Logf("%d publishes accepted, %d refused with no space left", len(accepted), len(refused))
	time.Sleep(300 * time.Millisecond) // the tracker meets the full disk too
	disk.free()

	// Every accepted execution shows up in track.
	opts := TrackOptions(state)
	deadline := time.Now().Add(2 * time.Minute)
	for id := range accepted {
		for {
			rep, err := track.Track(ctx, rt.Logs(), c, "disk", id, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status == track.StatusFinished {
				if rep.Events[0].SequenceNumber != accepted[id] {
					t.Errorf("%s tracked as record %s, published as %s", id, rep.Events[0].SequenceNumber, accepted[id])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was accepted as %s, and track says %s after 2 minutes\n%s", id, accepted[id], rep.Status, logged.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, id := range refused {
		rep, err := track.Track(ctx, rt.Logs(), c, "disk", id, opts)
		if err != nil || rep.Status != track.StatusNotFound {
			t.Errorf("refused %s: track says %v (%v), want not found", id, rep.Status, err)
		}
	}
	// The stream holds the accepted records once each, and nothing else.
	recs, err := rt.Streams().Records("Uploaded", 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.PartitionKey]++
		if accepted[r.PartitionKey] != r.SequenceNumber() {
			t.Errorf("record %s of %s in the stream: not accepted as such (accepted: %q)", r.SequenceNumber(), r.PartitionKey, accepted[r.PartitionKey])
		}
	}
	if len(seen) != len(accepted) {
		t.Errorf("%d executions in the stream, %d accepted", len(seen), len(accepted))
	}
	// Every tracking log has its header, and names its execution.
	out, err := rt.Logs().DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/xFlow/track/disk")})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range out.LogStreams {
		if _, ok := accepted[aws.ToString(st.LogStreamName)]; !ok {
			t.Errorf("log stream %q is no accepted execution's", aws.ToString(st.LogStreamName))
		}
	}
	// Nothing half-written: a check of the folder finds no damage.
	rep, err := Check(state, c, CheckOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		var b strings.Builder
		rep.WriteText(&b)
		t.Errorf("after the full disk, the check finds:\n%s", b.String())
	}
}

type publishResult = publish.Result
