package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xflowhq/xflow/internal/names"
)

// Validate reports every reason the spec cannot be built, all at once. Each
// message names the value by its path in the spec file and the name it
// belongs to: `spec: functions[2] (lambda_filter).memory_mb: ...`.
//
// A zero value that AWS does not accept (shards, retention hours, memory,
// timeout, parallelization factor) means "the default" and is valid.
func (s *Spec) Validate() error {
	if s == nil {
		return errors.New("spec: is nil")
	}
	v := &validator{}
	if err := names.CheckStackName(s.StackName); err != nil {
		v.add("stack_name", err)
	}

	events := map[string]bool{}
	streamNames := map[string]bool{}
	if len(s.Streams) == 0 {
		v.addf("streams", "is empty: a workflow config needs at least one event")
	}
	for i, st := range s.Streams {
		at := fmt.Sprintf("streams[%d] (%s)", i, st.Event)
		if st.Event == "" {
			v.addf(at+".event", "is empty")
		} else if events[st.Event] {
			v.addf(at+".event", "%q is defined twice", st.Event)
		}
		events[st.Event] = true
		if err := names.CheckStream(st.Name); err != nil {
			v.add(at+".name", err)
		} else if streamNames[st.Name] {
			v.addf(at+".name", "stream %q is defined twice", st.Name)
		}
		streamNames[st.Name] = true
		if st.Shards < 0 {
			v.addf(at+".shards", "%d is negative", st.Shards)
		}
		if h := st.RetentionHours; h != 0 && (h < MinRetentionHours || h > MaxRetentionHours) {
			v.addf(at+".retention_hours", "%d is out of range %d..%d", h, MinRetentionHours, MaxRetentionHours)
		}
	}

	functionNames := map[string]bool{}
	unique := func(at, name string) {
		if name != "" && functionNames[name] {
			v.addf(at+".name", "function %q is defined twice", name)
		}
		functionNames[name] = true
	}
	for i := range s.Functions {
		f := &s.Functions[i]
		at := fmt.Sprintf("functions[%d] (%s)", i, f.Lambda)
		f.check(v, at, events)
		unique(at, f.Name)
	}
	logGroups := map[string]bool{}
	for i := range s.Trackers {
		t := &s.Trackers[i]
		at := fmt.Sprintf("trackers[%d] (%s)", i, t.Workflow)
		t.check(v, at, events)
		unique(at, t.Name)
		if t.LogGroup != "" && logGroups[t.LogGroup] {
			v.addf(at+".log_group", "log group %q is used by two trackers", t.LogGroup)
		}
		logGroups[t.LogGroup] = true
	}
	s.VPC.check(v)
	s.Monitoring.check(v, s)
	s.Logging.check(v)
	return v.err()
}

// Validate reports every reason the function cannot be built on its own,
// without checking that its events have streams.
func (f *Function) Validate() error {
	v := &validator{}
	f.check(v, fmt.Sprintf("function %s", f.Name), nil)
	return v.err()
}

// Validate reports every reason the tracker cannot be built on its own,
// without checking that its events have streams.
func (t *Tracker) Validate() error {
	v := &validator{}
	t.check(v, fmt.Sprintf("tracker %s", t.Name), nil)
	return v.err()
}

// check adds the function's errors to v. events, when not nil, holds the
// events that have a stream.
func (f *Function) check(v *validator, at string, events map[string]bool) {
	if err := names.CheckFunction(f.Name); err != nil {
		v.add(at+".name", err)
	}
	if f.Handler == "" {
		v.addf(at+".handler", "is empty")
	}
	if f.Runtime == "" {
		v.addf(at+".runtime", "is empty")
	}
	if a := f.Architecture; a != "" && a != ArchX86 && a != ArchARM {
		v.addf(at+".architecture", "%q is not %s or %s", a, ArchX86, ArchARM)
	}
	v.memoryAndTimeout(at, f.MemoryMB, f.TimeoutSeconds)
	v.retention(at+".log_retention_days", f.LogRetentionDays)
	f.Code.check(v, at+".code")
	for j, e := range f.Emits {
		v.event(fmt.Sprintf("%s.emits[%d]", at, j), e, events)
	}
	subscribed := map[string]bool{}
	for j, sub := range f.Subscriptions {
		sat := fmt.Sprintf("%s.subscriptions[%d] (%s)", at, j, sub.Event)
		v.event(sat+".event", sub.Event, events)
		if subscribed[sub.Event] {
			v.addf(sat+".event", "%q is subscribed twice", sub.Event)
		}
		subscribed[sub.Event] = true
		sub.Mapping.check(v, sat)
	}
}

