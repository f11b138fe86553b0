package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/deploy"
)

type httpAnswer struct {
	status int
	body   string
}

func httpDo(req *http.Request) (httpAnswer, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, string(b)}, err
}

func httpPost(url, body string) (httpAnswer, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return httpAnswer{}, err
	}
	return httpDo(req)
}

// TestServerStartupOnMoto: the server names the streams that do not
// exist and how to deploy them, and a failing --deploy stops it; both exit
// 1 without listening.
func TestServerStartupOnMoto(t *testing.T) {
	m := newOnMoto(t, "srvcli", false)
	code, _, errOut := xflow(t, "", "server", "-c", m.file, "--addr", "127.0.0.1:0")
	for _, want := range []string{
		"xflow: 2 of the 2 streams of " + m.file + " do not exist in us-east-1:\n",
		"  " + m.scheme.Stream("FileUploaded") + " (event FileUploaded)\n",
		"  " + m.scheme.Stream("FileDownloaded") + " (event FileDownloaded)\n",
		"deploy the workflow first: xflow deploy -c " + m.file,
		"or start the server with --deploy",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("missing streams: exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	if strings.Contains(errOut, "msg=listening") {
		t.Errorf("listened with streams missing:\n%s", errOut)
	}

	var deployed *config.Config
	deployWorkflow = func(_ context.Context, c *config.Config, opts deploy.Options) error {
		deployed = c
		if !opts.Direct || opts.Context[spec.ContextBootstrapVersionRule] != false {
			t.Errorf("deploy options %+v: want --direct and --no-bootstrap-rule passed on", opts)
		}
		return errors.New("cdk deploy: exit status 1")
	}
	t.Cleanup(func() { deployWorkflow = deploy.Run })
	code, _, errOut = xflow(t, "", "server", "-c", m.file, "--addr", "127.0.0.1:0", "--deploy", "--direct", "--no-bootstrap-rule")
	if code != 1 || !strings.HasSuffix(errOut, "xflow: deploy: cdk deploy: exit status 1\n") || deployed == nil || deployed.File != m.file {
		t.Errorf("failing deploy: exit %d, deployed %v\n%s", code, deployed != nil, errOut)
	}
}

// TestServerSIGTERMOnMoto serves on moto with a token, then sends SIGTERM
// while a publish is in flight (its body half sent): the server stops
// accepting, the publish completes with 200 and lands, and xflow exits 0.
func TestServerSIGTERMOnMoto(t *testing.T) {
	m := newOnMoto(t, "srvterm", true)
	const token = "tok-sigterm-test"
	t.Setenv(envToken, token)
	t.Setenv(envAddr, "")
	stderr, exit, url := startXflow(t, "server", "-c", m.file, "--addr", "127.0.0.1:0", "--log-format", "json")
	base := url()

	req, _ := http.NewRequest("GET", base+"/ping", nil)
	if a, err := httpDo(req); err != nil || a.status != 200 || a.body != `{"name":"xflow","version":"`+version+`"}`+"\n" {
		t.Errorf("ping: %v %+v", err, a)
	}
	if a, err := httpPost(base+"/publish", `{"stream": "FileUploaded", "event": {"execution_id": "ex-no-token"}}`); err != nil || a.status != 401 {
		t.Errorf("publish without the token: %v %+v", err, a)
	}

	// A publish whose body comes in two halves, SIGTERM between them.
	body := `{"stream": "FileUploaded", "event": {"execution_id": "ex-inflight"}}`
	pr, pw := io.Pipe()
	req, _ = http.NewRequest("POST", base+"/publish", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	answered := make(chan httpAnswer, 1)
	go func() {
		a, err := httpDo(req)
		if err != nil {
			t.Errorf("the publish in flight failed: %v", err)
		}
		answered <- a
	}()
	if _, err := pw.Write([]byte(body[:20])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server reads the headers

	if err := sigterm(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(base, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case code := <-exit:
		t.Fatalf("xflow exited %d with a request in flight\n%s", code, stderr)
	default:
	}

	if _, err := pw.Write([]byte(body[20:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	a := <-answered
	if a.status != 200 || !strings.Contains(a.body, `"execution_id":"ex-inflight"`) {
		t.Errorf("the publish in flight: %+v", a)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("xflow did not exit after its last request")
	}
	if got := m.partitionKeys(t, "FileUploaded"); !cmp.Equal(got, []string{"ex-inflight"}) {
		t.Errorf("FileUploaded holds %q, want the publish in flight only", got)
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"every stream exists"`, `"msg":"request","method":"POST","path":"/publish","status":200`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, token) || strings.Contains(logs, "ex-inflight") {
		t.Errorf("the log shows the token or the event:\n%s", logs)
	}
}
