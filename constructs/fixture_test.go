package constructs

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
)

// The seed's wordcount example: five functions in a chain, six events, one
// workflow over all of them.
var (
	wordcountEvents = []string{"FileUploaded", "FileDownloaded", "FileParsed", "FileFiltered", "FileAggregated", "FileSummarized"}
	wordcountSteps  = []struct{ lambda, handler string }{
		{"lambda_reader", "read"},
		{"lambda_parser", "parse"},
		{"lambda_filter", "filter_out_non_words"},
		{"lambda_aggregator", "aggregate"},
		{"lambda_summarizer", "summarize"},
	}
)

const (
	wordcountTracker  = "tracker_compute_word_count"
	wordcountTrackLog = "/xFlow/track/compute_word_count"
)

func subscriberMapping() spec.Mapping {
	return spec.Mapping{
		BatchSize:             100,
		StartingPosition:      spec.TrimHorizon,
		RetryAttempts:         3,
		MaxRecordAgeSeconds:   3600,
		BisectOnError:         true,
		ParallelizationFactor: 1,
		OnFailure:             spec.OnFailureQueue,
	}
}

func trackerMapping() spec.Mapping {
	return spec.Mapping{
		BatchSize:             500,
		StartingPosition:      spec.TrimHorizon,
		RetryAttempts:         100,
		MaxRecordAgeSeconds:   6 * 3600,
		BisectOnError:         true,
		ParallelizationFactor: 1,
		OnFailure:             spec.OnFailureQueue,
	}
}

// wordcountSpec is the spec the generator resolves from the seed's config,
// with the sources in src. src also holds files that must not end up in
// any function's package.
func wordcountSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	s := &spec.Spec{StackName: "wordcount"}
	for _, e := range wordcountEvents {
		s.Streams = append(s.Streams, spec.Stream{Event: e, Name: e, Shards: 1, RetentionHours: 24})
	}
	for i, st := range wordcountSteps {
		file := filepath.Join(src, st.lambda+".py")
		writeFile(t, file, "def "+st.handler+"(event, context):\n    return None\n")
		emit := wordcountEvents[i+1]
		s.Functions = append(s.Functions, spec.Function{
			Lambda:           st.lambda,
			Name:             st.lambda,
			Description:      "step " + st.lambda,
			Handler:          st.lambda + "." + st.handler,
			Runtime:          "python3.12",
			Architecture:     spec.ArchX86,
			MemoryMB:         128,
			TimeoutSeconds:   10,
			Environment:      map[string]string{"XFLOW_EMITS": emit, "XFLOW_STREAM_" + upper(emit): emit},
			Code:             spec.Code{Kind: spec.CodeFile, Path: file},
			LogRetentionDays: 14,
			Emits:            []string{emit},
			Subscriptions:    []spec.Subscription{{Event: wordcountEvents[i], Mapping: subscriberMapping()}},
		})
	}
	// Neighbours of the sources that a file package must leave out.
	writeFile(t, filepath.Join(src, ".env"), "SECRET=1\n")
	writeFile(t, filepath.Join(src, "README.md"), "notes\n")
	writeFile(t, filepath.Join(src, "lib", "helper.py"), "x = 1\n")
	s.Trackers = []spec.Tracker{{
		Workflow:         "compute_word_count",
		Name:             wordcountTracker,
		LogGroup:         wordcountTrackLog,
		LogRetentionDays: 7,
		Events:           wordcountEvents,
		MemoryMB:         128,
		TimeoutSeconds:   60,
		Mapping:          trackerMapping(),
	}}
	return s
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Values of the variants stack.
const (
	variantsPrefix = "dev_"
	subnetA        = "subnet-0a1b2c3d"
	subnetB        = "subnet-0e4f5a6b"
	securityGroup  = "sg-0c7d8e9f"
	failureQueue   = "arn:aws:sqs:eu-west-1:123456789012:ops-failures"
	failureTopic   = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"
	codeBucket     = "my-artifacts"
	codeKey        = "flows/from_s3.zip"
	codeVersion    = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
)

