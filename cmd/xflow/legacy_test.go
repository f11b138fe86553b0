package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/internal/awstest"
	"github.com/xflowhq/xflow/internal/config"
	"github.com/xflowhq/xflow/internal/deploy"
	"github.com/xflowhq/xflow/internal/kinesistest"
	"github.com/xflowhq/xflow/internal/names"
	"github.com/xflowhq/xflow/internal/tracker"
)

// TestFromOriginal translates the original command lines, and leaves the
// new ones alone.
func TestFromOriginal(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range []string{"flow.conf", "validate"} {
		if err := os.WriteFile(f, []byte("lambdas: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir("folder.yaml.d", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  string
		steps string // new command lines, one per line; "" when not translated
		err   string
	}{
		{"wc.cfg -v", "validate -c wc.cfg", ""},
		{"wc.cfg --validate", "validate -c wc.cfg", ""},
		{"wc.yml", "validate -c wc.yml", ""},
		{"flow.conf -c", "deploy -c flow.conf", ""}, // an existing file, whatever its name
		{"WC.YAML --configure", "deploy -c WC.YAML", ""},
		{"wc.cfg -s", "server -c wc.cfg --deploy", ""},
		{"wc.cfg --server --log-level WARNING", "server -c wc.cfg --deploy --log-level warn", ""},
		{"wc.cfg -s --log=debug", "server -c wc.cfg --deploy --log-level debug", ""},
		{"wc.cfg -s --log-level NOISY", "server -c wc.cfg --deploy", ""}, // the original fell back to INFO
		{"wc.cfg -cs", "server -c wc.cfg --deploy", ""},
		{"wc.cfg -p FileUploaded {}", "publish -c wc.cfg FileUploaded {}", ""},
		{"wc.cfg --publish FileUploaded -", "publish -c wc.cfg FileUploaded -", ""},
		{"wc.cfg -t wf ex1", "track -c wc.cfg wf ex1 --json", ""},
		{"wc.cfg --track wf ex1", "track -c wc.cfg wf ex1 --json", ""},
		{"-t wf ex1 wc.cfg", "track -c wc.cfg wf ex1 --json", ""},
		{"wc.cfg -t wf ex1 -c -v -p E {}", "deploy -c wc.cfg\npublish -c wc.cfg E {}\ntrack -c wc.cfg wf ex1 --json", ""},
		{"wc.cfg -cp E {}", "deploy -c wc.cfg\npublish -c wc.cfg E {}", ""},
		{"wc.cfg -h", "--help", ""},
		{"wc.cfg -- -v", "", "unexpected arguments"},
		{"wc.cfg -s -t wf ex", "", "-s serves until it is stopped"},
		{"wc.cfg -p E", "", "-p takes STREAM and DATA"},
		{"wc.cfg -t wf -v", "", `-t takes WORKFLOW_ID and EXECUTION_ID, not "-v"`},
		{"wc.cfg --log-level", "", "--log-level takes LEVEL"},
		{"wc.cfg -x", "", "had no option -x"},
		{"wc.cfg --dry-run", "", "had no option --dry-run"},
		{"wc.cfg other.cfg", "", "unexpected arguments"},
		// Not the original's: left to the new command line.
		{"", "", ""},
		{"validate -c wc.cfg", "", ""}, // a file named validate exists
		{"help wc.cfg", "", ""},
		{"wc", "", ""},
		{"folder.yaml.d", "", ""}, // ends in .d: a folder is no config
		{"-v", "", ""},
		{"-c", "", ""},
		{"--version", "", ""},
		{"-p E {}", "", ""},
		{"-c wc.cfg validate", "", ""}, // the new validate, its flag first
		// Options first deploy only with the file first, as the original wrote it.
		{"-c wc.cfg", "", "to deploy, write xflow deploy -c wc.cfg"},
		{"-s wc.cfg", "", "-s (--server) deploy"},
		{"-t wf ex1 -c wc.cfg", "", "xflow takes them that way only after the config file"},
		{"-c wc.cfg -v", "", "(xflow wc.cfg -c -v)"},
	} {
		args := strings.Fields(tc.args)
		o, ok := fromOriginal(args)
		translated := tc.steps != "" || tc.err != ""
		if ok != translated {
			t.Errorf("%q: translated %v, want %v", tc.args, ok, translated)
			continue
		}
		if !ok {
			continue
		}
		if tc.err != "" {
			if o.err == nil || !strings.Contains(o.err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.args, o.err, tc.err)
			}
			continue
		}
		var lines []string
		for _, s := range o.steps {
			lines = append(lines, strings.Join(s, " "))
		}
		if o.err != nil || strings.Join(lines, "\n") != tc.steps {
			t.Errorf("%q: %v\n%s\nwant\n%s", tc.args, o.err, strings.Join(lines, "\n"), tc.steps)
		}
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"xflow", "publish", "-c", "my flow.cfg", "E", `{"execution_id": "it's"}`})
	want := `xflow publish -c 'my flow.cfg' E '{"execution_id": "it'\''s"}'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// onMoto is a workflow config under a unique prefix in a temporary folder,
// with the streams of its first two events and its tracking log group on
// moto.
type onMoto struct {
	file   string
	cfg    aws.Config
	scheme names.Scheme
	kin    *kinesis.Client
	logs   *cloudwatchlogs.Client
}

const motoYAML = `general:
  name_prefix: PREFIX
lambdas:
  - name: lambda_reader
    source: lambda_reader.py
    handler: read
    runtime: python3.12
subscriptions:
  - event: FileUploaded
    subscribers:
      - lambda_reader
  - event: FileDownloaded
    subscribers:
workflows:
  - id: compute_word_count
    flow: [FileUploaded, FileDownloaded]
`

func newOnMoto(t *testing.T, base string, createStreams bool) *onMoto {
	t.Helper()
	cfg := awstest.Config(t) // skips without AWS_ENDPOINT_URL
	prefix := awstest.Unique(base) + "-"
	dir := t.TempDir()
	m := &onMoto{file: filepath.Join(dir, "word_count.cfg"), cfg: cfg, scheme: names.New(prefix),
		kin: kinesis.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg)}
	if err := os.WriteFile(m.file, []byte(strings.Replace(motoYAML, "PREFIX", prefix, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lambda_reader.py"), []byte("def read(event, context):\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if createStreams {
		m.createStreams(t)
	}
	return m
}

func (m *onMoto) createStreams(t *testing.T) {
	t.Helper()
	kinesistest.CreateStreams(t, m.kin, m.scheme.Stream("FileUploaded"), m.scheme.Stream("FileDownloaded"))
	group := m.scheme.TrackerLogGroup("compute_word_count")
	if _, err := m.logs.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = m.logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
}

// partitionKeys are the execution ids of a stream's records.
func (m *onMoto) partitionKeys(t *testing.T, event string) []string {
	t.Helper()
	var out []string
	for _, r := range kinesistest.Read(t, m.kin, m.scheme.Stream(event)) {
		out = append(out, aws.ToString(r.PartitionKey))
	}
	return out
}

// TestOriginalPublishTrackOnMoto runs the original's -p/--publish and
// -t/--track on moto: the events land, and the report is JSON with the
// original's keys, as the original printed it.
func TestOriginalPublishTrackOnMoto(t *testing.T) {
	m := newOnMoto(t, "legacy", true)
	newForm := regexp.MustCompile(`^xflow: note: this is the original xFlow command line; its new form is: xflow (publish|track) -c \S+ `)

	code, out, errOut := xflow(t, "", m.file, "-p", "FileUploaded", `{"execution_id": "ex-legacy", "file": "a.txt"}`)
	if code != 0 || !strings.HasPrefix(out, "published FileUploaded for execution ex-legacy: stream "+m.scheme.Stream("FileUploaded")) || !newForm.MatchString(errOut) {
		t.Fatalf("-p: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = xflow(t, "", m.file, "--publish", "FileDownloaded", `{"execution_id": "ex-legacy"}`)
	if code != 0 || !strings.HasPrefix(out, "published FileDownloaded for execution ex-legacy") {
		t.Fatalf("--publish: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, ev := range []string{"FileUploaded", "FileDownloaded"} {
		if got := m.partitionKeys(t, ev); !cmp.Equal(got, []string{"ex-legacy"}) {
			t.Errorf("%s holds %q, want one record of ex-legacy", ev, got)
		}
	}

	// The tracker, as Lambda would run it, on the first stream only.
	h := &tracker.Handler{Logs: m.logs, LogGroup: m.scheme.TrackerLogGroup("compute_word_count"), Names: m.scheme, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	resp, err := h.Handle(context.Background(), kinesistest.Event(t, m.cfg.Region, kinesistest.Read(t, m.kin, m.scheme.Stream("FileUploaded"))))
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("tracker: %v %+v", err, resp.BatchItemFailures)
	}

	for _, flag := range []string{"-t", "--track"} {
		code, out, errOut = xflow(t, "", m.file, flag, "compute_word_count", "ex-legacy")
		if code != 0 || !newForm.MatchString(errOut) || !strings.Contains(errOut, " --json\n") {
			t.Fatalf("%s: exit %d\nstderr: %s", flag, code, errOut)
		}
		var rep struct {
			EventsDefined   map[string]string `json:"events_defined"`
			EventsReceived  []json.RawMessage `json:"events_received"`
			TrackingSummary struct {
				LastReceivedEvent string   `json:"last_received_event"`
				Subscribers       []string `json:"subscribers"`
				ExecutionPath     string   `json:"execution_path"`
			} `json:"tracking_summary"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%s does not print JSON: %v\n%s", flag, err, out)
		}
		if !cmp.Equal(rep.EventsDefined, map[string]string{"FileUploaded": "received", "FileDownloaded": "uknown_state"}) ||
			len(rep.EventsReceived) != 1 || rep.TrackingSummary.LastReceivedEvent != "FileUploaded" ||
			!cmp.Equal(rep.TrackingSummary.Subscribers, []string{"lambda_reader"}) ||
			rep.TrackingSummary.ExecutionPath != "FileUploaded ---> X - - -> FileDownloaded" {
			t.Errorf("%s: the original's report: %+v", flag, rep)
		}
	}
}

