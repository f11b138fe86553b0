// Command ensure-node makes a Node.js ≥ 22 (and, with -cdk, the CDK CLI)
// available the way xflow itself does, and prints their paths, one a line,
// so that shell scripts (scripts/test, .ci/run) share xflow's cache and
// install logic instead of duplicating it in bash.
//
//	node="$(go run ./internal/nodejs/cmd/ensure-node)"
//
// Progress and errors go to stderr; the exit status is 1 on failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/xflowhq/xflow/internal/nodejs"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("ensure-node", flag.ContinueOnError)
	withCDK := fs.Bool("cdk", false, "also ensure the CDK CLI and print its path on a second line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	node, err := nodejs.Ensure(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ensure-node:", err)
		return 1
	}
	fmt.Println(node)
	if *withCDK {
		cdk, err := nodejs.EnsureCDK(ctx, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ensure-node:", err)
			return 1
		}
		fmt.Println(cdk)
	}
	return 0
}