func (t *Tracker) check(v *validator, at string, events map[string]bool) {
	if err := names.CheckFunction(t.Name); err != nil {
		v.add(at+".name", err)
	}
	if err := names.CheckLogGroup(t.LogGroup); err != nil {
		v.add(at+".log_group", err)
	}
	v.retention(at+".log_retention_days", t.LogRetentionDays)
	v.memoryAndTimeout(at, t.MemoryMB, t.TimeoutSeconds)
	if len(t.Events) == 0 {
		v.addf(at+".events", "is empty: a tracker needs the events of its flow")
	}
	seen := map[string]bool{}
	for j, e := range t.Events {
		eat := fmt.Sprintf("%s.events[%d]", at, j)
		v.event(eat, e, events)
		if seen[e] {
			v.addf(eat, "%q is listed twice", e)
		}
		seen[e] = true
	}
	t.Mapping.check(v, at+".mapping")
	if t.Mapping.OnFailure == OnFailureBucket {
		v.addf(at+".mapping.on_failure", "is %q, which only functions use; a tracker sends failures to %q", OnFailureBucket, OnFailureQueue)
	}
}

func (c Code) check(v *validator, at string) {
	switch c.Kind {
	case CodeFile, CodeDir, CodeZip:
		if c.Path == "" {
			v.addf(at+".path", "is empty")
			return
		}
		fi, err := os.Stat(c.Path)
		if err != nil {
			v.add(at+".path", err)
			return
		}
		switch {
		case c.Kind == CodeDir && !fi.IsDir():
			v.addf(at+".path", "%s is not a folder", c.Path)
		case c.Kind != CodeDir && !fi.Mode().IsRegular():
			v.addf(at+".path", "%s is not a file", c.Path)
		case c.Kind == CodeZip && !IsArchive(c.Path):
			v.addf(at+".path", "%s is not a .zip or .jar package", c.Path)
		}
	case CodeS3:
		if c.Bucket == "" {
			v.addf(at+".bucket", "is empty")
		}
		if c.Key == "" {
			v.addf(at+".key", "is empty")
		}
	default:
		v.addf(at+".kind", "%q is not one of %s, %s, %s, %s", c.Kind, CodeFile, CodeDir, CodeZip, CodeS3)
	}
}

// IsArchive tells whether a code path is a package Lambda takes as is.
func IsArchive(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".zip" || ext == ".jar"
}

func (m Mapping) check(v *validator, at string) {
	if m.BatchSize < 1 || m.BatchSize > MaxBatchSize {
		v.addf(at+".batch_size", "%d is out of range 1..%d", m.BatchSize, MaxBatchSize)
	}
	if m.StartingPosition != TrimHorizon && m.StartingPosition != Latest {
		v.addf(at+".starting_position", "%q is not %s or %s", m.StartingPosition, TrimHorizon, Latest)
	}
	if m.RetryAttempts < -1 || m.RetryAttempts > MaxRetryAttempts {
		v.addf(at+".retry_attempts", "%d is out of range -1..%d (-1 retries until the record expires)", m.RetryAttempts, MaxRetryAttempts)
	}
	if a := m.MaxRecordAgeSeconds; a != -1 && (a < MinRecordAge || a > MaxRecordAge) {
		v.addf(at+".max_record_age_seconds", "%d is out of range %d..%d (or -1 for no limit)", a, MinRecordAge, MaxRecordAge)
	}
	if p := m.ParallelizationFactor; p < 0 || p > MaxParallelism {
		v.addf(at+".parallelization_factor", "%d is out of range 1..%d", p, MaxParallelism)
	}
	if w := m.BatchWindowSeconds; w < 0 || w > MaxBatchWindow {
		v.addf(at+".batch_window_seconds", "%d is out of range 0..%d", w, MaxBatchWindow)
	}
	switch m.OnFailure {
	case "", OnFailureQueue, OnFailureBucket, OnFailureNone:
		if m.OnFailureTarget != "" {
			v.addf(at+".on_failure_target", "is set but on_failure is %q; a target is only used with %q", m.OnFailure, OnFailureARN)
		}
	case OnFailureARN:
		if _, err := DestinationService(m.OnFailureTarget); err != nil {
			v.add(at+".on_failure_target", err)
		}
	default:
		v.addf(at+".on_failure", "%q is not one of %s, %s, %s, %s", m.OnFailure, OnFailureQueue, OnFailureBucket, OnFailureARN, OnFailureNone)
	}
}

