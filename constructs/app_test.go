package constructs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/cfnlint"
	"github.com/xflowhq/xflow/internal/names"
)

// TestWordcountTemplate is acceptance 1 of the synth issue: the seed's
// example gives 6 streams, 5 functions plus the tracker, 5 + 6 mappings
// that all bound retries and send failures somewhere, and a log group with
// a retention per function plus the tracking log group.
func TestWordcountTemplate(t *testing.T) {
	// GIVEN the wordcount spec, WHEN it is synthesized
	wc := sharedSynth(t)["wordcount"]
	tpl, raw := wc.template, wc.raw
	t.Logf("synthesized %d stacks in one app in %s", len(shared.stacks), shared.elapsed)

	// THEN
	t.Run("resource counts", func(t *testing.T) {
		for typ, n := range map[string]int{
			"AWS::Kinesis::Stream":            6,
			"AWS::Lambda::Function":           6,
			"AWS::Lambda::EventSourceMapping": 5 + 6,
			"AWS::Logs::LogGroup":             6 + 1,
			"AWS::SQS::Queue":                 6, // one failure queue per function
			"AWS::SQS::QueuePolicy":           6, // each queue's TLS-only policy
			"AWS::IAM::Role":                  6, // one role per function
			"AWS::IAM::Policy":                0, // policies are inline
		} {
			must(t, typ, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
		}
		if n := len(raw["Resources"].(object)); n != 48 {
			t.Errorf("template has %d resources, want 48 (6 streams, 6 per function, 12 for the tracker)", n)
		}
	})

	t.Run("streams", func(t *testing.T) {
		for _, e := range wordcountEvents {
			must(t, "stream "+e, func() {
				tpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), object{
					"Name":                 e,
					"ShardCount":           1,
					"RetentionPeriodHours": 24,
					"StreamModeDetails":    object{"StreamMode": "PROVISIONED"},
					"StreamEncryption":     object{"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
				})
			})
		}
		must(t, "streams are deleted with the stack", func() {
			tpl.AllResources(jsii.String("AWS::Kinesis::Stream"), object{"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})
		})
		// Without an explicit encryption the CDK adds a condition on the
		// regions without Kinesis encryption.
		if c, ok := raw["Conditions"]; ok {
			t.Errorf("template has conditions %v, want none", c)
		}
	})

	t.Run("functions", func(t *testing.T) {
		for _, st := range wordcountSteps {
			must(t, "function "+st.lambda, func() {
				tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), object{
					"FunctionName":  st.lambda,
					"Handler":       st.lambda + "." + st.handler,
					"Runtime":       "python3.12",
					"Architectures": []any{"x86_64"},
					"MemorySize":    128,
					"Timeout":       10,
				})
			})
		}
		must(t, "tracker", func() {
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), object{
				"FunctionName":  wordcountTracker,
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"Environment":   object{"Variables": object{trackLogGroupEnv: wordcountTrackLog}},
			})
		})
		_, tracker := functionNamed(t, raw, wordcountTracker)
		if _, ok := tracker["Environment"].(object)["Variables"].(object)[names.EnvPrefix]; ok {
			t.Errorf("tracker has %s without a prefix", names.EnvPrefix)
		}
	})

	t.Run("log groups", func(t *testing.T) {
		must(t, "tracking log group", func() {
			tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), object{
				"LogGroupName": wordcountTrackLog, "RetentionInDays": 7,
			})
		})
		must(t, "every log group has a retention and goes with the stack", func() {
			tpl.AllResources(jsii.String("AWS::Logs::LogGroup"), object{
				"Properties":     like(object{"RetentionInDays": anyValue()}),
				"DeletionPolicy": "Delete",
			})
		})
		fns := []string{wordcountTracker}
		for _, st := range wordcountSteps {
			fns = append(fns, st.lambda)
		}
		for _, fn := range fns {
			// The function writes to the log group named after it,
			// created by the stack rather than by Lambda.
			_, p := functionNamed(t, raw, fn)
			lg := raw["Resources"].(object)[ref(p["LoggingConfig"].(object)["LogGroup"])].(object)
			if got, want := propsOf(lg)["LogGroupName"], names.FunctionLogGroup(fn); got != want {
				t.Errorf("function %s logs to %v, want %s", fn, got, want)
			}
		}
	})

	t.Run("mappings", func(t *testing.T) {
		must(t, "every mapping bounds retries and has an on-failure destination", func() {
			tpl.AllResourcesProperties(jsii.String("AWS::Lambda::EventSourceMapping"), object{
				"MaximumRetryAttempts":       anyValue(),
				"MaximumRecordAgeInSeconds":  anyValue(),
				"BisectBatchOnFunctionError": true,
				"DestinationConfig":          object{"OnFailure": object{"Destination": anyValue()}},
			})
		})
		for i, st := range wordcountSteps {
			m := mappingsOf(t, raw, st.lambda)
			if len(m) != 1 || m["stream:"+wordcountEvents[i]] == nil {
				t.Errorf("%s reads %v, want only %s", st.lambda, keys(m), wordcountEvents[i])
			}
		}
		tm := mappingsOf(t, raw, wordcountTracker)
		for _, e := range wordcountEvents {
			p := tm["stream:"+e]
			if p == nil {
				t.Errorf("tracker does not read %s", e)
				continue
			}
			if !slices.Equal(list(p["FunctionResponseTypes"]), []any{"ReportBatchItemFailures"}) || p["BatchSize"] != 500.0 {
				t.Errorf("tracker mapping on %s = %v, want the tracker's settings with ReportBatchItemFailures", e, p)
			}
		}
	})

	t.Run("failure queues", func(t *testing.T) {
		must(t, "queues", func() {
			tpl.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), object{
				"SqsManagedSseEnabled":   true,
				"MessageRetentionPeriod": 14 * 24 * 3600,
			})
		})
	})

	t.Run("tags", func(t *testing.T) {
		for _, typ := range []string{"AWS::Kinesis::Stream", "AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::SQS::Queue", "AWS::IAM::Role", "AWS::Lambda::EventSourceMapping"} {
			must(t, typ, func() {
				tpl.AllResourcesProperties(jsii.String(typ), object{
					"Tags": arrayWith(object{"Key": TagWorkflowConfig, "Value": "wordcount"}),
				})
			})
		}
	})

	t.Run("bootstrap version rule", func(t *testing.T) {
		if _, ok := raw["Rules"].(object)["CheckBootstrapVersion"]; !ok {
			t.Error("wordcount (BootstrapVersionRule true) has no CheckBootstrapVersion rule")
		}
		for _, name := range []string{"variants", "imported", "producer", "consumer"} {
			if r, ok := shared.stacks[name].raw["Rules"]; ok {
				t.Errorf("%s (BootstrapVersionRule false) has rules %v", name, r)
			}
		}
	})
}

