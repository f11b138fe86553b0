package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/awsconfig"
	"github.com/xflowhq/xflow/internal/build"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/pipeline"
	"github.com/xflowhq/xflow/internal/redrive"
	"github.com/xflowhq/xflow/internal/track"
)

func newRedriveCmd(s streams) *cobra.Command {
	var (
		path, state, since string
		executions         []string
		dryRun, useLocal   bool
		jsonOut, strict    bool
		timeout            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "redrive LAMBDA",
		Short: "Deliver again, to that function only, the batches of records it gave up on",
		Long: `Once the bug of a function is fixed, deliver to it again what it gave up on:
the batches its event source mapping sent to its failure destination after
its retries. Only that function is invoked, with the same Kinesis event its
mapping sends, batch after batch in order per shard; the other subscribers of
the events do not see them again, as they would if the events were published
again.

On AWS the failure records are in the function's SQS failure queue (on_failure:
queue, the default: Lambda's record of the batch, whose records are read back
from the stream by shard and sequence number, while the stream keeps them) or
in the stack's S3 bucket (on_failure: bucket: the whole batch, records
included, even past the stream's retention); the function is invoked with
Lambda's Invoke. A batch that succeeds has its failure record deleted; one that
fails again keeps it, with its new error. Records the stream no longer holds
are listed as lost, with their execution ids as the tracker saw them. A
destination given as an ARN is not xflow's: redrive says so and leaves it.

With --local the failure records are in failures/<function>.jsonl of the
state folder, and the batches are delivered through the local runtime: the
one running on the folder (xflow run, xflow server --local), or one started
for the redrive, which then runs until the redriven executions are done (or
--timeout) and prints where they stand.

--execution keeps the batches that hold a record of an execution (repeatable);
--since those given up at or after a time (RFC 3339, or a duration that long
ago such as 2h or 3d). --dry-run prints what would be redriven, and whether
each batch's records are still in the stream, changing nothing.

The exit status is 0 when every batch was redriven (or nothing was to be, or
for a dry run), 1 when a batch failed again or records are lost, 2 for a
usage error.`,
		Example: `  xflow redrive -c xflow.yaml lambda_filter --dry-run
  xflow redrive -c xflow.yaml lambda_filter --execution ex1 --execution ex2
  xflow redrive -c xflow.yaml lambda_filter --since 2h --local`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("%s takes the name of one lambda of the config, got %d argument%s", cmd.CommandPath(), len(args), plural(len(args)))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %s: give a duration above zero, such as 5m", timeout)}
			}
			for _, id := range executions {
				if err := names.CheckExecutionID(id); err != nil {
					return usageError{fmt.Errorf("--execution %q: %w", id, err)}
				}
			}
			opts := redrive.Options{Lambda: args[0], Executions: executions, DryRun: dryRun}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return usageError{err}
				}
				opts.Since = t
			}
			if !useLocal && (state != "" || strict) {
				return usageError{errors.New("--state and --strict-runtimes go with --local")}
			}
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			if err := redrive.CheckLambda(c, opts.Lambda); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			var rep *redrive.Report
			if useLocal {
				rep, err = redriveLocal(ctx, s, c, stateDir(c, state), opts, strict, timeout, jsonOut)
			} else {
				awsCfg, lerr := awsconfig.Load(ctx, c)
				if lerr != nil {
					return lerr
				}
				rep, err = redrive.NewAWS(awsCfg, c).Redrive(ctx, opts)
			}
			if err != nil {
				return err
			}
			if jsonOut {
				if err := rep.WriteJSON(s.out); err != nil {
					return err
				}
			} else if err := rep.WriteText(s.out); err != nil {
				return err
			}
			return rep.Err()
		},
	}
	configFlag(cmd, &path)
	f := cmd.Flags()
	f.StringArrayVar(&executions, "execution", nil, "redrive only the batches holding a record of this execution `id` (repeatable)")
	f.StringVar(&since, "since", "", "redrive only the batches given up at or after this `time` (RFC 3339, or a duration ago: 90m, 2h, 3d)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be redriven, changing nothing")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "with --local and no runtime running: how long to wait for the redriven executions")
	localFlags(cmd, &useLocal, &state)
	strictRuntimesFlag(cmd, &strict, "with --local: ")
	return cmd
}

// parseSince reads --since: an RFC 3339 time, or a duration before now
// (Go's units, and d for days).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if n, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		days, derr := strconv.Atoi(n)
		d, err = time.Duration(days)*24*time.Hour, derr
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--since %q is neither a time such as 2026-05-01T10:00:00Z nor a duration such as 90m, 2h or 3d (that long ago)", s)
	}
	return now.Add(-d), nil
}

// redriveLocal redrives through the runtime running on the state folder,
// or, when none runs, through one started here for the redrive: it runs
// until the redriven executions are done (the events their batches lead to
// are delivered too), then stops.
func redriveLocal(ctx context.Context, s streams, c *config.Config, state string, opts redrive.Options, strict bool, timeout time.Duration, quiet bool) (*redrive.Report, error) {
	rep, err := local.Redrive(ctx, state, c, opts)
	if !errors.Is(err, local.ErrNotRunning) {
		return rep, err
	}
	res, err := pipeline.Run(ctx, c, pipeline.Options{
		Until: pipeline.Build, Target: build.Host, Progress: s.err,
		Build: build.Options{StrictRuntimes: strict},
	})
	if err != nil {
		return nil, err
	}
	rt := local.New(c, local.Options{
		StateDir:  state,
		Log:       slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress:  s.err,
		Artifacts: res.Artifacts,
		Builder:   res.Builder,
	})
	if err := rt.Start(ctx); err != nil {
		return nil, err
	}
	defer stopRuntime(rt)
	if err := res.Lock.Save(); err != nil {
		return nil, err
	}
	fmt.Fprintf(s.err, "xflow: no local runtime ran on %s: started one for the redrive\n", state)
	if rep, err = rt.Redrive(ctx, opts); err != nil {
		return nil, err
	}
	if rep.Redriven == 0 {
		return rep, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := rt.WaitIdle(wctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(s.err, "xflow: the redriven executions still run after %s (--timeout); they go on at the next start of the runtime\n", timeout)
	}
	if !quiet {
		if err := writeStatuses(ctx, s, rt, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// writeStatuses says where each redriven execution stands now, in every
// workflow of its batch's event.
func writeStatuses(ctx context.Context, s streams, rt *local.Runtime, rep *redrive.Report) error {
	c := rt.Config()
	type key struct{ wf, ex string }
	var seen []key
	for _, b := range rep.Batches {
		if b.Outcome != redrive.OutcomeRedriven {
			continue
		}
		for _, w := range c.Workflows {
			if !slices.Contains(w.Flow, b.Event) {
				continue
			}
			for _, ex := range b.ExecutionIDs {
				if k := (key{w.ID, ex}); !slices.Contains(seen, k) {
					seen = append(seen, k)
				}
			}
		}
	}
	for _, k := range seen {
		r, err := track.Track(ctx, rt.Logs(), c, k.wf, k.ex, local.TrackOptions(rt.StateDir()))
		if err != nil {
			return err
		}
		where := string(r.Status)
		if r.NextExpectedEvent != nil && r.Status != track.StatusFinished {
			where += ", next expected: " + *r.NextExpectedEvent
		}
		fmt.Fprintf(s.out, "execution %s of workflow %s: %s\n", k.ex, k.wf, strings.ReplaceAll(where, "_", " "))
	}
	return nil
}
