// Command trackerbench measures the tracker Lambda's handler against
// CloudWatch Logs on moto (bench/trackerbench) and prints a Markdown table:
//
//	go run ./bench/cmd/trackerbench
//
// It uses the emulator at AWS_ENDPOINT_URL (which must be on localhost), or
// starts a moto_server of its own on a free port when none is set.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/xflowhq/xflow/bench/trackerbench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trackerbench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o trackerbench.Options
	flag.IntVar(&o.Records, "records", 1000, "records per batch")
	flag.IntVar(&o.Executions, "executions", 10, "executions per batch")
	flag.IntVar(&o.Rounds, "rounds", 5, "batches per case (the median is shown)")
	flag.Parse()
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		stop, err := startMoto()
		if err != nil {
			return err
		}
		defer stop()
	}
	ep := os.Getenv("AWS_ENDPOINT_URL")
	if !strings.Contains(ep, "localhost") && !strings.Contains(ep, "127.0.0.1") {
		return fmt.Errorf("AWS_ENDPOINT_URL=%s is not on this machine; the benchmark only runs against an emulator", ep)
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	cases, err := trackerbench.Run(ctx, cloudwatchlogs.NewFromConfig(cfg), o)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("Tracker handler against CloudWatch Logs on moto (%s): batches of %d records across %d executions, median of %d batches; load average %s.\n\n",
		ep, o.Records, o.Executions, o.Rounds, strings.Join(strings.Fields(string(load))[:3], ", "))
	fmt.Println("| case | CreateLogStream / batch | PutLogEvents / batch | API calls / record | batch time | records / s |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, c := range cases {
		fmt.Printf("| %s | %d | %d | %.3f | %s | %.0f |\n", c.Name, c.CreateLogStream, c.PutLogEvents, c.CallsPerRecord, c.Batch.Round(time.Millisecond), c.RecordsPerSecond)
	}
	return nil
}

// startMoto starts moto_server on a free port of 127.0.0.1 and sets
// AWS_ENDPOINT_URL to it.
func startMoto() (stop func(), err error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("AWS_ENDPOINT_URL is not set and moto_server is not installed (pip install 'moto[server]')")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/moto-api/", port)); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("moto_server did not answer on port %d within 60 s", port)
		}
	}
	os.Setenv("AWS_ENDPOINT_URL", fmt.Sprintf("http://localhost:%d", port))
	return stop, nil
}
