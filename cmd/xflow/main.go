// Command xflow compiles a YAML workflow of Lambda functions and Kinesis
// streams into a CDK Go app, synthesizes and tracks it. See README.md.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
