package constructs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/cfnlint"
	"github.com/xflowhq/xflow/internal/names"
)

// alarmsOf returns the alarms of a template by what they watch (a function
// name, or "queue-of:<function>" for a failure queue) and metric name.
func alarmsOf(t *testing.T, raw object) map[string]map[string]object {
	t.Helper()
	out := map[string]map[string]object{}
	for id, r := range resourcesOf(raw, "AWS::CloudWatch::Alarm") {
		p := propsOf(r)
		dims := list(p["Dimensions"])
		if len(dims) != 1 {
			t.Errorf("alarm %s has dimensions %v, want one", id, dims)
			continue
		}
		who := describe(raw, dims[0].(object)["Value"])
		if out[who] == nil {
			out[who] = map[string]object{}
		}
		metric := p["MetricName"].(string)
		if out[who][metric] != nil {
			t.Errorf("%s has two %s alarms", who, metric)
		}
		out[who][metric] = p
	}
	return out
}

// resourceIDOf returns the logical id of the only resource of a type with
// a property value, failing when there is not exactly one.
func resourceIDOf(t *testing.T, raw object, typ, key string, value any) string {
	t.Helper()
	var ids []string
	for id, r := range resourcesOf(raw, typ) {
		if jsonOf(propsOf(r)[key]) == jsonOf(value) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d %s with %s %v, want 1", len(ids), typ, key, value)
	}
	return ids[0]
}

// TestAlarms: every function and the tracker of the monitored stack has
// the alarms its subscriptions call for, with the spec's metric, threshold,
// period and evaluation, and each notifies the topic xflow creates when it
// fires and when it recovers.
func TestAlarms(t *testing.T) {
	st := sharedSynth(t)["monitored"]
	raw := st.raw
	topic := object{"Ref": resourceIDOf(t, raw, "AWS::SNS::Topic", "TopicName", alarmTopicName)}

	type kind struct {
		namespace, statistic, comparison string
		threshold                        float64
	}
	errors := kind{"AWS/Lambda", "Sum", "GreaterThanOrEqualToThreshold", 3}
	age := kind{"AWS/Lambda", "Maximum", "GreaterThanThreshold", 600 * 1000}
	queue := kind{"AWS/SQS", "Maximum", "GreaterThanThreshold", 0}
	delivery := kind{"AWS/Lambda", "Sum", "GreaterThanThreshold", 0}
	want := map[string]map[string]kind{
		"pay":                         {"Errors": errors, "IteratorAge": age},
		"queue-of:pay":                {"ApproximateNumberOfMessagesVisible": queue},
		"ship":                        {"Errors": errors, "IteratorAge": age, "DestinationDeliveryFailures": delivery},
		"audit":                       {"Errors": errors, "IteratorAge": age}, // on_failure none: no queue
		"report":                      {"Errors": errors},                     // no subscription: no iterator age
		"tracker_order_flow":          {"Errors": errors, "IteratorAge": age},
		"queue-of:tracker_order_flow": {"ApproximateNumberOfMessagesVisible": queue},
	}
	got := alarmsOf(t, raw)
	if !slices.Equal(keys(got), keys(want)) {
		t.Errorf("alarms watch %v, want %v", keys(got), keys(want))
	}
	for who, metrics := range want {
		if !slices.Equal(keys(got[who]), keys(metrics)) {
			t.Errorf("%s has alarms on %v, want %v", who, keys(got[who]), keys(metrics))
		}
		for metric, k := range metrics {
			p := got[who][metric]
			if p == nil {
				continue
			}
			for field, v := range map[string]any{
				"Namespace": k.namespace, "Statistic": k.statistic, "ComparisonOperator": k.comparison, "Threshold": k.threshold,
				"Period": 300, "EvaluationPeriods": 2, "TreatMissingData": "notBreaching",
				"AlarmActions": []any{topic}, "OKActions": []any{topic},
			} {
				if g, w := jsonOf(p[field]), jsonOf(v); g != w {
					t.Errorf("%s alarm on %s: %s = %s, want %s", who, metric, field, g, w)
				}
			}
			if d, _ := p["AlarmDescription"].(string); !strings.HasPrefix(d, "xflow: function ") {
				t.Errorf("%s alarm on %s: description %q", who, metric, d)
			}
		}
	}
}

