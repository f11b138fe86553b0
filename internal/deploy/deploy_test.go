package deploy

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/exampletest"
	"github.com/xflowhq/xflow/internal/generator"
	"github.com/xflowhq/xflow/internal/names"
)

// TestDeployOnMoto deploys the wordcount example with the real CDK CLI
// against moto, checks through the AWS APIs that what the template says
// exists, deploys again with no change (from the synth cache), then adds a
// lambda and deploys again.
func TestDeployOnMoto(t *testing.T) {
	awsCfg := awstest.Config(t)
	if testing.Short() {
		t.Skip("builds and deploys the CDK app")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	prefix := strings.ReplaceAll(awstest.Unique("d"), "-", "_") + "_"
	dir := exampletest.Copy(t, prefix)
	c := loadConfig(t, filepath.Join(dir, "xflow.yaml"))

	id, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	progress := &lockedBuffer{}
	opts := Options{Direct: true, Version: "test", Out: testWriter{t}, Err: io.MultiWriter(testWriter{t}, progress)}
	opts.Context = generator.DefaultContext()
	opts.Context[spec.ContextBootstrapVersionRule] = false
	if err := Bootstrap(ctx, aws.ToString(id.Account), awsCfg.Region, opts); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, c, opts); err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	checkDeployed(t, ctx, awsCfg, c)
	if strings.Contains(progress.String(), "unchanged since the last synth") {
		t.Errorf("the first deploy reused an assembly")
	}

	progress.Reset()
	if err := Run(ctx, c, opts); err != nil {
		t.Fatalf("second deploy with no change: %v", err)
	}
	checkDeployed(t, ctx, awsCfg, c)
	if !strings.Contains(progress.String(), "unchanged since the last synth") {
		t.Errorf("the second deploy, with no change, did not reuse the assembly")
	}

	// Add a lambda listening on FileSummarized.
	f, err := os.OpenFile(filepath.Join(dir, "xflow.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "xflow.yaml"))
	added := strings.Replace(string(data), "  - event: FileSummarized\n    subscribers:\n",
		"  - event: FileSummarized\n    subscribers:\n      - lambda_archiver\n", 1)
	added = strings.Replace(added, "lambdas:\n", `lambdas:
  - name: lambda_archiver
    description: Archives the summary.
    source: lambda_summarizer
    handler: lambda_summarizer.summarize
    runtime: python3.13
    timeout: 7
    environment:
      ARCHIVE: "yes"
`, 1)
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "xflow.yaml"), []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	c2 := loadConfig(t, filepath.Join(dir, "xflow.yaml"))
	progress.Reset()
	if err := Run(ctx, c2, opts); err != nil {
		t.Fatalf("deploy after adding a lambda: %v", err)
	}
	checkDeployed(t, ctx, awsCfg, c2)
	if strings.Contains(progress.String(), "unchanged since the last synth") {
		t.Errorf("the deploy after a config change reused the old assembly")
	}
}

// checkDeployed asserts through the AWS APIs that every stream, function,
// mapping and log group of c exists as synthesized.
func checkDeployed(t *testing.T, ctx context.Context, awsCfg aws.Config, c *config.Config) {
	t.Helper()
	scheme := names.New(c.General.NamePrefix)
	kc := kinesis.NewFromConfig(awsCfg)
	lc := lambda.NewFromConfig(awsCfg)
	logs := cloudwatchlogs.NewFromConfig(awsCfg)

	streamARN := map[string]string{}
	for _, s := range c.Subscriptions {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(scheme.Stream(s.Event))})
		if err != nil {
			t.Errorf("stream %s: %v", scheme.Stream(s.Event), err)
			continue
		}
		d := out.StreamDescriptionSummary
		streamARN[aws.ToString(d.StreamARN)] = s.Event
		if got := aws.ToInt32(d.OpenShardCount); int(got) != s.Shards {
			t.Errorf("stream %s: %d shards, want %d", s.Event, got, s.Shards)
		}
		if got := aws.ToInt32(d.RetentionPeriodHours); int(got) != s.RetentionHours {
			t.Errorf("stream %s: retention %d h, want %d", s.Event, got, s.RetentionHours)
		}
	}

	for _, l := range c.Lambdas {
		name := scheme.Function(l.Name)
		fn, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Errorf("function %s: %v", name, err)
			continue
		}
		conf := fn.Configuration
		if aws.ToString(conf.Handler) != l.Handler || string(conf.Runtime) != l.Runtime || int(aws.ToInt32(conf.Timeout)) != l.Timeout || int(aws.ToInt32(conf.MemorySize)) != l.Memory {
			t.Errorf("function %s: handler %s runtime %s timeout %d memory %d; want %s %s %d %d", name,
				aws.ToString(conf.Handler), conf.Runtime, aws.ToInt32(conf.Timeout), aws.ToInt32(conf.MemorySize), l.Handler, l.Runtime, l.Timeout, l.Memory)
		}
		env := map[string]string{}
		if conf.Environment != nil {
			env = conf.Environment.Variables
		}
		for k, v := range l.Environment {
			if env[k] != v {
				t.Errorf("function %s: env %s=%q, want %q", name, k, env[k], v)
			}
		}
		for _, e := range c.EmitsOf(l.Name) {
			if env[names.StreamEnvVar(e)] != scheme.Stream(e) {
				t.Errorf("function %s: env %s=%q, want %q", name, names.StreamEnvVar(e), env[names.StreamEnvVar(e)], scheme.Stream(e))
			}
		}
		checkLogGroup(t, ctx, logs, names.FunctionLogGroup(name), l.LogRetentionDays)

		maps, err := lc.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Errorf("mappings of %s: %v", name, err)
			continue
		}
		var got []string
		for _, m := range maps.EventSourceMappings {
			got = append(got, streamARN[aws.ToString(m.EventSourceArn)])
			if m.MaximumRetryAttempts == nil || m.MaximumRecordAgeInSeconds == nil || m.BisectBatchOnFunctionError == nil {
				t.Errorf("mapping %s → %s lacks retry settings", aws.ToString(m.EventSourceArn), name)
			}
		}
		var want []string
		for _, s := range c.Subscriptions {
			if slices.Contains(c.SubscribersOf(s.Event), l.Name) {
				want = append(want, s.Event)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("function %s subscribes to %v, want %v", name, got, want)
		}
	}

	for _, w := range c.Workflows {
		name := scheme.Tracker(w.ID)
		fn, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Errorf("tracker %s: %v", name, err)
			continue
		}
		if string(fn.Configuration.Runtime) != "provided.al2023" {
			t.Errorf("tracker runtime %s", fn.Configuration.Runtime)
		}
		maps, err := lc.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(name)})
		if err != nil || len(maps.EventSourceMappings) != len(w.Flow) {
			t.Errorf("tracker %s: %d mappings (%v), want %d", name, len(maps.EventSourceMappings), err, len(w.Flow))
		}
		checkLogGroup(t, ctx, logs, scheme.TrackerLogGroup(w.ID), c.General.TrackRetention)
	}
}

func checkLogGroup(t *testing.T, ctx context.Context, logs *cloudwatchlogs.Client, name string, days int) {
	t.Helper()
	out, err := logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		t.Errorf("log group %s: %v", name, err)
		return
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == name {
			if int(aws.ToInt32(g.RetentionInDays)) != days {
				t.Errorf("log group %s: retention %d days, want %d", name, aws.ToInt32(g.RetentionInDays), days)
			}
			return
		}
	}
	t.Errorf("log group %s does not exist", name)
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testWriter sends the CDK CLI's output to the test log.
// lockedBuffer collects what several goroutines write (the CDK CLI's
// output is copied by exec's goroutines).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The config's account and region are bootstrapped as they are, without
// asking AWS: no credentials or endpoint are needed.
func TestEnvironmentFromConfig(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // nothing answers there
	c := &config.Config{File: "xflow.yaml"}
	c.AWS.Account, c.AWS.Region = "123456789012", "eu-west-1"
	account, region, err := Environment(context.Background(), c)
	if err != nil || account != "123456789012" || region != "eu-west-1" {
		t.Errorf("Environment = %q, %q, %v; want the config's", account, region, err)
	}
}
