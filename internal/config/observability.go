package config

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// Bounds of the monitoring section, derived from spec's limits: a stream
// keeps a record at most spec.MaxRetentionHours, so no iterator grows older.
const (
	maxIteratorAge       = spec.MaxRetentionHours * 3600
	minAlarmErrorCount   = 1
	maxEvaluationPeriods = spec.MaxAlarmEvaluation / spec.MetricPeriod
)

var (
	topicARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	emailRe    = regexp.MustCompile(`^[^@\s/]+@[^@\s/.]+(\.[^@\s/.]+)+$`)
	// The destinations a subscription filter delivers to in its own
	// account, each with the region, the account and the resource name.
	logDestinationRes = []struct {
		kind string
		re   *regexp.Regexp
	}{
		{"Kinesis stream", regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):(\d{12}):stream/([A-Za-z0-9_.-]{1,128})$`)},
		{"Firehose delivery stream", regexp.MustCompile(`^arn:aws[a-z-]*:firehose:([a-z0-9-]+):(\d{12}):deliverystream/([A-Za-z0-9_.-]{1,64})$`)},
		{"Lambda function", regexp.MustCompile(`^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]{1,64})(:[A-Za-z0-9$_-]{1,128})?$`)},
	}
	logsDestinationRe = regexp.MustCompile(`^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:destination:`)
)

// openSections turns a section written without a value (`monitoring:`)
// on, with its defaults: the key is there, so the user asked for it.
func (v *validator) openSections() {
	if _, ok := v.c.pos["monitoring"]; ok && v.c.Monitoring == nil {
		v.c.Monitoring = &Monitoring{}
	}
	if _, ok := v.c.pos["logging"]; ok && v.c.Logging == nil {
		v.c.Logging = &Logging{}
	}
}

func (v *validator) monitoring() {
	m := v.c.Monitoring
	if m == nil {
		return
	}
	if a := m.TopicARN; a != "" {
		switch sm := topicARNRe.FindStringSubmatch(a); {
		case sm == nil:
			v.errorf("monitoring.topic_arn", "write the ARN of an SNS topic, such as arn:aws:sns:eu-west-1:123456789012:alerts, or remove it to have xflow create one", "%q is not an SNS topic ARN", a)
		case v.c.AWS.Region != "" && sm[1] != v.c.AWS.Region:
			v.errorf("monitoring.topic_arn", "use a topic in "+v.c.AWS.Region+", or remove topic_arn to have xflow create one", "the topic is in %s, but alarms notify only topics of their own region (%s)", sm[1], v.c.AWS.Region)
		}
		if len(m.Emails) > 0 {
			v.errorf("monitoring.emails", "subscribe them to your topic yourself, or remove topic_arn to have xflow create a topic with these subscriptions", "e-mails are subscribed only to the topic xflow creates, and topic_arn names an existing one")
		}
	}
	seen := map[string]int{}
	for i, e := range m.Emails {
		p := fmt.Sprintf("monitoring.emails[%d]", i)
		if !emailRe.MatchString(e) {
			v.errorf(p, "write an address such as ops@example.com", "%q is not an e-mail address", e)
		} else if j, dup := seen[e]; dup {
			v.errorf(p, fmt.Sprintf("keep one; it is already emails[%d]", j), "%q is listed twice", e)
		}
		seen[e] = i
	}

	period := int(m.Period)
	if v.has("monitoring.period") {
		switch {
		case period == 10 || period == 30:
			v.errorf("monitoring.period", "write 1m or a multiple of it, such as 5m", "%s periods are for high-resolution metrics; Lambda, Kinesis and SQS publish theirs once a minute, so most %s periods would hold no data", m.Period, m.Period)
		case period <= 0 || period%spec.MetricPeriod != 0:
			v.errorf("monitoring.period", "write a whole number of minutes, such as 1m or 5m", "%s is not a CloudWatch alarm period", m.Period)
		case period > spec.MaxAlarmEvaluation:
			v.errorf("monitoring.period", "write at most 1d", "%s is longer than the day an alarm may look back", m.Period)
		}
	}
	if v.has("monitoring.evaluation_periods") && !v.failed("monitoring.evaluation_periods") {
		v.intRange("monitoring.evaluation_periods", m.EvaluationPeriods, 1, maxEvaluationPeriods, "periods")
	}
	if !v.failed("monitoring.period") && !v.failed("monitoring.evaluation_periods") {
		p := period
		if p == 0 {
			p = int(Duration(spec.DefaultAlarmPeriodSeconds))
		}
		n := max(m.EvaluationPeriods, spec.DefaultEvaluationPeriods)
		if p*n > spec.MaxAlarmEvaluation {
			at := "monitoring.evaluation_periods"
			if !v.has(at) {
				at = "monitoring.period"
			}
			v.errorf(at, fmt.Sprintf("write at most %d periods of %s", spec.MaxAlarmEvaluation/p, Duration(p)), "%d periods of %s look back %s, more than the day an alarm may", n, Duration(p), Duration(p*n))
		}
	}
	if v.has("monitoring.error_threshold") && m.ErrorThreshold < minAlarmErrorCount {
		v.errorf("monitoring.error_threshold", "write 1 or more", "an alarm on fewer than 1 error would always fire")
	}
	if v.has("monitoring.iterator_age_threshold") && !v.failed("monitoring.iterator_age_threshold") {
		v.intRange("monitoring.iterator_age_threshold", int(m.IteratorAgeThreshold), 1, maxIteratorAge, "seconds")
	}
	if t := m.TreatMissingData; t != "" && !slices.Contains(spec.TreatMissingData, t) {
		v.errorf("monitoring.treat_missing_data", suggest(t, spec.TreatMissingData, "write one of"), "%q is not a treatment of missing data", t)
	}
	if (m.Dashboard == nil || *m.Dashboard) && len(v.c.Workflows) == 0 {
		v.warnf("monitoring", "add a workflow, or set dashboard: false", "the config has no workflow, so no dashboard is made")
	}
}

func (v *validator) logging(scheme names.Scheme) {
	l := v.c.Logging
	if l == nil {
		return
	}
	const p = "logging.destination_arn"
	if l.DestinationARN == "" {
		v.errorf(p, "add destination_arn: with the ARN of a Kinesis stream, a Firehose delivery stream or a Lambda function", "central logging needs a destination")
	} else {
		v.logDestination(scheme, l.DestinationARN)
	}
	if n := len(l.FilterPattern); n > spec.MaxFilterPattern {
		v.errorf("logging.filter_pattern", "shorten it", "the pattern is %d characters long, more than CloudWatch Logs' %d", n, spec.MaxFilterPattern)
	}
}

func (v *validator) logDestination(scheme names.Scheme, arn string) {
	const p = "logging.destination_arn"
	var kind string
	var sm []string
	for _, d := range logDestinationRes {
		if sm = d.re.FindStringSubmatch(arn); sm != nil {
			kind = d.kind
			break
		}
	}
	switch {
	case sm == nil && logsDestinationRe.MatchString(arn):
		v.errorf(p, "ship to a Kinesis stream or Firehose delivery stream of this account that forwards to the other one", "CloudWatch Logs destinations (for another account) are not supported")
		return
	case sm == nil:
		v.errorf(p, "write the ARN of a Kinesis stream (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME), a Firehose delivery stream (arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME) or a Lambda function (arn:aws:lambda:REGION:ACCOUNT:function:NAME)", "%q is not the ARN of a log destination", arn)
		return
	}
	region, account, name := sm[1], sm[2], sm[3]
	if r := v.c.AWS.Region; r != "" && region != r {
		v.errorf(p, "use a destination in "+r, "the %s is in %s, but CloudWatch Logs delivers only within the log groups' region (%s)", kind, region, r)
	}
	if a := v.c.AWS.Account; a != "" && account != a {
		v.errorf(p, "use a destination of account "+a+" that forwards to the other account", "the %s belongs to account %s, but CloudWatch Logs delivers to a %s only in the log groups' account (%s)", kind, account, kind, a)
	}
	if kind != "Lambda function" {
		return
	}
	for _, l := range v.c.Lambdas {
		if l.Name != "" && scheme.Function(l.Name) == name {
			v.errorf(p, "ship to a function outside this config", "function %s is lambda %q of this config: it would receive its own logs and log again for each, in a loop", name, l.Name)
		}
	}
	for _, w := range v.c.Workflows {
		if w.ID != "" && scheme.Tracker(w.ID) == name {
			v.errorf(p, "ship to a function outside this config", "function %s is the tracker of workflow %q: it would receive its own logs, in a loop", name, w.ID)
		}
	}
}

// has tells whether the file set the value at path.
func (v *validator) has(path string) bool {
	_, ok := v.c.pos[path]
	return ok
}