// TestAlarmTopic: xflow creates the topic, named after the stack, with one
// e-mail subscription per address.
func TestAlarmTopic(t *testing.T) {
	st := sharedSynth(t)["monitored"]
	if alarmTopicName != names.AlarmTopic("monitored") {
		t.Fatalf("the fixture's topic is not names.AlarmTopic")
	}
	must(t, "one topic", func() { st.template.ResourceCountIs(jsii.String("AWS::SNS::Topic"), jsii.Number(1)) })
	topic := resourceIDOf(t, st.raw, "AWS::SNS::Topic", "TopicName", alarmTopicName)
	if p := propsOf(st.raw["Resources"].(object)[topic].(object)); p["KmsMasterKeyId"] != nil {
		t.Errorf("the topic is encrypted with %v; CloudWatch cannot publish with the AWS-managed key", p["KmsMasterKeyId"])
	}
	var emails []string
	for _, r := range resourcesOf(st.raw, "AWS::SNS::Subscription") {
		p := propsOf(r)
		if p["Protocol"] != "email" || ref(p["TopicArn"]) != topic {
			t.Errorf("subscription %v, want e-mail to the alarm topic", p)
		}
		emails = append(emails, p["Endpoint"].(string))
	}
	sort.Strings(emails)
	if want := slices.Sorted(slices.Values(alarmEmails)); !slices.Equal(emails, want) {
		t.Errorf("e-mail subscriptions %v, want %v", emails, want)
	}
}

// TestExistingTopic: with topic_arn no topic is created, every alarm
// notifies that topic, and without dashboards none is made.
func TestExistingTopic(t *testing.T) {
	st := sharedSynth(t)["monitored-existing"]
	for _, typ := range []string{"AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::CloudWatch::Dashboard"} {
		must(t, "no "+typ, func() { st.template.ResourceCountIs(jsii.String(typ), jsii.Number(0)) })
	}
	must(t, "six alarms", func() { st.template.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(6)) })
	must(t, "alarms notify the existing topic", func() {
		st.template.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), object{
			"AlarmActions": []any{existingTopic}, "OKActions": []any{existingTopic},
			"Period": 60, "TreatMissingData": "missing",
		})
	})
	if got := alarmsOf(t, st.raw); got[monitoredPrefix+"work"]["Errors"] == nil || got[monitoredPrefix+"tracker_job_flow"]["IteratorAge"] == nil {
		t.Errorf("alarms %v lack the prefixed function names", keys(got))
	}
}

// TestDashboard: the workflow's dashboard, named by names.Dashboard, graphs
// the five Lambda metrics of every function subscribed to the flow's
// events and of the tracker, and the three Kinesis metrics of every stream
// of the flow, and nothing outside the workflow.
func TestDashboard(t *testing.T) {
	st := sharedSynth(t)["monitored"]
	must(t, "one dashboard", func() { st.template.ResourceCountIs(jsii.String("AWS::CloudWatch::Dashboard"), jsii.Number(1)) })
	var p object
	for _, r := range resourcesOf(st.raw, "AWS::CloudWatch::Dashboard") {
		p = propsOf(r)
	}
	wantName := object{"Fn::Sub": names.Dashboard("monitored", "order_flow", "${AWS::Region}")}
	if jsonOf(p["DashboardName"]) != jsonOf(wantName) {
		t.Errorf("dashboard name %s, want %s", jsonOf(p["DashboardName"]), jsonOf(wantName))
	}
	body, ok := p["DashboardBody"].(object)["Fn::Sub"].(string)
	if !ok {
		t.Fatalf("dashboard body %v, want an Fn::Sub of the region", p["DashboardBody"])
	}
	var d struct {
		Widgets []struct {
			Type       string
			X, Width   int
			Properties struct {
				Title, Region, Stat, Markdown string
				Period                        int
				Metrics                       [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(body, "${AWS::Region}", "eu-west-1")), &d); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, body)
	}
	graphed := map[string][]string{} // namespace/metric → dimension values
	for _, w := range d.Widgets {
		if w.X+w.Width > dashboardColumns {
			t.Errorf("widget %q overflows the grid", w.Properties.Title)
		}
		if w.Type == "text" {
			if !strings.Contains(w.Properties.Markdown, "`Ordered` → `Paid` → `Shipped`") {
				t.Errorf("header %q does not show the flow", w.Properties.Markdown)
			}
			continue
		}
		if w.Properties.Region != "eu-west-1" || w.Properties.Period != 300 {
			t.Errorf("graph %q: region %q period %d, want the stack's region and the spec's period", w.Properties.Title, w.Properties.Region, w.Properties.Period)
		}
		for _, m := range w.Properties.Metrics {
			graphed[fmt.Sprint(m[0], "/", m[1])] = append(graphed[fmt.Sprint(m[0], "/", m[1])], fmt.Sprint(m[3]))
		}
	}
	functions := []string{"pay", "ship", "tracker_order_flow"}
	streams := []string{"Ordered", "Paid", "Shipped"}
	want := map[string][]string{}
	for _, m := range []string{"Invocations", "Errors", "Throttles", "Duration", "IteratorAge"} {
		want["AWS/Lambda/"+m] = functions
	}
	for _, m := range []string{"IncomingRecords", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded"} {
		want["AWS/Kinesis/"+m] = streams
	}
	if !slices.Equal(keys(graphed), keys(want)) {
		t.Errorf("dashboard graphs %v, want %v", keys(graphed), keys(want))
	}
	for k, names := range want {
		if !slices.Equal(graphed[k], names) {
			t.Errorf("%s graphs %v, want %v", k, graphed[k], names)
		}
	}
}

