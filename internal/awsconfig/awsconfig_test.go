package awsconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
)

// isolate clears every variable the SDK reads and points the shared files
// at a temporary folder, so the machine's own AWS setup cannot leak in.
func isolate(t *testing.T, profileFile string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte(profileFile), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             cfgFile,
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

func TestLoadRegion(t *testing.T) {
	const profiles = "[default]\nregion = ap-south-1\n[profile other]\nregion = sa-east-1\n"
	for _, tc := range []struct {
		name       string
		configured string // aws.region after config.Load, $REGION applied
		env        map[string]string
		profiles   string
		want       string
	}{
		{"config wins over AWS_REGION", "eu-west-1", map[string]string{"AWS_REGION": "us-west-2"}, profiles, "eu-west-1"},
		{"AWS_REGION without a config region", "", map[string]string{"AWS_REGION": "us-west-2"}, profiles, "us-west-2"},
		{"default profile", "", nil, profiles, "ap-south-1"},
		{"AWS_PROFILE", "", map[string]string{"AWS_PROFILE": "other"}, profiles, "sa-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t, tc.profiles)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := &config.Config{File: "xflow.yaml", AWS: config.AWS{Region: tc.configured}}
			cfg, err := Load(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.want {
				t.Errorf("region = %q, want %q", cfg.Region, tc.want)
			}
		})
	}
}

func TestLoadNoRegion(t *testing.T) {
	isolate(t, "")
	_, err := Load(context.Background(), &config.Config{File: "wf/xflow.yaml"})
	if !errors.Is(err, ErrNoRegion) {
		t.Fatalf("err = %v, want ErrNoRegion", err)
	}
	const want = "no AWS region: set aws.region in wf/xflow.yaml, or the environment variable REGION or AWS_REGION, or a region in your AWS profile"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
	if _, err := Load(context.Background(), nil); !errors.Is(err, ErrNoRegion) {
		t.Errorf("nil config: err = %v, want ErrNoRegion", err)
	}
}

func TestLoadCredentialsAndRetries(t *testing.T) {
	isolate(t, "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
	cfg, err := Load(context.Background(), &config.Config{AWS: config.AWS{Region: "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" || creds.SessionToken != "session-token" {
		t.Errorf("credentials = %q / %q, want the environment's key and session token", creds.AccessKeyID, creds.SessionToken)
	}
	if n := cfg.Retryer().MaxAttempts(); n != MaxAttempts {
		t.Errorf("retryer max attempts = %d, want %d", n, MaxAttempts)
	}
}

// TestLoadHonoursEndpointURL reaches moto through AWS_ENDPOINT_URL alone:
// nothing in Load names an endpoint.
func TestLoadHonoursEndpointURL(t *testing.T) {
	ep := awstest.Endpoint(t)
	isolate(t, "")
	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	cfg, err := Load(context.Background(), &config.Config{AWS: config.AWS{Region: "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cfg.BaseEndpoint) != ep {
		t.Errorf("base endpoint = %q, want %q", aws.ToString(cfg.BaseEndpoint), ep)
	}
	name := awstest.Unique("awsconfig")
	client := kinesis.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream on %s: %v", ep, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	if _, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)}); err != nil {
		t.Errorf("the stream created through AWS_ENDPOINT_URL is not there: %v", err)
	}
}
