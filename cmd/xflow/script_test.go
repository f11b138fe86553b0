package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"xflow": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScript runs the command-line tests in testdata/script: each .txtar
// file holds the commands, their expected output and the files they use.
func TestScript(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			for _, k := range []string{"REGION", "LAMBDA_EXECUTION_ROLE_NAME", "LAMBDA_TIMEOUT_TIME"} {
				env.Setenv(k, "")
			}
			return nil
		},
	})
}