// syncBuffer is a bytes.Buffer that a running command and a test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningRe finds the server's address in its log, text or JSON.
var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"`)

// startXflow runs the CLI in the background and returns its stderr and
// exit status; url waits for the server's address.
func startXflow(t *testing.T, args ...string) (stderr *syncBuffer, exit chan int, url func() string) {
	t.Helper()
	stderr, exit = &syncBuffer{}, make(chan int, 1)
	go func() { exit <- run(args, strings.NewReader(""), io.Discard, stderr) }()
	url = func() string {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if m := listeningRe.FindStringSubmatch(stderr.String()); m != nil {
				return "http://" + m[1] + m[2]
			}
			select {
			case code := <-exit:
				t.Fatalf("xflow %s exited %d before listening:\n%s", strings.Join(args, " "), code, stderr)
			case <-time.After(20 * time.Millisecond):
			}
		}
		t.Fatalf("xflow %s is not listening after a minute:\n%s", strings.Join(args, " "), stderr)
		return ""
	}
	return stderr, exit, url
}

// sigterm sends SIGTERM to this process, where run's
// signal.NotifyContext receives it.
func sigterm() error { return syscall.Kill(os.Getpid(), syscall.SIGTERM) }

// stopXflow sends SIGTERM, which the running command's
// signal.NotifyContext receives, and returns its exit status.
func stopXflow(t *testing.T, exit chan int) int {
	t.Helper()
	if err := sigterm(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("xflow did not stop 30s after SIGTERM")
		return -1
	}
}

