package constructs

import (
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// TestFailureQueuesRequireTLS: every failure queue xflow creates has a
// queue policy that denies any request not made over TLS
// (AwsSolutions-SQS4); a stack without queues has no queue policy.
func TestFailureQueuesRequireTLS(t *testing.T) {
	for _, name := range []string{"wordcount", "variants", "monitored"} {
		st := sharedSynth(t)[name]
		queues := resourcesOf(st.raw, "AWS::SQS::Queue")
		if len(queues) == 0 {
			t.Fatalf("%s: no failure queue to check", name)
		}
		covered := map[string]bool{}
		for id, r := range resourcesOf(st.raw, "AWS::SQS::QueuePolicy") {
			p := propsOf(r)
			var denies int
			for _, s := range list(p["PolicyDocument"].(object)["Statement"]) {
				s := s.(object)
				if s["Effect"] == "Deny" && jsonOf(s["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` &&
					jsonOf(s["Action"]) == `"sqs:*"` && jsonOf(s["Principal"]) == `{"AWS":"*"}` {
					denies++
				}
			}
			if denies != 1 {
				t.Errorf("%s: queue policy %s has %d statements denying requests without TLS, want 1: %s", name, id, denies, jsonOf(p))
			}
			for _, q := range list(p["Queues"]) {
				covered[ref(q)] = true
			}
		}
		for id := range queues {
			if !covered[id] {
				t.Errorf("%s: failure queue %s has no TLS-only policy", name, id)
			}
		}
	}
	must(t, "the assertion API sees the same", func() {
		sharedSynth(t)["wordcount"].template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), like(object{
			"PolicyDocument": like(object{"Statement": arrayWith(like(object{
				"Effect": "Deny", "Action": "sqs:*", "Condition": object{"Bool": object{"aws:SecureTransport": "false"}},
			}))}),
		}))
	})
}

// TestAlarmTopicRequiresTLS: the alarm topic's policy denies publishing
// without TLS (AwsSolutions-SNS3) and, since it replaces SNS's default
// policy, lets CloudWatch alarms of the account publish.
func TestAlarmTopicRequiresTLS(t *testing.T) {
	st := sharedSynth(t)["monitored"]
	topic := resourceIDOf(t, st.raw, "AWS::SNS::Topic", "TopicName", alarmTopicName)
	policies := resourcesOf(st.raw, "AWS::SNS::TopicPolicy")
	if len(policies) != 1 {
		t.Fatalf("%d topic policies, want 1", len(policies))
	}
	for _, r := range policies {
		p := propsOf(r)
		if ts := list(p["Topics"]); len(ts) != 1 || ref(ts[0]) != topic {
			t.Errorf("the policy is on %s, want the alarm topic %s", jsonOf(p["Topics"]), topic)
		}
		var deny, allow bool
		for _, s := range list(p["PolicyDocument"].(object)["Statement"]) {
			s := s.(object)
			resource := ref(s["Resource"]) == topic
			switch {
			case s["Effect"] == "Deny" && resource && jsonOf(s["Action"]) == `"sns:Publish"` && jsonOf(s["Principal"]) == `{"AWS":"*"}` &&
				jsonOf(s["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}`:
				deny = true
			case s["Effect"] == "Allow" && resource && jsonOf(s["Action"]) == `"sns:Publish"` &&
				jsonOf(s["Principal"]) == `{"Service":"cloudwatch.amazonaws.com"}` && s["Condition"].(object)["ArnLike"] != nil:
				allow = true
			}
		}
		if !deny || !allow {
			t.Errorf("topic policy: deny without TLS %v, allow CloudWatch %v; want both: %s", deny, allow, jsonOf(p["PolicyDocument"]))
		}
	}
	// With an existing topic xflow makes none, and sets no policy on it.
	must(t, "no topic policy for an existing topic", func() {
		sharedSynth(t)["monitored-existing"].template.ResourceCountIs(jsii.String("AWS::SNS::TopicPolicy"), jsii.Number(0))
	})
}