// TestLeastPrivilege checks each own role statement by statement: a
// function may write only its own log group, read only the streams it
// subscribes to, write only the streams it emits, and deliver only to its
// failure destinations; in a VPC it may also manage network interfaces.
func TestLeastPrivilege(t *testing.T) {
	stacks := sharedSynth(t)
	logs := func(fn string) string { return "log-group:" + names.FunctionLogGroup(fn) }
	queueOf := func(fn string) string { return "queue-of:" + fn }
	stream := func(name string) string { return "stream:" + name }

	type want struct {
		stack, function string
		grants          expectGrants
	}
	var cases []want
	for i, st := range wordcountSteps {
		cases = append(cases, want{"wordcount", st.lambda, expectGrants{}.
			allow(logWriteActions, logs(st.lambda)).
			allow(streamReadActions, stream(wordcountEvents[i])).
			allow(streamWriteActions, stream(wordcountEvents[i+1])).
			allow(queueSendActions, queueOf(st.lambda))})
	}
	all := make([]string, len(wordcountEvents))
	for i, e := range wordcountEvents {
		all[i] = stream(e)
	}
	cases = append(cases, want{"wordcount", wordcountTracker, expectGrants{}.
		allow(logWriteActions, logs(wordcountTracker), "log-group:"+wordcountTrackLog).
		allow(streamReadActions, all...).
		allow(queueSendActions, queueOf(wordcountTracker))})

	p := variantsPrefix
	cases = append(cases,
		want{"variants", p + "from_dir", expectGrants{}.
			allow(logWriteActions, logs(p+"from_dir")).
			allow(streamReadActions, stream(p+"In")).
			allow(streamWriteActions, stream(p+"Out")).
			allow(queueSendActions, failureQueue).
			allow(vpcActions, "*")},
		want{"variants", p + "from_zip", expectGrants{}.
			allow(logWriteActions, logs(p+"from_zip")).
			allow(streamReadActions, stream(p+"Out")).
			allow(streamWriteActions, stream(p+"Audit"), stream(p+"In")).
			allow(topicPublishActions, failureTopic).
			allow(vpcActions, "*")},
		want{"variants", p + "from_s3", expectGrants{}.
			allow(logWriteActions, logs(p+"from_s3")).
			allow(streamReadActions, stream(p+"Audit"), stream(p+"In")).
			allow(queueSendActions, queueOf(p+"from_s3")).
			allow(vpcActions, "*")},
		// The tracker stays out of the VPC.
		want{"variants", p + "tracker_audit_flow", expectGrants{}.
			allow(logWriteActions, logs(p+"tracker_audit_flow"), "log-group:/xFlow/track/"+p+"audit_flow").
			allow(streamReadActions, stream(p+"In"), stream(p+"Out"), stream(p+"Audit")).
			allow(queueSendActions, queueOf(p+"tracker_audit_flow"))},
	)

	for _, c := range cases {
		t.Run(c.stack+"/"+c.function, func(t *testing.T) {
			got := grantsOf(t, stacks[c.stack].raw, c.function)
			for _, a := range union(keys(got), keys(c.grants)) {
				if !slices.Equal(got[a], c.grants[a]) {
					t.Errorf("%s on %v, want on %v", a, got[a], c.grants[a])
				}
			}
		})
	}
}

