package deploy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/xflowhq/xflow/bench/genconfig"
	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/generator"
)

// envScaleDeploy sets the number of functions TestDeployScaleOnMoto
// deploys (default 500; 0 skips the test).
const envScaleDeploy = "XFLOW_TEST_DEPLOY_FUNCTIONS"

// TestDeployScaleOnMoto is acceptance 3 of the scale issue: a config of 500
// functions, split over several stacks, deploys with `cdk deploy --all` on
// moto, and every stack, function and stream exists afterwards. It runs on
// a moto_server of its own, so that its thousands of requests do not slow
// the other tests sharing the one .ci/run starts.
func TestDeployScaleOnMoto(t *testing.T) {
	awstest.Endpoint(t) // skips, visibly, where there is no emulator at all
	if testing.Short() {
		t.Skip("deploys hundreds of functions")
	}
	n := 500
	if v := os.Getenv(envScaleDeploy); v != "" {
		fmt.Sscan(v, &n)
	}
	if n <= 0 {
		t.Skipf("%s=%s", envScaleDeploy, os.Getenv(envScaleDeploy))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	privateMoto(t)
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path, err := genconfig.Write(dir, genconfig.Options{Functions: n, StackName: "scale", Prefix: "s_"})
	if err != nil {
		t.Fatal(err)
	}
	c := loadConfig(t, path)
	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Direct: true, Out: testWriter{t}, Err: quietWriter{t: t}}
	opts.Context = generator.DefaultContext()
	opts.Context[spec.ContextBootstrapVersionRule] = false
	start := time.Now()
	if err := Bootstrap(ctx, aws.ToString(id.Account), awsCfg.Region, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("cdk bootstrap: %s", time.Since(start).Round(time.Second))
	start = time.Now()
	if err := Run(ctx, c, opts); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	t.Logf("synth and cdk deploy --all of %d functions: %s", n, time.Since(start).Round(time.Second))

	asm, err := generator.ReadAssembly(filepath.Join(c.Dir, ".xflow", "cdk.out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(asm.Stacks) < 2 {
		t.Errorf("%d stack(s) for %d functions, want a split", len(asm.Stacks), n)
	}
	cfn := cloudformation.NewFromConfig(awsCfg)
	for _, st := range asm.Stacks {
		out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(st.Name)})
		if err != nil || len(out.Stacks) != 1 {
			t.Errorf("stack %s: %v", st.Name, err)
			continue
		}
		if s := out.Stacks[0].StackStatus; s != cfntypes.StackStatusCreateComplete && s != cfntypes.StackStatusUpdateComplete {
			t.Errorf("stack %s is %s", st.Name, s)
		}
	}

	// Every function and stream of the config, listed page by page.
	functions := map[string]bool{}
	lp := lambda.NewListFunctionsPaginator(lambda.NewFromConfig(awsCfg), &lambda.ListFunctionsInput{})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Functions {
			functions[aws.ToString(f.FunctionName)] = true
		}
	}
	// moto pages ListStreams in tens without the SDK's paginator noticing:
	// ask for each stream instead.
	kc := kinesis.NewFromConfig(awsCfg)
	streams := map[string]bool{}
	for i := 0; i <= n; i++ {
		name := "s_" + genconfig.Event(i)
		if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)}); err == nil {
			streams[name] = true
		}
	}
	missing := 0
	for i := 0; i < n; i++ {
		if name := "s_" + genconfig.Function(i); !functions[name] {
			missing++
			if missing < 5 {
				t.Errorf("function %s was not deployed", name)
			}
		}
	}
	for i := 0; i <= n; i++ {
		if name := "s_" + genconfig.Event(i); !streams[name] {
			missing++
			if missing < 5 {
				t.Errorf("stream %s was not deployed", name)
			}
		}
	}
	for k := 0; k < genconfig.Workflows(n, 10); k++ {
		if name := "s_tracker_" + genconfig.Workflow(k); !functions[name] {
			missing++
			t.Errorf("tracker %s was not deployed", name)
		}
	}
	if missing > 0 {
		t.Errorf("%d functions, streams or trackers missing", missing)
	}
}

// privateMoto starts a moto_server of the test's own on a free port of
// 127.0.0.1 and points the AWS SDK and the CDK CLI at it (as localhost,
// which moto and the CDK need), with dummy credentials; it is stopped at
// the end of the test.
func privateMoto(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("SKIP: moto_server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	log, err := os.Create(filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
	url := fmt.Sprintf("http://localhost:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/moto-api/", port))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("moto_server did not answer on port %d within 60 s:\n%s", port, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":      url,
		"AWS_ACCESS_KEY_ID":     "testing",
		"AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_REGION":            "us-east-1",
		"AWS_DEFAULT_REGION":    "us-east-1",
	} {
		t.Setenv(k, v)
	}
	t.Logf("moto_server of this test at %s", url)
}

// quietWriter logs only the lines worth reading of a deploy of hundreds of
// resources: xflow's own and the CDK CLI's errors and stack results.
type quietWriter struct{ t *testing.T }

func (w quietWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.HasPrefix(line, "xflow:") || strings.Contains(line, "❌") || strings.Contains(line, "✅") ||
			strings.Contains(strings.ToLower(line), "error") || strings.Contains(line, "failed") {
			w.t.Log(line)
		}
	}
	return len(p), nil
}
