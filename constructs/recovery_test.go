package constructs

import (
	"slices"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/internal/cfnlint"
	"github.com/xflowhq/xflow/internal/names"
)

// TestTracingActive: a function with tracing gets Lambda's active tracing
// and a role that may write to X-Ray, inline (no separate policy, which
// grantsOf refuses); one without gets neither; the tracker follows the
// spec too; cfn-lint accepts the template without warning.
func TestTracingActive(t *testing.T) {
	st := sharedSynth(t)["recovery"]
	cases := []struct {
		function string
		traced   bool
	}{{"pack", true}, {"audit", false}, {"tracker_shipping", true}}
	for _, c := range cases {
		t.Run(c.function, func(t *testing.T) {
			_, fn := functionNamed(t, st.raw, c.function)
			got := jsonOf(fn["TracingConfig"])
			if c.traced && got != `{"Mode":"Active"}` {
				t.Errorf("TracingConfig = %s, want {\"Mode\":\"Active\"}", got)
			}
			if !c.traced && fn["TracingConfig"] != nil {
				t.Errorf("TracingConfig = %s, want none", got)
			}
			grants := grantsOf(t, st.raw, c.function)
			for _, a := range xrayActions {
				switch {
				case c.traced && !slices.Equal(grants[a], []string{"*"}):
					t.Errorf("%s on %v, want on *", a, grants[a])
				case !c.traced && grants[a] != nil:
					t.Errorf("%s granted on %v to a function without tracing", a, grants[a])
				}
			}
		})
	}
	res := cfnlint.Check(t, st.path)
	if w := res.Warnings(); len(w) > 0 {
		t.Errorf("cfn-lint warnings:\n%s", strings.Join(w, "\n"))
	}
}

// TestFailureBucket: on_failure bucket makes one bucket for the stack,
// encrypted, TLS only, private, with a lifecycle rule, kept when the stack
// goes; both of audit's mappings send their failures there, and audit's
// role may list it and put objects in it, nothing more, while pack keeps
// its own queue; cfn-lint accepts the template without warning.
func TestFailureBucket(t *testing.T) {
	st := sharedSynth(t)["recovery"]
	buckets := resourcesOf(st.raw, "AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets, want 1 for the stack", len(buckets))
	}
	var bucketID string
	for id, b := range buckets {
		bucketID = id
		p := propsOf(b)
		if got := jsonOf(p["BucketEncryption"]); got != `{"ServerSideEncryptionConfiguration":[{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}` {
			t.Errorf("BucketEncryption = %s", got)
		}
		if got := jsonOf(p["PublicAccessBlockConfiguration"]); got != `{"BlockPublicAcls":true,"BlockPublicPolicy":true,"IgnorePublicAcls":true,"RestrictPublicBuckets":true}` {
			t.Errorf("PublicAccessBlockConfiguration = %s", got)
		}
		rules := list(p["LifecycleConfiguration"].(object)["Rules"])
		if len(rules) != 1 {
			t.Fatalf("lifecycle rules %s, want 1", jsonOf(rules))
		}
		r := rules[0].(object)
		if r["Status"] != "Enabled" || jsonOf(r["ExpirationInDays"]) != "14" || jsonOf(r["AbortIncompleteMultipartUpload"]) != `{"DaysAfterInitiation":1}` {
			t.Errorf("lifecycle rule %s, want enabled, expiring after 14 days, aborting uploads after 1", jsonOf(r))
		}
		if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("DeletionPolicy %v, UpdateReplacePolicy %v, want Retain", b["DeletionPolicy"], b["UpdateReplacePolicy"])
		}
	}
	policies := resourcesOf(st.raw, "AWS::S3::BucketPolicy")
	denies := 0
	for _, bp := range policies {
		p := propsOf(bp)
		if ref(p["Bucket"]) != bucketID {
			t.Errorf("bucket policy on %v, want %s", p["Bucket"], bucketID)
		}
		for _, s := range list(p["PolicyDocument"].(object)["Statement"]) {
			s := s.(object)
			if s["Effect"] == "Deny" && jsonOf(s["Action"]) == `"s3:*"` && jsonOf(s["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` {
				denies++
			}
		}
	}
	if len(policies) != 1 || denies != 1 {
		t.Errorf("%d bucket policies with %d statements denying requests without TLS, want 1 and 1", len(policies), denies)
	}

	// Where each mapping sends its failures.
	dests := map[string][]string{}
	for _, m := range resourcesOf(st.raw, "AWS::Lambda::EventSourceMapping") {
		mp := propsOf(m)
		fn := propsOf(st.raw["Resources"].(object)[ref(mp["FunctionName"])].(object))["FunctionName"].(string)
		dest, _ := mp["DestinationConfig"].(object)
		onFailure, _ := dest["OnFailure"].(object)
		dests[fn] = append(dests[fn], describe(st.raw, onFailure["Destination"]))
	}
	want := map[string][]string{
		"audit":            {"bucket:" + bucketID, "bucket:" + bucketID},
		"pack":             {"queue-of:pack"},
		"tracker_shipping": {"queue-of:tracker_shipping", "queue-of:tracker_shipping"},
	}
	for fn, w := range want {
		if !slices.Equal(dests[fn], w) {
			t.Errorf("%s sends failures to %v, want %v", fn, dests[fn], w)
		}
	}
	if n := len(resourcesOf(st.raw, "AWS::SQS::Queue")); n != 2 {
		t.Errorf("%d queues, want 2 (pack's and the tracker's; audit uses the bucket)", n)
	}

	grants := grantsOf(t, st.raw, "audit")
	wantGrants := expectGrants{}.
		allow(logWriteActions, "log-group:"+names.FunctionLogGroup("audit")).
		allow(streamReadActions, "stream:Ordered", "stream:Packed").
		allow(bucketListActions, "bucket:"+bucketID).
		allow(bucketPutActions, "bucket:"+bucketID+"/*")
	for _, a := range union(keys(grants), keys(wantGrants)) {
		if !slices.Equal(grants[a], wantGrants[a]) {
			t.Errorf("audit: %s on %v, want on %v", a, grants[a], wantGrants[a])
		}
	}
	res := cfnlint.Check(t, st.path)
	if w := res.Warnings(); len(w) > 0 {
		t.Errorf("cfn-lint warnings:\n%s", strings.Join(w, "\n"))
	}
}
