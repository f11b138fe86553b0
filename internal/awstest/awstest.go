// Package awstest connects tests to the AWS-compatible endpoint that
// .ci/run provides (moto_server on loopback). Tests that need it call
// Config, which skips the test with a visible message when no endpoint is
// configured, so `go test ./...` stays green on a laptop without moto while
// CI always runs them.
package awstest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Endpoint returns the configured AWS endpoint, or skips the test.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv("AWS_ENDPOINT_URL")
	if ep == "" {
		msg := "SKIP: AWS_ENDPOINT_URL is not set; this test needs moto_server (bash .ci/run starts one)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + ", and CI is set: .ci/run must provide it")
		}
		t.Skip(msg)
	}
	if !strings.Contains(ep, "localhost") && !strings.Contains(ep, "127.0.0.1") {
		t.Fatalf("AWS_ENDPOINT_URL=%s is not on loopback; tests only run against a local emulator", ep)
	}
	return ep
}

// Config returns an SDK config for the emulator: dummy credentials when none
// are set, region us-east-1 unless AWS_REGION says otherwise.
func Config(t testing.TB) aws.Config {
	t.Helper()
	Endpoint(t)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":     "testing",
		"AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_REGION":            "us-east-1",
	} {
		if os.Getenv(k) == "" {
			t.Setenv(k, v)
		}
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

var seq atomic.Int64

// Unique returns a name unique to this test run, so tests sharing one
// emulator never see each other's resources.
func Unique(base string) string {
	return fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano()%1e9, seq.Add(1))
}
