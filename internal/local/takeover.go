package local

import (
	"context"
	"sync"
	"time"

	"github.com/xflowhq/xflow/internal/config"
)

// takeoverPoll is how often a takeover checks that the runtime it waits
// on still runs.
const takeoverPoll = 500 * time.Millisecond

// Takeover stands by a state folder whose runtime runs in another process
// (xflow run in another terminal), so that what a caller appends to its
// streams meanwhile (xflow server --local accepting events) keeps being
// delivered when that runtime stops: then it starts one in this process.
type Takeover struct {
	cancel  context.CancelFunc
	started chan *Runtime // the runtime it started, or nil; sent once

	stopOnce sync.Once
	stopErr  error
}

// StartTakeover watches the state folder of opts (see Options.StateDir)
// until ctx ends or Stop. When the runtime running on it stops, it starts
// one of c with opts in this process, which then runs until Stop. A start
// that fails, for instance because `xflow run` came back first, is logged
// to opts.Log and the watch goes on.
func StartTakeover(ctx context.Context, c *config.Config, opts Options) *Takeover {
	ctx, cancel := context.WithCancel(ctx)
	t := &Takeover{cancel: cancel, started: make(chan *Runtime, 1)}
	go func() { t.started <- watch(ctx, c, opts, takeoverPoll) }()
	return t
}

// Stop ends the watch, then stops the runtime the takeover started, if
// any, as Runtime.Stop does with ctx. Later calls return the first one's
// error.
func (t *Takeover) Stop(ctx context.Context) error {
	t.stopOnce.Do(func() {
		t.cancel()
		if rt := <-t.started; rt != nil {
			t.stopErr = rt.Stop(ctx)
		}
	})
	return t.stopErr
}

// watch polls the state folder every poll and returns the runtime it
// started once the one it watched stopped; nil when ctx ends first.
func watch(ctx context.Context, c *config.Config, opts Options, poll time.Duration) *Runtime {
	log, state := opts.logger(), opts.stateDir(c)
	wait := poll
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if _, running := Running(state); running {
			wait = poll
			continue
		}
		log.Warn("the local runtime this server served has stopped; starting one here, so that accepted events keep running", "state", state)
		rt := New(c, opts)
		if err := rt.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if info, running := Running(state); running {
				// Another runtime (xflow run, restarted) took the folder
				// first: wait on it, as at the start.
				log.Info("another local runtime runs the state folder now; serving it", "pid", info.PID)
				wait = poll
				continue
			}
			// A missing interpreter will not fix itself in half a second.
			wait = min(2*max(wait, 5*time.Second), time.Minute)
			log.Error("start the local runtime; accepted events stay in the state folder until one runs", "error", err, "retry_in", wait)
			continue
		}
		return rt
	}
}