func (n *VPC) check(v *validator) {
	if n == nil {
		return
	}
	switch {
	case len(n.SubnetIDs) == 0:
		v.addf("vpc.subnet_ids", "is empty: a function in a VPC needs at least one subnet")
	case len(n.SubnetIDs) > MaxSubnets:
		v.addf("vpc.subnet_ids", "has %d subnets, Lambda allows at most %d", len(n.SubnetIDs), MaxSubnets)
	}
	switch {
	case len(n.SecurityGroupIDs) == 0:
		v.addf("vpc.security_group_ids", "is empty: a function in a VPC needs at least one security group")
	case len(n.SecurityGroupIDs) > MaxSecurityGroups:
		v.addf("vpc.security_group_ids", "has %d security groups, Lambda allows at most %d", len(n.SecurityGroupIDs), MaxSecurityGroups)
	}
	for i, id := range n.SubnetIDs {
		if !strings.HasPrefix(id, "subnet-") {
			v.addf(fmt.Sprintf("vpc.subnet_ids[%d]", i), "%q is not a subnet id (subnet-...)", id)
		}
	}
	for i, id := range n.SecurityGroupIDs {
		if !strings.HasPrefix(id, "sg-") {
			v.addf(fmt.Sprintf("vpc.security_group_ids[%d]", i), "%q is not a security group id (sg-...)", id)
		}
	}
}

func (m *Monitoring) check(v *validator, s *Spec) {
	if m == nil {
		return
	}
	switch {
	case m.TopicName != "" && m.TopicARN != "":
		v.addf("monitoring.topic_arn", "is set with topic_name; set one: the topic xflow creates, or an existing one")
	case m.TopicName == "" && m.TopicARN == "":
		v.addf("monitoring.topic_name", "is empty, and so is topic_arn: the alarms need a topic to notify")
	case m.TopicName != "":
		if err := names.CheckTopic(m.TopicName); err != nil {
			v.add("monitoring.topic_name", err)
		}
	default:
		if err := CheckTopicARN(m.TopicARN); err != nil {
			v.add("monitoring.topic_arn", err)
		}
		if len(m.Emails) > 0 {
			v.addf("monitoring.emails", "are set with topic_arn; xflow subscribes e-mails only to the topic it creates")
		}
	}
	seen := map[string]bool{}
	for i, e := range m.Emails {
		at := fmt.Sprintf("monitoring.emails[%d]", i)
		if local, domain, ok := strings.Cut(e, "@"); !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(e, " /") {
			v.addf(at, "%q is not an e-mail address", e)
		}
		if seen[e] {
			v.addf(at, "%q is listed twice", e)
		}
		seen[e] = true
	}
	p := m.PeriodSeconds
	if p != 10 && p != 30 && (p <= 0 || p%MetricPeriod != 0) {
		v.addf("monitoring.period_seconds", "%d is not a CloudWatch period (10, 30 or a multiple of %d)", p, MetricPeriod)
	}
	if m.EvaluationPeriods < 1 {
		v.addf("monitoring.evaluation_periods", "%d is less than 1", m.EvaluationPeriods)
	} else if p > 0 && p*m.EvaluationPeriods > MaxAlarmEvaluation {
		v.addf("monitoring.evaluation_periods", "%d periods of %d s look back more than the %d s an alarm may", m.EvaluationPeriods, p, MaxAlarmEvaluation)
	}
	if m.ErrorThreshold < 1 {
		v.addf("monitoring.error_threshold", "%d is less than 1: the alarm would always fire", m.ErrorThreshold)
	}
	if m.IteratorAgeSeconds < 1 {
		v.addf("monitoring.iterator_age_seconds", "%d is less than 1", m.IteratorAgeSeconds)
	}
	if !slices.Contains(TreatMissingData, m.TreatMissingData) {
		v.addf("monitoring.treat_missing_data", "%q is not one of %s", m.TreatMissingData, strings.Join(TreatMissingData, ", "))
	}
	if m.Dashboards {
		region := s.Region
		if region == "" {
			region = "${AWS::Region}"
		}
		for i, t := range s.Trackers {
			if name := names.Dashboard(s.StackName, t.Workflow, region); len(name) > names.MaxDashboardName {
				v.addf(fmt.Sprintf("trackers[%d] (%s).workflow", i, t.Workflow), "its dashboard name %q is longer than %d characters", name, names.MaxDashboardName)
			}
		}
	}
}

