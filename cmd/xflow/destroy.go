package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xflowhq/xflow/internal/deploy"
)

// stdinIsTerminal says whether destroy may ask its question on stdin;
// tests replace it.
var stdinIsTerminal = isTerminalFile

// isTerminalFile says whether in is a terminal. A character device is not
// enough: /dev/null is one, and a destroy run with stdin from /dev/null
// would read an empty answer instead of asking for --yes.
func isTerminalFile(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && isTerminalFD(f.Fd())
}

func newDestroyCmd(s streams) *cobra.Command {
	var (
		f   cdkFlags
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the deployed stacks of a workflow configuration (cdk destroy)",
		Long: `Synthesize a workflow configuration to learn its stacks, ask for confirmation,
then delete every one of them with the CDK CLI that xflow installs
(cdk destroy --all). That deletes the streams with the events they hold, the
functions, their failure queues and log groups, and the trackers' logs.

The question is read from stdin, which must be a terminal; --yes deletes
without asking, as scripts need. Take the flags of the deploy
(--no-bootstrap-rule) so that the assembly it synthesized is reused.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Refuse before a synth that may take minutes.
			if !yes && !stdinIsTerminal(s.in) {
				return usageError{errors.New("destroy deletes the deployed stacks and asks first, but stdin is not a terminal: pass --yes to destroy without asking")}
			}
			c, err := loadConfig(s, f.path)
			if err != nil {
				return err
			}
			opts := f.options(s)
			res, err := deploy.Synth(cmd.Context(), c, opts)
			if err != nil {
				return err
			}
			var stacks []string
			for _, st := range res.Assembly.Stacks {
				stacks = append(stacks, st.Name)
			}
			if !yes {
				them := "it"
				if len(stacks) > 1 {
					them = "them"
				}
				fmt.Fprintf(s.err, "Delete the stack%s %s and everything in %s: streams with their events, functions, queues, log groups? [y/N] ",
					plural(len(stacks)), strings.Join(stacks, ", "), them)
				answer, err := bufio.NewReader(s.in).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the answer: %w", err)
				}
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					fmt.Fprintln(s.err, "xflow: destroy cancelled; nothing was deleted")
					return nil
				}
			}
			if err := deploy.Destroy(cmd.Context(), res.Assembly, opts); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "xflow: destroyed %s\n", strings.Join(stacks, ", "))
			return nil
		},
	}
	// cdk destroy makes no change set: no --direct.
	f.register(cmd, "")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "destroy without asking")
	return cmd
}
