// Command genconfig writes a synthetic xflow configuration of N functions
// (see bench/genconfig):
//
//	go run ./bench/cmd/genconfig -n 500 -o /tmp/bench500
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/xflowhq/xflow/bench/genconfig"
)

func main() {
	var o genconfig.Options
	out := flag.String("o", "", "output `folder` (required): xflow.yaml and the sources")
	flag.IntVar(&o.Functions, "n", 5, "number of functions")
	flag.IntVar(&o.WorkflowEvents, "per", 10, "events per workflow")
	flag.StringVar(&o.StackName, "stack", "bench", "stack name")
	flag.StringVar(&o.Prefix, "prefix", "", "name prefix")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	path, err := genconfig.Write(*out, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genconfig:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