// variantsSpec covers what wordcount does not: a prefix, a VPC, every code
// kind, arm64, every on-failure kind, the optional mapping settings, a
// runtime the CDK has no constant for, and a pinned environment.
func variantsSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	dir := filepath.Join(src, "from_dir")
	writeFile(t, filepath.Join(dir, "index.js"), "exports.handler = async () => {};\n")
	writeFile(t, filepath.Join(dir, "lib", "util.js"), "module.exports = {};\n")
	zipPath := filepath.Join(src, "from_zip.zip")
	writeZip(t, zipPath, map[string]string{"com/example/Handler.class": "not really a class"})

	p := variantsPrefix
	m := subscriberMapping()
	dirMapping := m
	dirMapping.BatchWindowSeconds = 5
	dirMapping.ReportBatchItemFailures = true
	dirMapping.ParallelizationFactor = 2
	dirMapping.RetryAttempts = -1
	dirMapping.MaxRecordAgeSeconds = -1
	dirMapping.BisectOnError = false
	dirMapping.StartingPosition = spec.Latest
	dirMapping.OnFailure, dirMapping.OnFailureTarget = spec.OnFailureARN, failureQueue
	zipMapping := m
	zipMapping.OnFailure, zipMapping.OnFailureTarget = spec.OnFailureARN, failureTopic
	s3Mapping := m
	s3Mapping.OnFailure = spec.OnFailureNone

	return &spec.Spec{
		StackName: "variants",
		Prefix:    p,
		Region:    "eu-west-1",
		Account:   "123456789012",
		Streams: []spec.Stream{
			{Event: "In", Name: p + "In", Shards: 2, RetentionHours: 48},
			{Event: "Out", Name: p + "Out"}, // zero values: defaults
			{Event: "Audit", Name: p + "Audit", Shards: 1, RetentionHours: 24},
		},
		Functions: []spec.Function{
			{
				Lambda: "from_dir", Name: p + "from_dir", Handler: "index.handler", Runtime: "nodejs22.x",
				Architecture: spec.ArchARM, MemoryMB: 256, TimeoutSeconds: 30, LogRetentionDays: 30,
				Code:          spec.Code{Kind: spec.CodeDir, Path: dir},
				Emits:         []string{"Out"},
				Subscriptions: []spec.Subscription{{Event: "In", Mapping: dirMapping}},
			},
			{
				Lambda: "from_zip", Name: p + "from_zip", Handler: "com.example.Handler::handle", Runtime: "java21",
				Architecture: spec.ArchX86, MemoryMB: 512, TimeoutSeconds: 60, LogRetentionDays: 1,
				Code:          spec.Code{Kind: spec.CodeZip, Path: zipPath},
				Emits:         []string{"Audit", "In"},
				Subscriptions: []spec.Subscription{{Event: "Out", Mapping: zipMapping}},
			},
			{
				// No memory, timeout or architecture: the AWS defaults.
				Lambda: "from_s3", Name: p + "from_s3", Handler: "app.main", Runtime: "python3.14",
				LogRetentionDays: 3653,
				Code:             spec.Code{Kind: spec.CodeS3, Bucket: codeBucket, Key: codeKey, ObjectVersion: codeVersion},
				Subscriptions:    []spec.Subscription{{Event: "Audit", Mapping: s3Mapping}, {Event: "In", Mapping: m}},
			},
		},
		Trackers: []spec.Tracker{{
			Workflow: "audit_flow", Name: p + "tracker_audit_flow", LogGroup: "/xFlow/track/" + p + "audit_flow",
			LogRetentionDays: 30, Events: []string{"In", "Out", "Audit"},
			Mapping: trackerMapping(), // memory and timeout left to the constructs
		}},
		VPC: &spec.VPC{SubnetIDs: []string{subnetA, subnetB}, SecurityGroupIDs: []string{securityGroup}},
	}
}

const importedRole = "lambda-execute"

