package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/exampletest"
	"github.com/xflowhq/xflow/internal/names"
)

// The region of TestBootstrapDeployDiffDestroyOnMoto: no other test uses
// it, so on a fresh moto_server it is not bootstrapped.
const cdkTestRegion = "eu-west-3"

// TestBootstrapDeployDiffDestroyOnMoto runs the CDK CLI that xflow
// manages through xflow's own commands, as a user without a `cdk` on PATH
// would: a deploy to a region that is not bootstrapped names the xflow
// command that fixes it; then xflow bootstrap (region from the config,
// account from the credentials), deploy, diff, and destroy, refused
// without a terminal, cancelled by a "no", done with --yes.
func TestBootstrapDeployDiffDestroyOnMoto(t *testing.T) {
	awsCfg := awstest.Config(t)
	if testing.Short() {
		t.Skip("builds, deploys and destroys the CDK app")
	}
	awsCfg.Region = cdkTestRegion
	cfn := cloudformation.NewFromConfig(awsCfg)

	prefix := strings.ReplaceAll(awstest.Unique("cdk"), "-", "_") + "_"
	dir := exampletest.Copy(t, prefix)
	file := filepath.Join(dir, "xflow.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "\naws:\n  region:\n", "\naws:\n  region: "+cdkTestRegion+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	stack := names.New(prefix).StackName()
	moto := []string{"-c", file, "--no-bootstrap-rule"}

	// A moto_server that ran this test before has the region bootstrapped.
	if stackStatus(t, cfn, "CDKToolkit") == "" {
		code, _, errOut := xflowLogged(t, "", append([]string{"deploy", "--direct"}, moto...)...)
		if code != 1 || !strings.Contains(errOut, "not bootstrapped") || !strings.Contains(errOut, "run 'xflow bootstrap -c "+file+"'") {
			t.Fatalf("deploy before bootstrap: exit %d, want 1 and the xflow command to run\n%s", code, errOut)
		}
	} else {
		t.Logf("%s is bootstrapped already: the deploy before bootstrap is not checked", cdkTestRegion)
	}

	code, _, errOut := xflowLogged(t, "", "bootstrap", "-c", file)
	if code != 0 || !strings.Contains(errOut, "xflow: cdk bootstrap aws://123456789012/"+cdkTestRegion+"\n") {
		t.Fatalf("bootstrap: exit %d\n%s", code, errOut)
	}
	if got := stackStatus(t, cfn, "CDKToolkit"); !strings.HasSuffix(got, "_COMPLETE") {
		t.Fatalf("after bootstrap, CDKToolkit in %s is %q", cdkTestRegion, got)
	}

	code, _, errOut = xflowLogged(t, "", append([]string{"deploy", "--direct"}, moto...)...)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, errOut)
	}
	if got := stackStatus(t, cfn, stack); got != string(cfntypes.StackStatusCreateComplete) {
		t.Fatalf("after deploy, stack %s is %q", stack, got)
	}

	code, out, errOut := xflowLogged(t, "", append([]string{"diff", "--direct"}, moto...)...)
	if code != 0 || !strings.Contains(errOut, "unchanged since the last synth") || !strings.Contains(out+errOut, "There were no differences") {
		t.Fatalf("diff of what was just deployed: exit %d, want 0, the deploy's assembly and no difference\n%s\n%s", code, out, errOut)
	}

	code, _, errOut = xflowLogged(t, "", append([]string{"destroy"}, moto...)...)
	if code != 2 || !strings.Contains(errOut, "stdin is not a terminal: pass --yes") {
		t.Errorf("destroy without a terminal or --yes: exit %d, want 2\n%s", code, errOut)
	}
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = isTerminalFile })
	code, _, errOut = xflowLogged(t, "n\n", append([]string{"destroy"}, moto...)...)
	if code != 0 || !strings.Contains(errOut, "Delete the stack "+stack+" and everything in it:") || !strings.Contains(errOut, "destroy cancelled") {
		t.Errorf("destroy answered no: exit %d\n%s", code, errOut)
	}
	if got := stackStatus(t, cfn, stack); got != string(cfntypes.StackStatusCreateComplete) {
		t.Fatalf("after a cancelled destroy, stack %s is %q", stack, got)
	}

	code, _, errOut = xflowLogged(t, "", append([]string{"destroy", "--yes"}, moto...)...)
	if code != 0 {
		t.Fatalf("destroy --yes: exit %d\n%s", code, errOut)
	}
	if got := stackStatus(t, cfn, stack); got != "" && got != string(cfntypes.StackStatusDeleteComplete) {
		t.Errorf("after destroy, stack %s is %q, want gone", stack, got)
	}
}

// xflowLogged is xflow, with the command's output in the test's log.
func xflowLogged(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	code, stdout, stderr = xflow(t, stdin, args...)
	t.Logf("xflow %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	return code, stdout, stderr
}

// stackStatus is a stack's status through CloudFormation's API, "" when
// there is no such stack.
func stackStatus(t *testing.T, cfn *cloudformation.Client, name string) string {
	t.Helper()
	out, err := cfn.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
		return ""
	}
	if err != nil {
		t.Fatalf("describe stack %s: %v", name, err)
	}
	if len(out.Stacks) == 0 {
		return ""
	}
	return string(out.Stacks[0].StackStatus)
}

// TestDevNullIsNoTerminal: destroy reading its answer from /dev/null (a
// character device) must ask for --yes, not take an empty answer.
func TestDevNullIsNoTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, in := range map[string]io.Reader{"/dev/null": null, "a pipe": r, "a reader": strings.NewReader("y\n")} {
		if isTerminalFile(in) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
}
