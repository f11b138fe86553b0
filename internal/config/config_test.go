package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadWordcountExample(t *testing.T) {
	c, err := Parse("../../examples/wordcount/xflow.yaml", mustRead(t, "../../examples/wordcount/xflow.yaml"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Lambdas); got != 5 {
		t.Errorf("lambdas = %d, want 5", got)
	}
	r, _ := c.Lambda("lambda_reader")
	if r.Handler != "lambda_reader.read" {
		t.Errorf("handler = %q, want lambda_reader.read (the original's rule)", r.Handler)
	}
	if r.Timeout != 3 || r.Memory != spec.DefaultMemoryMB || r.Architecture != "x86_64" {
		t.Errorf("defaults not applied: timeout %d memory %d arch %s", r.Timeout, r.Memory, r.Architecture)
	}
	if r.Code.Kind != CodeDir || !filepath.IsAbs(r.Code.Path) {
		t.Errorf("code = %+v, want an absolute folder", r.Code)
	}
	if diff := cmp.Diff([]string{"FileDownloaded"}, c.EmitsOf("lambda_reader")); diff != "" {
		t.Errorf("emits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"lambda_summarizer"}, c.ProducersOf("FileSummarized")); diff != "" {
		t.Errorf("producers (-want +got):\n%s", diff)
	}
	if got := c.SubscribersOf("FileSummarized"); len(got) != 0 {
		t.Errorf("FileSummarized subscribers = %v, want none (null in YAML)", got)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %v", Errors(c.Warnings))
	}
}

// The original xFlow's README config: python2.7 is refused with the
// replacement named, one error per lambda, all at once.
func TestSeedConfigRetiredRuntime(t *testing.T) {
	_, err := Parse("testdata/seed.yaml", mustRead(t, "testdata/seed.yaml"), env(nil))
	es, ok := err.(Errors)
	if !ok || len(es) != 5 {
		t.Fatalf("want 5 errors, got %v", err)
	}
	want := "testdata/seed.yaml:13:14: lambdas[0].runtime: python2.7 is retired: AWS Lambda no longer creates or updates functions with it (use python3.13)"
	if es[0].Error() != want {
		t.Errorf("got  %s\nwant %s", es[0], want)
	}
}

func TestSeedConfigCurrentRuntime(t *testing.T) {
	data := strings.ReplaceAll(string(mustRead(t, "testdata/seed.yaml")), "python2.7", "python3.12")
	c, err := Parse("testdata/seed.yaml", []byte(data), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.LambdaExecutionRoleName != "lambda-execute" || c.General.LambdaTimeoutTime != 3 {
		t.Errorf("aws/general not read: %+v %+v", c.AWS, c.General)
	}
	if got := c.Workflows[0].Flow; len(got) != 6 {
		t.Errorf("flow = %v, want the 6 events without the stray item", got)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "empty list item ignored") {
		t.Errorf("warnings = %v, want the stray '-' item", Errors(c.Warnings))
	}
}

func TestEnvOverrides(t *testing.T) {
	path := "../../examples/wordcount/xflow.yaml"
	c, err := Parse(path, mustRead(t, path), env(map[string]string{
		"REGION": "eu-west-1", "LAMBDA_EXECUTION_ROLE_NAME": "shared-role", "LAMBDA_TIMEOUT_TIME": "42",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.Region != "eu-west-1" || c.AWS.LambdaExecutionRoleName != "shared-role" || c.Lambdas[0].Timeout != 42 {
		t.Errorf("overrides not applied: %+v timeout %d", c.AWS, c.Lambdas[0].Timeout)
	}
}

func TestDefaultTimeout(t *testing.T) {
	data := strings.Replace(string(mustRead(t, "../../examples/wordcount/xflow.yaml")), "lambda_timeout_time: 3", "", 1)
	c, err := Parse("../../examples/wordcount/xflow.yaml", []byte(data), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lambdas[0].Timeout != 10 {
		t.Errorf("timeout = %d, want the default 10", c.Lambdas[0].Timeout)
	}
}

func TestSettings(t *testing.T) {
	three, ten := 3, 10
	yes, no := true, false
	age := Duration(600)
	s := Subscription{Mapping: Mapping{BatchSize: &ten, BisectOnError: &no, MaxRecordAge: &age}}
	got := s.Settings(Subscriber{Lambda: "x", Mapping: Mapping{BatchSize: &three, BisectOnError: &yes, OnFailure: "none"}})
	want := Settings{BatchSize: 3, StartingPosition: "TRIM_HORIZON", RetryAttempts: spec.DefaultRetryAttempts, MaxRecordAge: 600,
		BisectOnError: true, ParallelizationFactor: 1, OnFailure: "none"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]Duration{"3600": 3600, "90s": 90, "15m": 900, "6h": 21600, "7d": 604800} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "1.5s", "100ms"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded, want an error", in)
		}
	}
}

// TestErrors is a golden test of every bad-config case in testdata/errors:
// the exact messages, with positions, all at once. A first line
// "# env: K=V ..." sets environment overrides.
func TestErrors(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.yaml")
	if len(files) < 15 {
		t.Fatalf("only %d error cases", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data := mustRead(t, f)
			vars := map[string]string{}
			if rest, ok := strings.CutPrefix(string(data), "# env: "); ok {
				line, _, _ := strings.Cut(rest, "\n")
				for _, kv := range strings.Fields(line) {
					k, v, _ := strings.Cut(kv, "=")
					vars[k] = v
				}
			}
			_, err := Parse(f, data, env(vars))
			if err == nil {
				t.Fatal("config loaded, want errors")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(string(mustRead(t, golden)), got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, f+":") {
					t.Errorf("error does not start with the file name: %s", line)
				}
			}
		})
	}
}

// TestObservabilitySections: absent sections stay nil; `monitoring:` alone
// turns monitoring on with every default; set values are kept.
func TestObservabilitySections(t *testing.T) {
	base := `
lambdas:
  - name: worker
    source: testdata/errors/handler.py
    handler: handle
    runtime: python3.12
subscriptions:
  - event: Started
    subscribers: [worker]
workflows:
  - id: start
    flow: [Started]
`
	c, err := Parse("x.yaml", []byte(base), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Monitoring != nil || c.Logging != nil {
		t.Errorf("absent sections: monitoring %+v, logging %+v, want nil", c.Monitoring, c.Logging)
	}

	c, err = Parse("x.yaml", []byte(base+"monitoring:\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	on := true
	want := &Monitoring{Dashboard: &on, Period: 300, EvaluationPeriods: 1, ErrorThreshold: 1, IteratorAgeThreshold: 300, TreatMissingData: "notBreaching"}
	if diff := cmp.Diff(want, c.Monitoring); diff != "" {
		t.Errorf("monitoring defaults (-want +got):\n%s", diff)
	}

	c, err = Parse("x.yaml", []byte(base+`monitoring:
  topic_arn: arn:aws:sns:eu-west-1:123456789012:alerts
  dashboard: false
  period: 1m
  evaluation_periods: 3
  error_threshold: 5
  iterator_age_threshold: 15m
  treat_missing_data: missing
logging:
  destination_arn: arn:aws:lambda:eu-west-1:123456789012:function:shipper:live
  filter_pattern: '{ $.level = "ERROR" }'
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	off := false
	want = &Monitoring{TopicARN: "arn:aws:sns:eu-west-1:123456789012:alerts", Dashboard: &off, Period: 60, EvaluationPeriods: 3,
		ErrorThreshold: 5, IteratorAgeThreshold: 900, TreatMissingData: "missing"}
	if diff := cmp.Diff(want, c.Monitoring); diff != "" {
		t.Errorf("monitoring (-want +got):\n%s", diff)
	}
	if l := c.Logging; l == nil || l.DestinationARN != "arn:aws:lambda:eu-west-1:123456789012:function:shipper:live" || l.FilterPattern != `{ $.level = "ERROR" }` {
		t.Errorf("logging = %+v", l)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings %v", Errors(c.Warnings))
	}
}

// A dashboard needs a workflow: without one, monitoring says so.
func TestMonitoringWithoutWorkflowWarns(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
lambdas:
  - name: worker
    source: testdata/errors/handler.py
    handler: handle
    runtime: python3.12
subscriptions:
  - event: Started
    subscribers: [worker]
monitoring:
  emails: [ops@example.com]
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Error(), "x.yaml:11:3: monitoring: the config has no workflow, so no dashboard is made") {
		t.Errorf("warnings = %v", Errors(c.Warnings))
	}
}

func TestWarningsDoNotFail(t *testing.T) {
	data := `
lambdas:
  - name: worker
    source: testdata/errors/handler.py
    handler: handle
    runtime: python3.11
  - name: idle
    source: testdata/errors/handler.py
    handler: handle
    runtime: python3.12
subscriptions:
  - event: Started
    subscribers: [worker]
`
	c, err := Parse("x.yaml", []byte(data), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range c.Warnings {
		msgs = append(msgs, w.Msg)
	}
	for _, want := range []string{"python3.11 is deprecated", `lambda "idle" subscribes to no event`} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, want) }) {
			t.Errorf("warnings %q lack %q", msgs, want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The original xFlow set a bare handler to <lambda name>.<handler>
// whatever the source; xflow keeps that for folders, packages and S3
// objects, and the module of the file for a single-file source.
func TestBareHandlerOfEverySourceKind(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"lambda_reader.py":        "def read(event, context):\n    pass\n",
		"pkg.zip":                 "PK",
		"folder/lambda_parser.py": "def parse(event, context):\n    pass\n",
		"bare/main.py":            "",
	} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := `lambdas:
  - name: lambda_reader
    source: lambda_reader.py
    handler: read
    runtime: python3.12
  - name: lambda_parser
    source: folder
    handler: parse
    runtime: python3.12
  - name: lambda_zip
    source: pkg.zip
    handler: run
    runtime: nodejs22.x
  - name: lambda_s3
    source: s3://xflow-code/flows/wordcount/lambda_s3.zip
    handler: go
    runtime: python3.12
  - name: dotted
    source: folder
    handler: lambda_parser.parse
    runtime: python3.12
  - name: no_module
    source: bare
    handler: handle
    runtime: python3.12
subscriptions:
  - event: Started
    subscribers: [lambda_reader, lambda_parser, lambda_zip, lambda_s3, dotted, no_module]
`
	c, err := Parse(filepath.Join(dir, "xflow.yaml"), []byte(yaml), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ lambda, handler, from string }{
		{"lambda_reader", "lambda_reader.read", HandlerFromFile},
		{"lambda_parser", "lambda_parser.parse", HandlerFromName},
		{"lambda_zip", "lambda_zip.run", HandlerFromName},
		{"lambda_s3", "lambda_s3.go", HandlerFromName},
		{"dotted", "lambda_parser.parse", HandlerAsWritten},
		{"no_module", "no_module.handle", HandlerFromName},
	}
	for _, tt := range tests {
		l, _ := c.Lambda(tt.lambda)
		if l.Handler != tt.handler || l.HandlerFrom != tt.from {
			t.Errorf("%s: handler %q from %q, want %q from %q", tt.lambda, l.Handler, l.HandlerFrom, tt.handler, tt.from)
		}
	}
	// A folder without the module the rule names loads, with a warning
	// that says what to add.
	var warned []string
	for _, w := range c.Warnings {
		warned = append(warned, w.Error())
	}
	want := `xflow.yaml:24:14: lambdas[5].handler: handler "handle" means no_module.handle (a bare handler of a folder names a function of the module named after the lambda), and bare has no module no_module (add no_module.py to the folder, or write module.function naming a file of it, such as main.handle)`
	if !slices.ContainsFunc(warned, func(w string) bool { return strings.HasSuffix(w, want) }) {
		t.Errorf("warnings %q lack\n%s", warned, want)
	}
}

// A link in a source folder that points outside it is refused, naming
// the link: packaging follows links, and would put a file of this
// machine into the function. Links within the folder are fine.
func TestSourceFolderLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		links map[string]string // link → target
		want  string            // "" for no error
	}{
		{name: "inside", links: map[string]string{"fn/alias.py": "main.py", "fn/lib/up.py": "../main.py", "fn/libdir": "lib"}},
		{name: "absolute out", links: map[string]string{"fn/leak.txt": "/etc/os-release"},
			want: "lambdas[0].source: fn/leak.txt is a link to /etc/os-release, outside the source folder fn: packaging it would put a file of this machine into the function (copy what it points to into fn, or remove the link)"},
		{name: "relative out, deep", links: map[string]string{"fn/lib/deep/secret.txt": "../../../secret.txt"},
			want: "fn/lib/deep/secret.txt is a link to ../../../secret.txt, outside the source folder fn"},
		{name: "broken, out", links: map[string]string{"fn/gone": "/nonexistent/xflow-test"},
			want: "fn/gone is a link to /nonexistent/xflow-test, outside the source folder fn"},
		{name: "folder link out", links: map[string]string{"fn/home": filepath.Dir(outside)},
			want: "fn/home is a link to " + filepath.Dir(outside) + ", outside the source folder fn"},
		{name: "several", links: map[string]string{"fn/a": outside, "fn/b": outside, "fn/c": "main.py"},
			want: "fn/a is a link to " + outside + ", outside the source folder fn, and 1 more link out of it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "fn", "lib", "deep"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "fn", "main.py"), []byte("def handle(e, c):\n    pass\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("beside the config\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for link, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			yaml := "lambdas:\n  - name: worker\n    source: fn\n    handler: main.handle\n    runtime: python3.12\nsubscriptions:\n  - event: Started\n    subscribers: [worker]\n"
			_, err := Parse(filepath.Join(dir, "xflow.yaml"), []byte(yaml), env(nil))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v\nwant it to hold %s", err, tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), filepath.Join(dir, "xflow.yaml")+":3:13: "):
				t.Errorf("err = %v, want it on the source's line", err)
			}
		})
	}
}

// Configs past the size limits are refused at once, naming the limit,
// before their lists are decoded.
func TestLimits(t *testing.T) {
	list := func(key, item string, n int) string {
		return key + ": [" + strings.Repeat(item+", ", n-1) + item + "]\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{name: "lambdas", yaml: list("lambdas", "{}", MaxLambdas+1),
			want: "x.yaml:1:1: lambdas: 5001 lambdas, more than the 5000 a config may have (split it into several configs"},
		{name: "events", yaml: "lambdas: []\n" + list("subscriptions", "{event: E}", MaxEvents+1),
			want: "x.yaml:2:1: subscriptions: 5001 events, more than the 5000 a config may have"},
		{name: "workflows", yaml: list("workflows", "{}", MaxWorkflows+1),
			want: "x.yaml:1:1: workflows: 5001 workflows, more than the 5000 a config may have"},
		{name: "bytes", yaml: "# " + strings.Repeat("x", MaxConfigBytes) + "\n",
			want: "x.yaml: the file is 4194307 bytes, more than the 4194304 (4 MiB) a config may have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse("x.yaml", []byte(tt.yaml), env(nil))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %.300v\nwant it to start with %s", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusing took %s", d)
			}
		})
	}
	// At the limit, a config loads.
	var b strings.Builder
	b.WriteString("lambdas:\n")
	for i := range MaxLambdas {
		fmt.Fprintf(&b, "  - {name: f%d, source: testdata/errors/handler.py, handler: handle, runtime: python3.12}\n", i)
	}
	b.WriteString("subscriptions:\n  - event: Started\n    subscribers: [f0]\n")
	c, err := Parse("x.yaml", []byte(b.String()), env(nil))
	if err != nil || len(c.Lambdas) != MaxLambdas {
		t.Errorf("a config of %d lambdas: %.300v", MaxLambdas, err)
	}
}

// Load refuses a file larger than the limit without reading it.
func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xflow.yaml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 50<<20); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ": the file is 52428800 bytes, more than the 4194304 (4 MiB) a config may have"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want %s", err, want)
	}
}