// TestNoWildcardResources walks every identity policy of every template:
// a statement on Resource "*" may only hold the allow-listed VPC actions,
// and no action is a wildcard.
func TestNoWildcardResources(t *testing.T) {
	stacks := sharedSynth(t)
	wildcards := 0
	for name, st := range stacks {
		for _, s := range statements(st.raw) {
			for _, a := range list(s["Action"]) {
				if strings.Contains(a.(string), "*") {
					t.Errorf("%s: wildcard action %v in %v", name, a, s)
				}
			}
			if !slices.Contains(list(s["Resource"]), any("*")) {
				continue
			}
			wildcards++
			for _, a := range list(s["Action"]) {
				if !wildcardAllowed(a.(string)) {
					t.Errorf("%s: %v granted on Resource \"*\" in %v", name, a, s)
				}
			}
		}
	}
	// The variants stack has three functions in a VPC, and the recovery
	// stack traces a function and its tracker: the walk must have seen
	// their statements, or it proves nothing.
	if wildcards != 5 {
		t.Errorf("saw %d statements on Resource \"*\", want 5 (the VPC statements of the variants stack, the X-Ray ones of the recovery stack)", wildcards)
	}
}

// TestWildcardAllowList pins the actions allowed on Resource "*": the
// network interface actions Lambda needs in a VPC, X-Ray's for active
// tracing, and nothing else.
func TestWildcardAllowList(t *testing.T) {
	want := []string{
		"ec2:AssignPrivateIpAddresses",
		"ec2:CreateNetworkInterface",
		"ec2:DeleteNetworkInterface",
		"ec2:DescribeNetworkInterfaces",
		"ec2:DescribeSubnets",
		"ec2:UnassignPrivateIpAddresses",
	}
	got := slices.Sorted(slices.Values(vpcActions))
	if !slices.Equal(got, want) {
		t.Errorf("vpcActions = %v, want %v", got, want)
	}
	if got := slices.Sorted(slices.Values(xrayActions)); !slices.Equal(got, []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}) {
		t.Errorf("xrayActions = %v", got)
	}
	for _, a := range append(want, xrayActions...) {
		if !wildcardAllowed(a) {
			t.Errorf("wildcardAllowed(%s) = false", a)
		}
	}
	for _, actions := range [][]string{streamReadActions, streamWriteActions, logWriteActions, queueSendActions, topicPublishActions, logsToKinesisActions, logsToFirehoseActions, bucketListActions, bucketPutActions} {
		for _, a := range actions {
			if wildcardAllowed(a) {
				t.Errorf("wildcardAllowed(%s) = true, want only the VPC and X-Ray actions", a)
			}
		}
	}
}

