package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// valid returns a small spec that validates, with its source in dir.
func valid(t *testing.T) *Spec {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "reader.py")
	if err := os.WriteFile(src, []byte("def read(e, c): pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "code.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := Mapping{BatchSize: 100, StartingPosition: TrimHorizon, RetryAttempts: 3, MaxRecordAgeSeconds: 3600, BisectOnError: true, OnFailure: OnFailureQueue}
	return &Spec{
		StackName: "xflow",
		Streams:   []Stream{{Event: "Uploaded", Name: "Uploaded"}, {Event: "Read", Name: "Read"}},
		Functions: []Function{{
			Lambda: "reader", Name: "reader", Handler: "reader.read", Runtime: "python3.12",
			LogRetentionDays: 14, Code: Code{Kind: CodeFile, Path: src},
			Emits:         []string{"Read"},
			Subscriptions: []Subscription{{Event: "Uploaded", Mapping: m}},
		}},
		Trackers: []Tracker{{
			Workflow: "wf", Name: "tracker_wf", LogGroup: "/xFlow/track/wf", LogRetentionDays: 7,
			Events: []string{"Uploaded", "Read"}, Mapping: m,
		}},
	}
}

func TestValidate(t *testing.T) {
	if err := valid(t).Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	cases := []struct {
		name   string
		break_ func(s *Spec)
		want   []string // substrings of the error, one per reported problem
	}{
		{"stack name", func(s *Spec) { s.StackName = "1-xflow" }, []string{"stack_name"}},
		{"no streams", func(s *Spec) { s.Streams = nil; s.Functions = nil; s.Trackers = nil }, []string{"streams: is empty"}},
		{"duplicate event", func(s *Spec) { s.Streams[1].Event = "Uploaded" }, []string{
			`streams[1] (Uploaded).event: "Uploaded" is defined twice`,
			`functions[0] (reader).emits[0]: event "Read" has no stream`,
			`trackers[0] (wf).events[1]: event "Read" has no stream`,
		}},
		{"bad stream name", func(s *Spec) { s.Streams[0].Name = "a b" }, []string{"streams[0] (Uploaded).name"}},
		{"retention hours", func(s *Spec) { s.Streams[0].RetentionHours = 12 }, []string{"retention_hours: 12 is out of range 24..8760"}},
		{"undefined subscription", func(s *Spec) { s.Functions[0].Subscriptions[0].Event = "Nope" }, []string{`subscriptions[0] (Nope).event: event "Nope" has no stream`}},
		{"undefined emit", func(s *Spec) { s.Functions[0].Emits = []string{"Nope"} }, []string{`emits[0]: event "Nope" has no stream`}},
		{"mapping values", func(s *Spec) {
			m := &s.Functions[0].Subscriptions[0].Mapping
			m.BatchSize, m.StartingPosition, m.MaxRecordAgeSeconds, m.RetryAttempts = 0, "AT_TIMESTAMP", 10, -2
		}, []string{"batch_size: 0", `starting_position: "AT_TIMESTAMP"`, "max_record_age_seconds: 10", "retry_attempts: -2"}},
		{"log retention", func(s *Spec) { s.Functions[0].LogRetentionDays = 8 }, []string{"functions[0] (reader).log_retention_days: 8 is not a retention"}},
		{"memory and timeout", func(s *Spec) { s.Functions[0].MemoryMB, s.Functions[0].TimeoutSeconds = 64, 901 }, []string{"memory_mb: 64", "timeout_seconds: 901"}},
		{"architecture", func(s *Spec) { s.Functions[0].Architecture = "aarch64" }, []string{`architecture: "aarch64" is not x86_64 or arm64`}},
		{"missing source", func(s *Spec) { s.Functions[0].Code.Path += ".missing" }, []string{"code.path", "no such file"}},
		{"folder is not a file", func(s *Spec) { s.Functions[0].Code.Path = filepath.Dir(s.Functions[0].Code.Path) }, []string{"is not a file"}},
		{"zip is not a zip", func(s *Spec) {
			s.Functions[0].Code = Code{Kind: CodeZip, Path: filepath.Join(filepath.Dir(s.Functions[0].Code.Path), "code.txt")}
		}, []string{"is not a .zip or .jar package"}},
		{"s3 without key", func(s *Spec) { s.Functions[0].Code = Code{Kind: CodeS3, Bucket: "b"} }, []string{"code.key: is empty"}},
		{"code kind", func(s *Spec) { s.Functions[0].Code.Kind = "git" }, []string{`code.kind: "git" is not one of`}},
		{"on-failure lambda arn", func(s *Spec) {
			m := &s.Functions[0].Subscriptions[0].Mapping
			m.OnFailure, m.OnFailureTarget = OnFailureARN, "arn:aws:lambda:eu-west-1:123456789012:function:f"
		}, []string{"is a lambda ARN"}},
		{"on-failure kind", func(s *Spec) { s.Functions[0].Subscriptions[0].OnFailure = "dlq" }, []string{`on_failure: "dlq"`}},
		{"duplicate function", func(s *Spec) { s.Trackers[0].Name = "reader" }, []string{`trackers[0] (wf).name: function "reader" is defined twice`}},
		{"tracker events", func(s *Spec) { s.Trackers[0].Events = []string{"Read", "Read", "Nope"} }, []string{`events[1]: "Read" is listed twice`, `events[2]: event "Nope" has no stream`}},
		{"tracker log group", func(s *Spec) { s.Trackers[0].LogGroup = "/xFlow/track/a b" }, []string{"trackers[0] (wf).log_group"}},
		{"vpc without security group", func(s *Spec) { s.VPC = &VPC{SubnetIDs: []string{"subnet-1"}} }, []string{"vpc.security_group_ids: is empty"}},
		{"vpc ids", func(s *Spec) { s.VPC = &VPC{SubnetIDs: []string{"sg-1"}, SecurityGroupIDs: []string{"subnet-1"}} }, []string{"vpc.subnet_ids[0]", "vpc.security_group_ids[0]"}},
		{"monitoring values", func(s *Spec) {
			s.Monitoring = validMonitoring()
			m := s.Monitoring
			m.PeriodSeconds, m.EvaluationPeriods, m.ErrorThreshold, m.IteratorAgeSeconds, m.TreatMissingData = 45, 0, 0, 0, "ok"
		}, []string{"period_seconds: 45", "evaluation_periods: 0", "error_threshold: 0", "iterator_age_seconds: 0", `treat_missing_data: "ok"`}},
		{"monitoring look-back", func(s *Spec) {
			s.Monitoring = validMonitoring()
			s.Monitoring.PeriodSeconds, s.Monitoring.EvaluationPeriods = 3600, 25
		}, []string{"evaluation_periods: 25 periods of 3600 s"}},
		{"two topics", func(s *Spec) {
			s.Monitoring = validMonitoring()
			s.Monitoring.TopicARN = "arn:aws:sns:eu-west-1:123456789012:alerts"
		}, []string{"monitoring.topic_arn: is set with topic_name"}},
		{"no topic", func(s *Spec) { s.Monitoring = validMonitoring(); s.Monitoring.TopicName = "" }, []string{"monitoring.topic_name: is empty"}},
		{"topic arn and emails", func(s *Spec) {
			s.Monitoring = validMonitoring()
			s.Monitoring.TopicName, s.Monitoring.TopicARN = "", "arn:aws:sqs:eu-west-1:123456789012:q"
		}, []string{"monitoring.topic_arn", "monitoring.emails: are set with topic_arn"}},
		{"emails", func(s *Spec) {
			s.Monitoring = validMonitoring()
			s.Monitoring.Emails = []string{"ops", "a@b.c", "a@b.c"}
		}, []string{
			`emails[0]: "ops" is not an e-mail address`, `emails[2]: "a@b.c" is listed twice`,
		}},
		{"log destination", func(s *Spec) { s.Logging = &Logging{DestinationARN: "arn:aws:sqs:eu-west-1:123456789012:q"} }, []string{"logging.destination_arn"}},
		{"filter pattern", func(s *Spec) {
			s.Logging = &Logging{DestinationARN: "arn:aws:lambda:eu-west-1:123456789012:function:f", FilterPattern: strings.Repeat("x", 1025)}
		}, []string{"logging.filter_pattern: is 1025 characters long"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := valid(t)
			c.break_(s)
			err := s.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			// Every problem is reported, each on its own line.
			if got := len(strings.Split(err.Error(), "\n")); got != len(c.want) && c.name != "missing source" {
				t.Errorf("%d problems reported, want %d:\n%v", got, len(c.want), err)
			}
		})
	}
}

func validMonitoring() *Monitoring {
	return &Monitoring{
		TopicName: "xflow-alarms", Emails: []string{"ops@example.com"}, Dashboards: true,
		PeriodSeconds: 300, EvaluationPeriods: 1, ErrorThreshold: 1, IteratorAgeSeconds: 300, TreatMissingData: "notBreaching",
	}
}

func TestValidateObservability(t *testing.T) {
	s := valid(t)
	s.Monitoring = validMonitoring()
	s.Logging = &Logging{DestinationARN: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/logs"}
	if err := s.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	s.Monitoring.TopicName, s.Monitoring.TopicARN, s.Monitoring.Emails = "", "arn:aws:sns:eu-west-1:123456789012:alerts", nil
	s.Monitoring.PeriodSeconds = 10 // CloudWatch accepts it; the config refuses it for these metrics
	if err := s.Validate(); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
}

func TestLogDestinationKind(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:kinesis:eu-west-1:123456789012:stream/logs":               LogToKinesis,
		"arn:aws:firehose:eu-west-1:123456789012:deliverystream/logs":      LogToFirehose,
		"arn:aws:lambda:eu-west-1:123456789012:function:shipper":           LogToLambda,
		"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:s:live": LogToLambda,
		"arn:aws:kinesis:eu-west-1:123456789012:stream/":                   "",
		"arn:aws:logs:eu-west-1:123456789012:destination:central":          "",
		"arn:aws:s3:::logs":                          "",
		"kinesis:eu-west-1:123456789012:stream/logs": "",
	} {
		got, err := LogDestinationKind(arn)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("LogDestinationKind(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
}

func TestDestinationService(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sqs:eu-west-1:123456789012:q":       "sqs",
		"arn:aws-cn:sns:cn-north-1:123456789012:t":   "sns",
		"arn:aws:lambda:eu-west-1:123456789012:fn:f": "",
		"sqs:eu-west-1:123456789012:q":               "",
		"arn:aws:sqs:eu-west-1:123456789012:":        "",
	} {
		got, err := DestinationService(arn)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("DestinationService(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
}
