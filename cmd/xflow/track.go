package main

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/awsconfig"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/track"
)

func newTrackCmd(s streams) *cobra.Command {
	var (
		path, state string
		jsonOut     bool
		useLocal    bool
	)
	cmd := &cobra.Command{
		Use:   "track WORKFLOW_ID EXECUTION_ID",
		Short: "Tell where one execution of a workflow stands, and why it stopped",
		Long: `Read the tracker's log of one execution (/xFlow/track/<workflow_id>, log stream
<execution_id>) and print every event of the workflow's flow, received or
not, the events seen that are not in the flow, and the next expected event.
When the execution has not finished, the functions that should produce the
next event are named, with their failing log lines for this execution.

When the execution is not found or in progress, track also checks the
workflow's tracker (its error lines since the execution's first event, the
batches it gave up on, its mappings, how far behind its streams it is): when
the tracker is what fails, the report says "the tracker of this workflow is
failing" with its error, instead of "not found" or "in progress".

The exit status is 0 for a report, whatever the execution's state (an
execution none of whose events were seen is "not found"); 1 when the workflow
is not in the config or AWS fails; 2 for a usage error. --json prints the
report as JSON, with the original xFlow's keys. --local reads the local
runtime's state folder instead of AWS.`,
		Example: `  xflow track -c xflow.yaml compute_word_count ex-1
  xflow track compute_word_count ex-1 --json | jq .status`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("%s takes a workflow id and an execution id, got %d argument%s", cmd.CommandPath(), len(args), plural(len(args)))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			workflowID, executionID := args[0], args[1]
			if _, err := track.Check(c, workflowID, executionID); err != nil {
				if errors.Is(err, track.ErrInvalidExecutionID) {
					return usageError{err}
				}
				return err
			}
			var (
				logs   track.LogsAPI
				opts   track.Options
				health track.HealthOptions
			)
			if useLocal {
				l, err := local.OpenLogs(stateDir(c, state))
				if err != nil {
					return err
				}
				logs, opts, health = l, local.TrackOptions(stateDir(c, state)), local.HealthOptions(stateDir(c, state))
			} else {
				awsCfg, err := awsconfig.Load(cmd.Context(), c)
				if err != nil {
					return err
				}
				logs = cloudwatchlogs.NewFromConfig(awsCfg)
				opts.Limiter = track.NewLimiter(track.DefaultRate)
				health = track.HealthOptions{Limiter: opts.Limiter, State: track.AWSTrackerState(awsCfg)}
			}
			rep, err := track.Track(cmd.Context(), logs, c, workflowID, executionID, opts)
			if err != nil {
				return err
			}
			// Not found or in progress: is the tracker what fails?
			if err := track.CheckTracker(cmd.Context(), logs, c, rep, health); err != nil {
				return err
			}
			if jsonOut {
				return rep.WriteJSON(s.out)
			}
			return rep.WriteText(s.out)
		},
	}
	configFlag(cmd, &path)
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	localFlags(cmd, &useLocal, &state)
	return cmd
}