// TestVariants covers the settings the wordcount example does not use.
func TestVariants(t *testing.T) {
	st := sharedSynth(t)["variants"]
	tpl, raw := st.template, st.raw
	p := variantsPrefix
	vpc := object{"SubnetIds": []any{subnetA, subnetB}, "SecurityGroupIds": []any{securityGroup}}

	functions := []struct {
		name  string
		props object
	}{
		{p + "from_dir", object{"Runtime": "nodejs22.x", "Architectures": []any{"arm64"}, "MemorySize": 256, "Timeout": 30, "VpcConfig": vpc}},
		{p + "from_zip", object{"Runtime": "java21", "Handler": "com.example.Handler::handle", "VpcConfig": vpc}},
		{p + "from_s3", object{
			"Runtime":       "python3.14",
			"Architectures": []any{"x86_64"},
			"Code":          object{"S3Bucket": codeBucket, "S3Key": codeKey, "S3ObjectVersion": codeVersion},
			"MemorySize":    absent(),
			"Timeout":       absent(),
			"Environment":   absent(),
			"VpcConfig":     vpc,
		}},
		{p + "tracker_audit_flow", object{
			"VpcConfig":   absent(),
			"MemorySize":  spec.TrackerMemoryMB,
			"Timeout":     spec.TrackerTimeoutSeconds,
			"Environment": object{"Variables": object{trackLogGroupEnv: "/xFlow/track/" + p + "audit_flow", names.EnvPrefix: p}},
		}},
	}
	for _, f := range functions {
		must(t, f.name, func() {
			f.props["FunctionName"] = f.name
			tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), f.props)
		})
	}

	mappings := []struct {
		function, stream string
		want             object
	}{
		{p + "from_dir", p + "In", object{
			"MaximumBatchingWindowInSeconds": 5.0,
			"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
			"ParallelizationFactor":          2.0,
			"MaximumRetryAttempts":           -1.0,
			"MaximumRecordAgeInSeconds":      -1.0,
			"BisectBatchOnFunctionError":     false,
			"StartingPosition":               "LATEST",
			"DestinationConfig":              object{"OnFailure": object{"Destination": failureQueue}},
		}},
		{p + "from_zip", p + "Out", object{
			"DestinationConfig":              object{"OnFailure": object{"Destination": failureTopic}},
			"MaximumBatchingWindowInSeconds": nil,
			"FunctionResponseTypes":          nil,
		}},
		{p + "from_s3", p + "Audit", object{"DestinationConfig": nil}}, // on_failure none
		{p + "from_s3", p + "In", object{"MaximumRetryAttempts": 3.0, "MaximumRecordAgeInSeconds": 3600.0}},
	}
	for _, m := range mappings {
		got := mappingsOf(t, raw, m.function)["stream:"+m.stream]
		if got == nil {
			t.Errorf("%s has no mapping on %s", m.function, m.stream)
			continue
		}
		for k, v := range m.want {
			if g, w := jsonOf(got[k]), jsonOf(v); g != w {
				t.Errorf("%s on %s: %s = %s, want %s", m.function, m.stream, k, g, w)
			}
		}
	}
	if q := mappingsOf(t, raw, p+"from_s3")["stream:"+p+"In"]["DestinationConfig"]; !strings.Contains(jsonOf(q), "Fn::GetAtt") {
		t.Errorf("from_s3 on In sends failures to %s, want its own queue", jsonOf(q))
	}
	// Only from_s3 (one queue-backed subscription) and the tracker have a
	// failure queue: ARN and "none" destinations create none.
	must(t, "queues", func() { tpl.ResourceCountIs(jsii.String("AWS::SQS::Queue"), jsii.Number(2)) })

	streams := []object{
		{"Name": p + "In", "ShardCount": 2, "RetentionPeriodHours": 48},
		{"Name": p + "Out", "ShardCount": spec.DefaultShards, "RetentionPeriodHours": spec.DefaultRetentionHours},
	}
	for _, s := range streams {
		must(t, "stream "+s["Name"].(string), func() { tpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), s) })
	}
	for name, days := range map[string]int{p + "from_zip": 1, p + "from_s3": 3653, p + "from_dir": 30} {
		must(t, "log group of "+name, func() {
			tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), object{
				"LogGroupName": names.FunctionLogGroup(name), "RetentionInDays": days,
			})
		})
	}
	if got := *st.stack.Region() + "/" + *st.stack.Account(); got != "eu-west-1/123456789012" {
		t.Errorf("variants stack environment = %s, want eu-west-1/123456789012", got)
	}
}

// TestImportedRole runs every function as an existing role: no role or
// policy is created, and the role is referred to by name.
func TestImportedRole(t *testing.T) {
	st := sharedSynth(t)["imported"]
	must(t, "no role", func() { st.template.ResourceCountIs(jsii.String("AWS::IAM::Role"), jsii.Number(0)) })
	must(t, "no policy", func() { st.template.ResourceCountIs(jsii.String("AWS::IAM::Policy"), jsii.Number(0)) })
	must(t, "functions run as the role", func() {
		st.template.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), object{
			"Role": object{"Fn::Join": []any{"", arrayWith(":role/" + importedRole)}},
		})
	})
	must(t, "in the VPC", func() {
		st.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), object{
			"FunctionName": "pinger",
			"VpcConfig":    object{"SubnetIds": []any{subnetA}, "SecurityGroupIds": []any{securityGroup}},
		})
	})
}