// importedSpec runs every function as an existing role, in a VPC.
func importedSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	file := filepath.Join(src, "pinger.py")
	writeFile(t, file, "def ping(event, context):\n    return None\n")
	return &spec.Spec{
		StackName: "imported",
		Streams:   []spec.Stream{{Event: "Ping", Name: "Ping", Shards: 1, RetentionHours: 24}},
		Functions: []spec.Function{{
			Lambda: "pinger", Name: "pinger", Handler: "pinger.ping", Runtime: "python3.13",
			Architecture: spec.ArchX86, MemoryMB: 128, TimeoutSeconds: 10, LogRetentionDays: 7,
			Code:          spec.Code{Kind: spec.CodeFile, Path: file},
			Emits:         []string{"Ping"},
			Subscriptions: []spec.Subscription{{Event: "Ping", Mapping: subscriberMapping()}},
		}},
		Trackers: []spec.Tracker{{
			Workflow: "ping_flow", Name: "tracker_ping_flow", LogGroup: "/xFlow/track/ping_flow",
			LogRetentionDays: 7, Events: []string{"Ping"}, MemoryMB: 128, TimeoutSeconds: 60, Mapping: trackerMapping(),
		}},
		VPC:      &spec.VPC{SubnetIDs: []string{subnetA}, SecurityGroupIDs: []string{securityGroup}},
		RoleName: importedRole,
	}
}

// Values of the monitored stacks.
const (
	alarmTopicName  = "monitored-alarms"
	existingTopic   = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"
	firehoseDest    = "arn:aws:firehose:us-east-1:123456789012:deliverystream/central-logs"
	lambdaDest      = "arn:aws:lambda:eu-west-1:123456789012:function:log-shipper"
	kinesisDest     = "arn:aws:kinesis:us-east-1:123456789012:stream/central-logs"
	monitoredPrefix = "ops_"
)

var alarmEmails = []string{"ops@example.com", "oncall@example.com"}

// monitoredSpec is a workflow with monitoring (a topic xflow creates, with
// e-mail subscriptions, and dashboards) and logging to Firehose. Its
// functions cover every alarm: pay uses its own failure queue, ship sends
// failures to a topic, audit discards them and is outside the workflow,
// and report subscribes to nothing.
func monitoredSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	m := subscriberMapping()
	toTopic := m
	toTopic.OnFailure, toTopic.OnFailureTarget = spec.OnFailureARN, failureTopic
	none := m
	none.OnFailure = spec.OnFailureNone
	fn := func(name string, emits []string, subs ...spec.Subscription) spec.Function {
		file := filepath.Join(src, "monitored", name+".py")
		writeFile(t, file, "def handle(event, context):\n    return None\n")
		return spec.Function{
			Lambda: name, Name: name, Handler: name + ".handle", Runtime: "python3.13", LogRetentionDays: 14,
			Code: spec.Code{Kind: spec.CodeFile, Path: file}, Emits: emits, Subscriptions: subs,
		}
	}
	return &spec.Spec{
		StackName: "monitored",
		Streams: []spec.Stream{
			{Event: "Ordered", Name: "Ordered"}, {Event: "Paid", Name: "Paid"},
			{Event: "Shipped", Name: "Shipped"}, {Event: "Audited", Name: "Audited"},
		},
		Functions: []spec.Function{
			fn("pay", []string{"Paid"}, spec.Subscription{Event: "Ordered", Mapping: m}),
			fn("ship", []string{"Shipped"}, spec.Subscription{Event: "Paid", Mapping: toTopic}),
			fn("audit", nil, spec.Subscription{Event: "Audited", Mapping: none}),
			fn("report", []string{"Audited"}),
		},
		Trackers: []spec.Tracker{{
			Workflow: "order_flow", Name: "tracker_order_flow", LogGroup: "/xFlow/track/order_flow", LogRetentionDays: 7,
			Events: []string{"Ordered", "Paid", "Shipped"}, Mapping: trackerMapping(),
		}},
		Monitoring: &spec.Monitoring{
			TopicName: alarmTopicName, Emails: alarmEmails, Dashboards: true,
			PeriodSeconds: 300, EvaluationPeriods: 2, ErrorThreshold: 3, IteratorAgeSeconds: 600,
			TreatMissingData: "notBreaching",
		},
		Logging: &spec.Logging{DestinationARN: firehoseDest, FilterPattern: "?ERROR ?WARN"},
	}
}

