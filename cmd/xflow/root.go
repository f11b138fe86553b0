package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/config"
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

// streams are the command's standard streams, handed to every command so
// that tests can run the CLI in-process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// run executes the command line and returns the exit status: 0 on
// success, 1 when the command failed, 2 for a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if o, ok := fromOriginal(args); ok {
		return o.run(stdin, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := streams{in: stdin, out: stdout, err: stderr}
	root := newRootCmd(s)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	// cobra's own refusal of a command it does not know is plain text.
	if strings.HasPrefix(err.Error(), "unknown command") {
		err = usageError{err}
	}
	var cerrs config.Errors
	var uerr usageError
	switch {
	case errors.As(err, &cerrs):
		fmt.Fprintln(stderr, cerrs.Error())
		fmt.Fprintf(stderr, "xflow: %d error%s in the config; nothing was written\n", len(cerrs), plural(len(cerrs)))
		return 1
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "xflow: %v\n", err)
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	default:
		fmt.Fprintf(stderr, "xflow: %v\n", err)
		return 1
	}
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "xflow",
		Short: "Compile a YAML workflow of Lambda functions and Kinesis streams into CDK, deploy it, track it",
		Long: `xflow compiles one YAML file describing Lambda functions, the events each one
listens to and the workflows to track into a CDK Go app. "xflow synth" writes
the CloudFormation; "xflow deploy" deploys it with the CDK CLI that xflow
installs ("xflow bootstrap" once per account and region first); "xflow track" tells where one
execution of a workflow stands and why it stopped.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newValidateCmd(s),
		newBuildCmd(s),
		newGenerateCmd(s),
		newSynthCmd(s),
		newBootstrapCmd(s),
		newDeployCmd(s),
		newDiffCmd(s),
		newDestroyCmd(s),
		newPublishCmd(s),
		newTrackCmd(s),
		newRedriveCmd(s),
		newInitCmd(s),
		newRunCmd(s),
		newServerCmd(s),
	)
	return root
}

// usageError is a mistake in the command line itself.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// configFlag registers -c/--config on a command.
func configFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVarP(path, "config", "c", "xflow.yaml", "the workflow configuration `file`")
}

// loadConfig loads a config and prints its warnings.
func loadConfig(s streams, path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(s.err, "warning: %v\n", w)
	}
	return c, nil
}