// TestLogShippingFirehose: every log group of the stack (each function's,
// the tracker's and the tracking log group) has one subscription filter to
// the destination, with the pattern, through the one role that only
// CloudWatch Logs of this account and region may assume and that may only
// put records on that destination.
func TestLogShippingFirehose(t *testing.T) {
	st := sharedSynth(t)["monitored"]
	raw := st.raw
	role := checkLogShipping(t, raw, firehoseDest, "?ERROR ?WARN")
	r := propsOf(raw["Resources"].(object)[role].(object))
	trust := list(r["AssumeRolePolicyDocument"].(object)["Statement"])
	wantTrust := object{
		"Action":    "sts:AssumeRole",
		"Effect":    "Allow",
		"Principal": object{"Service": "logs.amazonaws.com"},
		"Condition": object{"StringLike": object{"aws:SourceArn": object{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"}}},
	}
	if len(trust) != 1 || jsonOf(trust[0]) != jsonOf(wantTrust) {
		t.Errorf("log role trust %s, want %s", jsonOf(trust), jsonOf(wantTrust))
	}
	grants := grantsOfRole(raw, role)
	want := expectGrants{}.allow(logsToFirehoseActions, firehoseDest)
	if jsonOf(grants) != jsonOf(map[string][]string(want)) {
		t.Errorf("log role grants %v, want %v", grants, want)
	}
}

// checkLogShipping checks that every log group has exactly one filter to
// dest with pattern, and that all use one role of the stack, whose logical
// id it returns ("" when the filters use no role).
func checkLogShipping(t *testing.T, raw object, dest, pattern string) string {
	t.Helper()
	filters := map[string]int{}
	roles := map[string]bool{}
	for id, r := range resourcesOf(raw, "AWS::Logs::SubscriptionFilter") {
		p := propsOf(r)
		filters[describe(raw, object{"Fn::GetAtt": []any{ref(p["LogGroupName"]), "Arn"}})]++
		if p["DestinationArn"] != dest || p["FilterPattern"] != pattern {
			t.Errorf("filter %s ships to %v with %q, want %s with %q", id, p["DestinationArn"], p["FilterPattern"], dest, pattern)
		}
		role, _ := getAtt(p["RoleArn"])
		roles[role] = true
	}
	for _, r := range resourcesOf(raw, "AWS::Logs::LogGroup") {
		name := "log-group:" + propsOf(r)["LogGroupName"].(string)
		if filters[name] != 1 {
			t.Errorf("%s has %d subscription filters, want 1", name, filters[name])
		}
	}
	if len(filters) != len(resourcesOf(raw, "AWS::Logs::LogGroup")) {
		t.Errorf("filters on %v, want one per log group", keys(filters))
	}
	if len(roles) != 1 {
		t.Fatalf("filters use roles %v, want one", keys(roles))
	}
	for role := range roles {
		return role
	}
	return ""
}

// TestLogShippingLambda: a Lambda destination gets no role but one
// permission per kind of log group, for CloudWatch Logs of this account on
// the log groups with the prefix, and every filter waits for its
// permission.
func TestLogShippingLambda(t *testing.T) {
	st := sharedSynth(t)["monitored-existing"]
	raw := st.raw
	if role := checkLogShipping(t, raw, lambdaDest, ""); role != "" {
		t.Errorf("filters use role %s, want none for a Lambda destination", role)
	}
	must(t, "no log role", func() { st.template.ResourceCountIs(jsii.String("AWS::IAM::Role"), jsii.Number(2)) })
	permissions := map[string]string{} // pattern → logical id
	for id, r := range resourcesOf(raw, "AWS::Lambda::Permission") {
		p := propsOf(r)
		if p["Action"] != "lambda:InvokeFunction" || p["FunctionName"] != lambdaDest || p["Principal"] != "logs.amazonaws.com" ||
			jsonOf(p["SourceAccount"]) != `{"Ref":"AWS::AccountId"}` {
			t.Errorf("permission %s = %v", id, p)
		}
		arn, _ := p["SourceArn"].(object)["Fn::Sub"].(string)
		pattern, ok := strings.CutPrefix(arn, "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:")
		if !ok {
			t.Errorf("permission %s for source %v, want log groups of this account and region", id, p["SourceArn"])
		}
		permissions[pattern] = id
	}
	p := monitoredPrefix
	want := []string{"/aws/lambda/" + p + "*", "/xFlow/track/" + p + "*"}
	if !slices.Equal(keys(permissions), want) {
		t.Fatalf("permissions for %v, want %v", keys(permissions), want)
	}
	for id, r := range resourcesOf(raw, "AWS::Logs::SubscriptionFilter") {
		lg := describe(raw, object{"Fn::GetAtt": []any{ref(propsOf(r)["LogGroupName"]), "Arn"}})
		need := permissions[want[0]]
		if strings.HasPrefix(lg, "log-group:/xFlow/track/") {
			need = permissions[want[1]]
		}
		if !slices.Contains(list(r["DependsOn"]), any(need)) {
			t.Errorf("filter %s on %s does not depend on permission %s", id, lg, need)
		}
	}
}

// TestPlanCountsObservability: the planner counts the alarms, filters,
// dashboards, topic and log shipping of a stack exactly, and estimates
// its bytes generously.
func TestPlanCountsObservability(t *testing.T) {
	for _, name := range []string{"monitored", "monitored-existing", "wordcount"} {
		st := sharedSynth(t)[name]
		l, err := PlanStacks(st.spec)
		if err != nil {
			t.Fatal(err)
		}
		got := len(st.raw["Resources"].(object))
		if l.Stacks[0].Resources != got {
			t.Errorf("%s: planned %d resources, the template has %d", name, l.Stacks[0].Resources, got)
		}
		fi, err := os.Stat(st.path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(l.Stacks[0].Bytes) < fi.Size() {
			t.Errorf("%s: planned %d bytes, the template has %d", name, l.Stacks[0].Bytes, fi.Size())
		}
	}
}

// observedChain is chainSpec(n) with monitoring (a topic xflow creates,
// dashboards) and logging to a Kinesis stream.
func observedChain(n int) *spec.Spec {
	s := chainSpec(n)
	s.Monitoring = &spec.Monitoring{
		TopicName: names.AlarmTopic(s.StackName), Emails: alarmEmails, Dashboards: true,
		PeriodSeconds: 300, EvaluationPeriods: 1, ErrorThreshold: 1, IteratorAgeSeconds: 300, TreatMissingData: "notBreaching",
	}
	s.Logging = &spec.Logging{DestinationARN: kinesisDest}
	return s
}

// TestPlanBudgetsObservability: with monitoring and logging on, every
// stack of every size still fits the budgets, and without them the layout
// is the one it was.
func TestPlanBudgetsObservability(t *testing.T) {
	for _, n := range []int{50, 100, 500, 3000} {
		l, err := PlanStacks(observedChain(n))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range l.Stacks {
			if st.Resources > stackResourceBudget || st.Bytes > stackByteBudget {
				t.Errorf("n=%d: %s holds %d resources, ~%d bytes", n, st.Name, st.Resources, st.Bytes)
			}
		}
		plain, err := PlanStacks(chainSpec(n))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("n=%d: %d stacks observed, %d without", n, len(l.Stacks), len(plain.Stacks))
	}
}

// TestSplitObservability is acceptance 1 for a split: a config of 100
// functions with monitoring and logging on spreads over stacks within the
// budgets, with no export: the topic is in the root stack and the alarms
// of other stacks reach it by its deterministic ARN; each function's
// alarms and subscription filter are in its own stack, with that stack's
// log role; each dashboard is beside its tracker; cfn-lint accepts all.
func TestSplitObservability(t *testing.T) {
	requireCDK(t)
	s := observedChain(100)
	l, err := PlanStacks(s)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Split() {
		t.Fatal("the config fits one stack; the test needs a split")
	}
	dir := t.TempDir()
	for i := range s.Functions {
		s.Functions[i].Code.Path = filepath.Join(dir, "src", s.Functions[i].Lambda+".py")
		writeFile(t, s.Functions[i].Code.Path, "def handle(e, c): pass\n")
	}
	out := filepath.Join(dir, "cdk.out")
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	stacks, err := NewWorkflowApp(app, s, AppOptions{TrackerAssetDir: fakeTrackerAsset(t, filepath.Join(dir, "tracker"))})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)

	topicArn := object{"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + names.AlarmTopic("bench")}
	var paths []string
	counts := map[string]int{}
	for _, st := range stacks {
		name := *st.StackName()
		path := filepath.Join(out, *st.TemplateFile())
		paths = append(paths, path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var raw object
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		res := raw["Resources"].(object)
		if len(res) >= MaxStackResources || len(b) >= MaxStackTemplateBytes {
			t.Errorf("%s: %d resources, %d bytes", name, len(res), len(b))
		}
		if raw["Outputs"] != nil || strings.Contains(string(b), "Fn::ImportValue") {
			t.Errorf("%s exports or imports values", name)
		}
		for _, typ := range []string{"AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::CloudWatch::Dashboard", "AWS::Lambda::Function", "AWS::CloudWatch::Alarm", "AWS::Logs::SubscriptionFilter"} {
			counts[typ] += len(resourcesOf(raw, typ))
		}
		if n := len(resourcesOf(raw, "AWS::SNS::Topic")); n > 0 && name != "bench" {
			t.Errorf("%s holds the alarm topic, want the root stack bench", name)
		}
		// Alarms watch functions of their own stack and notify the topic
		// by its deterministic ARN.
		fns := map[string]bool{}
		for _, r := range resourcesOf(raw, "AWS::Lambda::Function") {
			fns[propsOf(r)["FunctionName"].(string)] = true
		}
		for who, metrics := range alarmsOf(t, raw) {
			if !fns[strings.TrimPrefix(who, "queue-of:")] {
				t.Errorf("%s: alarm on %s, a function of another stack", name, who)
			}
			for m, p := range metrics {
				if jsonOf(p["AlarmActions"]) != jsonOf([]any{topicArn}) {
					t.Errorf("%s: alarm %s/%s notifies %s", name, who, m, jsonOf(p["AlarmActions"]))
				}
			}
		}
		if len(resourcesOf(raw, "AWS::Logs::LogGroup")) > 0 {
			role := checkLogShipping(t, raw, kinesisDest, "")
			grants := grantsOfRole(raw, role)
			want := expectGrants{}.allow(logsToKinesisActions, kinesisDest)
			if jsonOf(grants) != jsonOf(map[string][]string(want)) {
				t.Errorf("%s: log role grants %v, want %v", name, grants, want)
			}
		}
		// A dashboard per tracker of the stack, named after its workflow.
		var dashboards, trackers []string
		for _, r := range resourcesOf(raw, "AWS::CloudWatch::Dashboard") {
			dashboards = append(dashboards, jsonOf(propsOf(r)["DashboardName"]))
		}
		for fn := range fns {
			if wf, ok := strings.CutPrefix(fn, "tracker_"); ok {
				trackers = append(trackers, jsonOf(object{"Fn::Sub": names.Dashboard("bench", wf, "${AWS::Region}")}))
			}
		}
		slices.Sort(dashboards)
		if !slices.Equal(dashboards, slices.Sorted(slices.Values(trackers))) {
			t.Errorf("%s: dashboards %v, want %v beside the trackers", name, dashboards, trackers)
		}
	}
	want := map[string]int{
		"AWS::SNS::Topic":               1,
		"AWS::SNS::Subscription":        len(alarmEmails),
		"AWS::CloudWatch::Dashboard":    len(s.Trackers),
		"AWS::Lambda::Function":         len(s.Functions) + len(s.Trackers),
		"AWS::CloudWatch::Alarm":        3 * (len(s.Functions) + len(s.Trackers)),
		"AWS::Logs::SubscriptionFilter": len(s.Functions) + 2*len(s.Trackers),
	}
	if jsonOf(counts) != jsonOf(want) {
		t.Errorf("resources %v, want %v", counts, want)
	}
	t.Logf("%d stacks", len(stacks))
	sort.Strings(paths)
	cfnlint.Check(t, paths...)
}

// grantsOfRole returns what a role's inline policies allow, by action.
func grantsOfRole(raw object, role string) map[string][]string {
	grants := map[string][]string{}
	r := propsOf(raw["Resources"].(object)[role].(object))
	for _, p := range list(r["Policies"]) {
		for _, s := range list(p.(object)["PolicyDocument"].(object)["Statement"]) {
			for _, a := range list(s.(object)["Action"]) {
				for _, res := range list(s.(object)["Resource"]) {
					grants[a.(string)] = append(grants[a.(string)], describe(raw, res))
				}
			}
		}
	}
	for a := range grants {
		slices.Sort(grants[a])
	}
	return grants
}