// existingTopicSpec alarms an existing topic, without dashboards, and
// ships logs to a Lambda function, with a prefix and a pinned region.
func existingTopicSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	file := filepath.Join(src, "existing", "work.py")
	writeFile(t, file, "def handle(event, context):\n    return None\n")
	p := monitoredPrefix
	return &spec.Spec{
		StackName: "monitored-existing",
		Prefix:    p,
		Region:    "eu-west-1",
		Account:   "123456789012",
		Streams:   []spec.Stream{{Event: "Job", Name: p + "Job"}},
		Functions: []spec.Function{{
			Lambda: "work", Name: p + "work", Handler: "work.handle", Runtime: "python3.13", LogRetentionDays: 14,
			Code:          spec.Code{Kind: spec.CodeFile, Path: file},
			Subscriptions: []spec.Subscription{{Event: "Job", Mapping: subscriberMapping()}},
		}},
		Trackers: []spec.Tracker{{
			Workflow: "job_flow", Name: p + "tracker_job_flow", LogGroup: "/xFlow/track/" + p + "job_flow", LogRetentionDays: 7,
			Events: []string{"Job"}, Mapping: trackerMapping(),
		}},
		Monitoring: &spec.Monitoring{
			TopicARN: existingTopic, PeriodSeconds: 60, EvaluationPeriods: 1, ErrorThreshold: 1, IteratorAgeSeconds: 300,
			TreatMissingData: "missing",
		},
		Logging: &spec.Logging{DestinationARN: lambdaDest},
	}
}

// recoverySpec is what recovery needs: pack is traced and sends failures
// to its queue, audit is not traced and sends failures of both its
// subscriptions to the stack's failure bucket, and the tracker is traced.
func recoverySpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	fn := func(name string, tracing bool, emits []string, subs ...spec.Subscription) spec.Function {
		file := filepath.Join(src, "recovery", name+".py")
		writeFile(t, file, "def handle(event, context):\n    return None\n")
		return spec.Function{
			Lambda: name, Name: name, Handler: name + ".handle", Runtime: "python3.13", LogRetentionDays: 14,
			Code: spec.Code{Kind: spec.CodeFile, Path: file}, Emits: emits, Subscriptions: subs, Tracing: tracing,
		}
	}
	toBucket := subscriberMapping()
	toBucket.OnFailure = spec.OnFailureBucket
	return &spec.Spec{
		StackName: "recovery",
		Streams:   []spec.Stream{{Event: "Ordered", Name: "Ordered"}, {Event: "Packed", Name: "Packed"}},
		Functions: []spec.Function{
			fn("pack", true, []string{"Packed"}, spec.Subscription{Event: "Ordered", Mapping: subscriberMapping()}),
			fn("audit", false, nil, spec.Subscription{Event: "Ordered", Mapping: toBucket}, spec.Subscription{Event: "Packed", Mapping: toBucket}),
		},
		Trackers: []spec.Tracker{{
			Workflow: "shipping", Name: "tracker_shipping", LogGroup: "/xFlow/track/shipping", LogRetentionDays: 7,
			Events: []string{"Ordered", "Packed"}, Mapping: trackerMapping(), Tracing: true,
		}},
	}
}

// synthesized is one stack of the shared app.
type synthesized struct {
	spec     *spec.Spec
	stack    awscdk.Stack
	template assertions.Template
	raw      map[string]any // the template as written to the cloud assembly
	path     string         // of the template file
}

var shared struct {
	once    sync.Once
	dir     string // temporary folder of sources, tracker asset and cloud assembly
	outdir  string
	stacks  map[string]*synthesized
	elapsed time.Duration
	err     error
}

