package main

import (
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awsconfig"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/local"
	"github.com/xflowhq/xflow/internal/pipeline"
	"github.com/xflowhq/xflow/internal/publish"
)

// maxStdin bounds what publish reads from stdin: far above a Kinesis
// record, so that the size error can say how large the event was.
const maxStdin = 16 << 20

func newPublishCmd(s streams) *cobra.Command {
	var (
		path, state string
		useLocal    bool
	)
	cmd := &cobra.Command{
		Use:   "publish EVENT [JSON | -]",
		Short: "Put one event on its Kinesis stream, partitioned by its execution_id",
		Long: `Put one event on the Kinesis stream of EVENT, with the event's execution_id as
partition key. The event is a JSON object with a string "execution_id"; it is
read from stdin when JSON is omitted or "-". It is checked before anything is
sent: an event not in the config, invalid JSON, a missing or invalid
execution_id, or more than the 1 MiB of a Kinesis record is an error.

AWS access uses the SDK's standard chain (environment, AWS_PROFILE, SSO); the
region is aws.region in the config, $REGION or $AWS_REGION; AWS_ENDPOINT_URL
points at an emulator. With --local the event goes to the local runtime's
stream in its state folder, whether or not "xflow run" is running.`,
		Example: `  xflow publish -c xflow.yaml FileUploaded '{"execution_id": "ex-1", "file_url": "s3://bucket/a.txt"}'
  xflow publish FileUploaded < event.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("%s takes an event and its JSON (or stdin), got %d argument%s", cmd.CommandPath(), len(args), plural(len(args)))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig(s, path)
			if err != nil {
				return err
			}
			var payload []byte
			if len(args) == 2 && args[1] != "-" {
				payload = []byte(args[1])
			} else {
				payload, err = io.ReadAll(io.LimitReader(s.in, maxStdin+1))
				if err != nil {
					return fmt.Errorf("read the event from stdin: %w", err)
				}
				if len(payload) > maxStdin {
					return &publish.Error{Kind: publish.ErrTooLarge, Msg: fmt.Sprintf(
						"the event on stdin is more than %d bytes; a Kinesis record holds %d", maxStdin, spec.MaxRecordBytes)}
				}
			}
			// Refuse a bad event before any AWS setup.
			rec, err := publish.Prepare(c, args[0], payload)
			if err != nil {
				return err
			}
			var res publish.Result
			if useLocal {
				res, err = local.Publish(cmd.Context(), stateDir(c, state), c, args[0], payload)
			} else {
				var awsCfg aws.Config
				if awsCfg, err = awsconfig.Load(cmd.Context(), c); err != nil {
					return err
				}
				res, err = publish.New(kinesis.NewFromConfig(awsCfg), c).Send(cmd.Context(), rec)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "published %s for execution %s: stream %s, shard %s, sequence number %s\n",
				rec.Event, res.ExecutionID, res.Stream, res.ShardID, res.SequenceNumber)
			if dir := stateDir(c, state); useLocal {
				if _, running := local.Running(dir); !running {
					fmt.Fprintf(s.err, "xflow: no local runtime runs on %s: the event waits in its stream until one starts (xflow run, or xflow server --local)\n", dir)
				}
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	localFlags(cmd, &useLocal, &state)
	return cmd
}

// localFlags registers --local and --state on a command that can work on
// the local runtime instead of AWS.
func localFlags(cmd *cobra.Command, useLocal *bool, state *string) {
	cmd.Flags().BoolVar(useLocal, "local", false, "use the local runtime's state folder instead of AWS")
	cmd.Flags().StringVar(state, "state", "", "the local state `folder` (default: .xflow beside the config)")
}

// stateDir is the local runtime's state folder.
func stateDir(c *config.Config, flag string) string {
	if flag != "" {
		return flag
	}
	return pipeline.LayoutOf(c).State()
}