// CheckTopicARN reports why arn cannot be the topic alarms notify.
func CheckTopicARN(arn string) error {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3] == "" || parts[4] == "" {
		return fmt.Errorf("%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)", arn)
	}
	return names.CheckTopic(strings.TrimSuffix(parts[5], ".fifo"))
}

func (l *Logging) check(v *validator) {
	if l == nil {
		return
	}
	if _, err := LogDestinationKind(l.DestinationARN); err != nil {
		v.add("logging.destination_arn", err)
	}
	if n := len(l.FilterPattern); n > MaxFilterPattern {
		v.addf("logging.filter_pattern", "is %d characters long, more than %d", n, MaxFilterPattern)
	}
}

// LogDestinationKind tells which kind of destination a central logging ARN
// is: LogToKinesis, LogToFirehose or LogToLambda, the destinations a
// subscription filter delivers to in its own account.
func LogDestinationKind(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("%q is not the ARN of a Kinesis stream, a Firehose delivery stream or a Lambda function", arn)
	}
	resource := parts[5]
	switch {
	case parts[2] == "kinesis" && strings.HasPrefix(resource, "stream/") && len(resource) > len("stream/"):
		return LogToKinesis, nil
	case parts[2] == "firehose" && strings.HasPrefix(resource, "deliverystream/") && len(resource) > len("deliverystream/"):
		return LogToFirehose, nil
	case parts[2] == "lambda" && strings.HasPrefix(resource, "function:") && len(resource) > len("function:"):
		return LogToLambda, nil
	}
	return "", fmt.Errorf("%q is not the ARN of a Kinesis stream, a Firehose delivery stream or a Lambda function", arn)
}

// DestinationService tells whether an on-failure ARN is an SQS queue
// ("sqs") or an SNS topic ("sns"), the two destinations a Kinesis event
// source accepts.
func DestinationService(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE or arn:aws:sns:REGION:ACCOUNT:TOPIC)", arn)
	}
	if parts[2] != "sqs" && parts[2] != "sns" {
		return "", fmt.Errorf("%q is a %s ARN; the on-failure destination of a stream is an SQS queue or an SNS topic", arn, parts[2])
	}
	return parts[2], nil
}

type validator struct{ errs []error }

func (v *validator) add(at string, err error) {
	v.errs = append(v.errs, fmt.Errorf("spec: %s: %w", at, err))
}

func (v *validator) addf(at, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("spec: %s: %s", at, fmt.Sprintf(format, args...)))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) event(at, event string, events map[string]bool) {
	switch {
	case event == "":
		v.addf(at, "is empty")
	case events != nil && !events[event]:
		v.addf(at, "event %q has no stream in streams", event)
	}
}

func (v *validator) memoryAndTimeout(at string, memoryMB, timeoutSeconds int) {
	if m := memoryMB; m != 0 && (m < MinMemoryMB || m > MaxMemoryMB) {
		v.addf(at+".memory_mb", "%d is out of range %d..%d", m, MinMemoryMB, MaxMemoryMB)
	}
	if t := timeoutSeconds; t < 0 || t > MaxTimeoutSeconds {
		v.addf(at+".timeout_seconds", "%d is out of range 1..%d", t, MaxTimeoutSeconds)
	}
}

func (v *validator) retention(at string, days int) {
	if !slices.Contains(LogRetentionDays, days) {
		v.addf(at, "%d is not a retention CloudWatch Logs accepts (one of %s)", days, strings.Trim(fmt.Sprint(LogRetentionDays), "[]"))
	}
}