// sharedSynth synthesizes the wordcount, variants, imported, monitored,
// monitored-existing, recovery, producer and consumer stacks in one app, once for the whole package: a synth costs
// seconds of jsii.
func sharedSynth(t *testing.T) map[string]*synthesized {
	t.Helper()
	requireCDK(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "xflow-constructs-test-")
		if shared.err != nil {
			return
		}
		src := filepath.Join(shared.dir, "src")
		shared.outdir = filepath.Join(shared.dir, "cdk.out")
		specs := []*spec.Spec{wordcountSpec(t, src), variantsSpec(t, src), importedSpec(t, src),
			monitoredSpec(t, src), existingTopicSpec(t, src), recoverySpec(t, src)}
		asset := fakeTrackerAsset(t, filepath.Join(shared.dir, "tracker"))

		start := time.Now()
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(shared.outdir)})
		shared.stacks = map[string]*synthesized{}
		for _, s := range specs {
			stacks, err := NewWorkflowApp(app, s, AppOptions{
				TrackerAssetDir:      asset,
				BootstrapVersionRule: s.StackName == "wordcount", // the others as for moto
			})
			if err != nil {
				shared.err = err
				return
			}
			if len(stacks) != 1 {
				shared.err = fmt.Errorf("NewWorkflowApp(%s) returned %d stacks, want 1", s.StackName, len(stacks))
				return
			}
			shared.stacks[s.StackName] = &synthesized{spec: s, stack: stacks[0]}
		}
		if shared.err = crossStack(app, src); shared.err != nil {
			return
		}
		app.Synth(nil)
		shared.elapsed = time.Since(start)
		for _, st := range shared.stacks {
			st.template = assertions.Template_FromStack(st.stack, nil)
			st.path = filepath.Join(shared.outdir, *st.stack.TemplateFile())
			b, err := os.ReadFile(st.path)
			if err != nil {
				shared.err = err
				return
			}
			if err := json.Unmarshal(b, &st.raw); err != nil {
				shared.err = err
				return
			}
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.stacks
}

// crossStack adds a "producer" stack holding a stream and a "consumer"
// stack whose step reads and writes it, as stack splitting will.
func crossStack(app awscdk.App, src string) error {
	synth := func() awscdk.IStackSynthesizer {
		return awscdk.NewDefaultStackSynthesizer(&awscdk.DefaultStackSynthesizerProps{GenerateBootstrapVersionRule: jsii.Bool(false)})
	}
	producer := awscdk.NewStack(app, jsii.String("producer"), &awscdk.StackProps{Synthesizer: synth()})
	consumer := awscdk.NewStack(app, jsii.String("consumer"), &awscdk.StackProps{Synthesizer: synth()})
	es, err := NewEventStream(producer, "Stream-Shared", &EventStreamProps{Stream: &spec.Stream{Event: "Shared", Name: "Shared"}})
	if err != nil {
		return err
	}
	file := filepath.Join(src, "echo.py")
	if err := os.WriteFile(file, []byte("def echo(e, c): pass\n"), 0o644); err != nil {
		return err
	}
	_, err = NewStep(consumer, "Step-echo", &StepProps{
		Function: &spec.Function{
			Lambda: "echo", Name: "echo", Handler: "echo.echo", Runtime: "python3.12", LogRetentionDays: 7,
			Code:          spec.Code{Kind: spec.CodeFile, Path: file},
			Emits:         []string{"Shared"},
			Subscriptions: []spec.Subscription{{Event: "Shared", Mapping: subscriberMapping()}},
		},
		Streams: map[string]awskinesis.IStream{"Shared": es.Stream()},
	})
	if err != nil {
		return err
	}
	shared.stacks["producer"] = &synthesized{stack: producer}
	shared.stacks["consumer"] = &synthesized{stack: consumer}
	return nil
}

func cleanupShared() {
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// fakeTrackerAsset stands in for BuildTracker's result: the constructs
// only package the folder.
func fakeTrackerAsset(t testing.TB, dir string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, TrackerBinary), "#!/bin/sh\nexit 0\n")
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeZip(t testing.TB, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := zip.NewWriter(f)
	for name, content := range files {
		fw, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