// TestOriginalServerOnMoto runs `xflow FILE --server`: it deploys the
// workflow (deploy.Run, replaced here: moto has no CDK bootstrap) and
// serves the API on $XFLOW_ADDR, since the original had no address flag.
func TestOriginalServerOnMoto(t *testing.T) {
	m := newOnMoto(t, "legacysrv", false)
	var deployed []string
	deployWorkflow = func(_ context.Context, c *config.Config, _ deploy.Options) error {
		deployed = append(deployed, c.File)
		m.createStreams(t) // what the deploy creates, as far as serving goes
		return nil
	}
	t.Cleanup(func() { deployWorkflow = deploy.Run })
	t.Setenv(envAddr, "127.0.0.1:0")
	t.Setenv(envToken, "")

	for _, flag := range []string{"--server", "-s"} {
		stderr, exit, url := startXflow(t, m.file, flag, "--log-level", "DEBUG")
		base := url()
		if !strings.HasPrefix(stderr.String(), "xflow: note: this is the original xFlow command line; its new form is: xflow server -c "+m.file+" --deploy --log-level debug\n") {
			t.Errorf("%s: no note of the new form:\n%s", flag, stderr)
		}
		body := `{"stream": "FileUploaded", "event": {"execution_id": "ex` + flag + `"}}`
		resp, err := httpPost(base+"/publish", body)
		if err != nil || resp.status != 200 || !strings.Contains(resp.body, `"execution_id":"ex`+flag+`"`) {
			t.Errorf("%s: publish: %v %+v", flag, err, resp)
		}
		if code := stopXflow(t, exit); code != 0 {
			t.Errorf("%s: exit %d after SIGTERM\n%s", flag, code, stderr)
		}
		if flag == "--server" {
			// Streams exist from now on; -s deploys again, on existing ones.
			deployWorkflow = func(_ context.Context, c *config.Config, _ deploy.Options) error {
				deployed = append(deployed, c.File)
				return nil
			}
		}
	}
	if !cmp.Equal(deployed, []string{m.file, m.file}) {
		t.Errorf("deployed %q, want the config twice", deployed)
	}
	if got := m.partitionKeys(t, "FileUploaded"); !cmp.Equal(got, []string{"ex--server", "ex-s"}) {
		t.Errorf("FileUploaded holds %q", got)
	}
}
