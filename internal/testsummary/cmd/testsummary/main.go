// Command testsummary reads `go test -json` on stdin and writes go test's
// usual output on stdout, ending with the tests that were skipped and why:
//
//	go test -json ./... | testsummary [-v]
//
// scripts/test runs it; its exit status is 0 unless stdin cannot be read,
// so that a pipeline under `set -o pipefail` keeps go test's.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/xflowhq/xflow/internal/testsummary"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("testsummary", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "print every test's output as it comes, as go test -v")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if _, err := testsummary.Filter(os.Stdin, os.Stdout, testsummary.Options{Verbose: *verbose}); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 1
	}
	return 0
}
