package local

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/track"
)

// trackedOnly is a config without functions: its runtime starts without
// an interpreter and runs the tracker alone, in process.
const trackedOnly = "subscriptions:\n  - event: Uploaded\n    subscribers:\nworkflows:\n  - id: wf\n    flow:\n      - Uploaded\n"

// runningFirst starts a runtime of trackedOnly on a fresh state folder,
// as xflow run in another terminal would; what it and the takeovers
// given its log say goes to logged.
func runningFirst(t *testing.T) (c *config.Config, first *Runtime, logged *syncBuffer) {
	t.Helper()
	c, err := config.Parse(filepath.Join(t.TempDir(), "xflow.yaml"), []byte(trackedOnly), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logged = &syncBuffer{}
	first = New(c, Options{StateDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(logged, nil))})
	if err := first.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { stopWithin(t, first, 20*time.Second) })
	return c, first, logged
}

func stopWithin(t *testing.T, s interface{ Stop(context.Context) error }, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// TestTakeover: a takeover starts nothing while another runtime runs the
// state folder; when that one stops, it starts one of its own, which
// delivers what is appended to the streams after, and Stop stops it.
func TestTakeover(t *testing.T) {
	c, first, logged := runningFirst(t)
	state := first.StateDir()
	tk := StartTakeover(context.Background(), c, Options{StateDir: state, Log: first.log})
	t.Cleanup(func() { stopWithin(t, tk, 20*time.Second) })
	time.Sleep(3 * takeoverPoll)
	if strings.Contains(logged.String(), "starting one here") {
		t.Fatalf("the takeover started a runtime while another ran the folder:\n%s", logged.String())
	}

	stopWithin(t, first, 20*time.Second)
	deadline := time.Now().Add(time.Minute)
	for strings.Count(logged.String(), "local runtime started") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no runtime started a minute after the first stopped:\n%s", logged.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, running := Running(state); !running {
		t.Fatalf("the takeover says it started, and no runtime runs the folder:\n%s", logged.String())
	}

	ctx := context.Background()
	if _, err := Publish(ctx, state, c, "Uploaded", []byte(`{"execution_id": "after"}`)); err != nil {
		t.Fatal(err)
	}
	logs, err := OpenLogs(state)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	for {
		rep, err := track.Track(ctx, logs, c, "wf", "after", TrackOptions(state))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Status == track.StatusFinished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event published after the takeover is %s, not finished:\n%s", rep.Status, logged.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	stopWithin(t, tk, 20*time.Second)
	if _, running := Running(state); running {
		t.Errorf("a runtime still runs the folder after Stop")
	}
}

// TestTakeoverStopsWatching: stopped before the runtime it watches
// stops, a takeover starts nothing.
func TestTakeoverStopsWatching(t *testing.T) {
	c, first, logged := runningFirst(t)
	state := first.StateDir()
	tk := StartTakeover(context.Background(), c, Options{StateDir: state, Log: first.log})
	stopWithin(t, tk, 20*time.Second)
	stopWithin(t, first, 20*time.Second)
	time.Sleep(3 * takeoverPoll)
	if _, running := Running(state); running {
		t.Errorf("a runtime runs the folder after both stopped:\n%s", logged.String())
	}
	if strings.Contains(logged.String(), "starting one here") {
		t.Errorf("a stopped takeover started a runtime:\n%s", logged.String())
	}
}
