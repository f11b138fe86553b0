package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/pipeline"
	"github.com/xflowhq/xflow/internal/publish"
	"github.com/xflowhq/xflow/internal/track"
)

// stopGrace is how long a stopping runtime lets invocations in flight
// finish before it kills their workers; their batches are delivered again
// at the next start.
const stopGrace = 30 * time.Second

func newRunCmd(s streams) *cobra.Command {
	var (
		path, state, event string
		wait, strict       bool
		check, repair      bool
		timeout            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run [JSON]",
		Short: "Run the workflow on this machine, with the same handlers, until stopped",
		Long: `Run the workflow locally: each event's stream is a log in the state folder
(.xflow beside the config), each function runs in warm worker processes of its
real runtime (its package built for this machine by xflow build: Python with its
dependencies, Node.js with its node_modules, Go compiled), with python3 and node
found on PATH or in version managers, the trackers write to a local log store, and handlers publish with
their usual SDK to a local Kinesis endpoint. Stop with Ctrl-C: invocations in
flight finish and their checkpoints are written.

With --publish EVENT JSON (JSON "-" or left out: read from stdin), the event is
published once the runtime runs; with --wait too, xflow runs that execution
until it finishes or is stuck, prints its track report, stops, and exits 0 only
if it finished.

At start, every stream of the state folder is read: bytes that are not a
record (a partial record a crash left at the end, or damage) are moved to
quarantine/ in the state folder, with an error naming the stream, the sequence
number and the executions they held, and every other record is kept. A
checkpoint past the end of its stream, inside a record, or unreadable stops the
start with the fix; --repair applies the fix and says so. --check reports what
is damaged and what repair would do, changing nothing, and exits 1 when there is
anything to repair.`,
		Example: `  xflow run -c xflow.yaml
  xflow run -c xflow.yaml --publish FileUploaded '{"execution_id": "ex1", "message": "Test with ccc"}' --wait
  xflow run -c xflow.yaml --check`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %s: give a duration above zero, such as 30s or 5m", timeout)}
			}
			if event == "" && (len(args) > 0 || wait) {
				return usageError{fmt.Errorf("JSON and --wait go with --publish EVENT")}
			}
			if check && (repair || event != "") {
				return usageError{fmt.Errorf("--check only reports, changing nothing and running nothing: give it without --repair and --publish")}
			}
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			if state == "" {
				state = pipeline.LayoutOf(c).State()
			}
			if check {
				return checkState(s, c, state)
			}
			var payload []byte
			var workflows []string
			if event != "" {
				if len(args) == 0 || args[0] == "-" {
					if payload, err = io.ReadAll(s.in); err != nil {
						return fmt.Errorf("read the event from stdin: %w", err)
					}
				} else {
					payload = []byte(args[0])
				}
				// Refuse a bad event before starting anything.
				if _, err := publish.Prepare(c, event, payload); err != nil {
					return err
				}
				for _, w := range c.Workflows {
					if slices.Contains(w.Flow, event) {
						workflows = append(workflows, w.ID)
					}
				}
			}
			ctx := cmd.Context()
			// The functions' packages built for this machine, from the
			// same sources (git ones pinned) as a deploy.
			res, err := pipeline.Run(ctx, c, pipeline.Options{
				Until: pipeline.Build, Target: build.Host, Progress: s.err,
				Build: build.Options{StrictRuntimes: strict},
			})
			if err != nil {
				return err
			}
			lock := res.Lock
			rt := local.New(c, local.Options{
				StateDir:  state,
				Log:       slog.New(slog.NewTextHandler(s.err, nil)),
				Progress:  s.err,
				Artifacts: res.Artifacts,
				Builder:   res.Builder,
				Repair:    repair,
			})
			if err := rt.Start(ctx); err != nil {
				return err
			}
			if err := lock.Save(); err != nil {
				rt.Stop(context.Background())
				return err
			}
			stop := func() error {
				sctx, cancel := context.WithTimeout(context.Background(), stopGrace)
				defer cancel()
				return rt.Stop(sctx)
			}
			if event != "" {
				res, err := rt.Publish(ctx, event, payload)
				if err != nil {
					stop()
					return err
				}
				fmt.Fprintf(s.err, "xflow: published %s of execution %s as record %s\n", event, res.ExecutionID, res.SequenceNumber)
				if wait {
					werr := waitExecution(ctx, s, rt, workflows, res.ExecutionID, timeout)
					if err := stop(); werr == nil {
						werr = err
					}
					return werr
				}
			}
			fmt.Fprintf(s.err, "xflow: running %s locally; state in %s; Kinesis at %s; stop with Ctrl-C\n", c.File, state, rt.KinesisEndpoint())
			<-ctx.Done()
			fmt.Fprintln(s.err, "xflow: stopping: waiting for invocations in flight")
			return stop()
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().StringVar(&state, "state", "", "the state `folder` (default: .xflow beside the config)")
	cmd.Flags().StringVar(&event, "publish", "", "publish this `EVENT` once running, with the JSON argument as payload")
	cmd.Flags().BoolVar(&wait, "wait", false, "with --publish: wait until the execution finishes or is stuck, print its report and stop")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait: give up after this `duration`")
	strictRuntimesFlag(cmd, &strict, "")
	cmd.Flags().BoolVar(&check, "check", false, "report what is damaged in the state folder and what --repair would do, changing nothing, then exit (1 when there is anything to repair)")
	cmd.Flags().BoolVar(&repair, "repair", false, "at start, move checkpoints that cannot be used as they are (past the end of their stream, inside a record, unreadable), saying so, instead of refusing to start")
	return cmd
}

// checkState is run --check: the report of the state folder on stdout,
// and an error when anything needs repair.
func checkState(s streams, c *config.Config, state string) error {
	rep, err := local.Check(state, c, local.CheckOptions{})
	if err != nil {
		return err
	}
	if err := rep.WriteText(s.out); err != nil {
		return err
	}
	if n := rep.Problems(); n > 0 {
		return fmt.Errorf("%d thing%s to repair in %s (above): xflow run --repair repairs them at start (damaged stream bytes are also repaired by any start)", n, plural(n), state)
	}
	fmt.Fprintf(s.err, "xflow: nothing to repair in %s\n", state)
	return nil
}

// waitExecution waits until the runtime has done all it can, then prints
// the track report of the execution in each workflow of the event. It
// fails when an execution did not finish.
func waitExecution(ctx context.Context, s streams, rt *local.Runtime, workflows []string, executionID string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	waited := ""
	if err := rt.WaitIdle(wctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // interrupted
		}
		// Still running after --timeout: say where it stands so far.
		waited = fmt.Sprintf(" within %s (--timeout), and invocations still run", timeout)
	}
	if len(workflows) == 0 {
		fmt.Fprintf(s.out, "execution %s: done; its first event is in no workflow, so nothing tracks it\n", executionID)
		return nil
	}
	var stuck []string
	for _, wf := range workflows {
		rep, err := track.Track(ctx, rt.Logs(), rt.Config(), wf, executionID, local.TrackOptions(rt.StateDir()))
		if err != nil {
			return err
		}
		if err := rep.WriteText(s.out); err != nil {
			return err
		}
		if rep.Status != track.StatusFinished {
			next := "its next event"
			if rep.NextExpectedEvent != nil {
				next = *rep.NextExpectedEvent
			}
			stuck = append(stuck, fmt.Sprintf("workflow %s is stuck before %s", wf, next))
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("execution %s did not finish%s: %s (state in %s)", executionID, waited, strings.Join(stuck, "; "), rt.StateDir())
	}
	return nil
}