// TestCrossStackStreams: a step works with a stream of another stack; the
// CDK exports the stream's ARN from its stack and imports it where the
// step's mapping and role need it.
func TestCrossStackStreams(t *testing.T) {
	stacks := sharedSynth(t)
	producer, consumer := stacks["producer"], stacks["consumer"]
	if len(producer.raw["Outputs"].(object)) == 0 {
		t.Error("producer exports nothing")
	}
	m := mappingsOf(t, consumer.raw, "echo")
	if len(m) != 1 {
		t.Fatalf("echo has %d mappings, want 1", len(m))
	}
	for _, p := range m {
		if !strings.Contains(jsonOf(p["EventSourceArn"]), "Fn::ImportValue") {
			t.Errorf("echo reads %s, want the imported stream ARN", jsonOf(p["EventSourceArn"]))
		}
	}
	imports := 0
	for _, s := range statements(consumer.raw) {
		if strings.HasPrefix(jsonOf(s["Action"]), `["kinesis:`) {
			if !strings.Contains(jsonOf(s["Resource"]), "Fn::ImportValue") {
				t.Errorf("kinesis statement on %s, want the imported stream ARN", jsonOf(s["Resource"]))
			}
			imports++
		}
	}
	if imports != 2 {
		t.Errorf("%d kinesis statements, want read and write", imports)
	}
	if deps := consumer.stack.Dependencies(); deps == nil || len(*deps) != 1 || *(*deps)[0].StackName() != "producer" {
		t.Error("consumer does not depend on producer")
	}
}

// TestPlaceholdersNeverRendered: the VPC stand-in the CDK's Function needs
// must not reach a template.
func TestPlaceholdersNeverRendered(t *testing.T) {
	for name, st := range sharedSynth(t) {
		b, err := os.ReadFile(st.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{unknownVPCID, unknownAZ} {
			if strings.Contains(string(b), p) {
				t.Errorf("%s template contains the placeholder %s", name, p)
			}
		}
	}
}

// TestFunctionPackages opens the staged assets, which the CDK CLI zips as
// they are: a file source is packaged alone, a folder whole, a zip as is,
// and the tracker's asset is its bootstrap binary.
func TestFunctionPackages(t *testing.T) {
	stacks := sharedSynth(t)
	cases := []struct {
		stack, function string
		want            []string // files of the package; nil for a .zip uploaded as is
		zip             string
	}{
		{stack: "wordcount", function: "lambda_reader", want: []string{"lambda_reader.py"}},
		{stack: "wordcount", function: "lambda_summarizer", want: []string{"lambda_summarizer.py"}},
		{stack: "wordcount", function: wordcountTracker, want: []string{TrackerBinary}},
		{stack: "imported", function: "pinger", want: []string{"pinger.py"}},
		{stack: "variants", function: variantsPrefix + "from_dir", want: []string{"index.js", "lib/util.js"}},
		{stack: "variants", function: variantsPrefix + "from_zip", zip: filepath.Join(shared.dir, "src", "from_zip.zip")},
	}
	for _, c := range cases {
		t.Run(c.function, func(t *testing.T) {
			_, fn := functionNamed(t, stacks[c.stack].raw, c.function)
			key, _ := fn["Code"].(object)["S3Key"].(string)
			hash, ok := strings.CutSuffix(key, ".zip")
			if !ok {
				t.Fatalf("S3Key = %q, want <asset hash>.zip", key)
			}
			if c.zip != "" {
				got, err := os.ReadFile(filepath.Join(shared.outdir, "asset."+hash+".zip"))
				if err != nil {
					t.Fatal(err)
				}
				want, _ := os.ReadFile(c.zip)
				if string(got) != string(want) {
					t.Error("the staged package differs from the source .zip")
				}
				return
			}
			var files []string
			root := filepath.Join(shared.outdir, "asset."+hash)
			err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(root, path)
					files = append(files, filepath.ToSlash(rel))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(files)
			if !slices.Equal(files, c.want) {
				t.Errorf("package holds %v, want %v", files, c.want)
			}
		})
	}
}

// TestTemplatesLint is acceptance 2: cfn-lint accepts every template, and
// has no warning left (W3005 is acknowledged on the functions themselves,
// see ownRoleDependency).
func TestTemplatesLint(t *testing.T) {
	var paths []string
	for _, st := range sharedSynth(t) {
		paths = append(paths, st.path)
	}
	sort.Strings(paths)
	res := cfnlint.Check(t, paths...)
	if w := res.Warnings(); len(w) > 0 {
		t.Errorf("cfn-lint warnings:\n%s", strings.Join(w, "\n"))
	}
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func union(a, b []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(append(a, b...))))
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
