package constructs

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// Helpers that read a synthesized template. Resources are found by their
// AWS names or by following references, never by hard-coded logical ids.

type object = map[string]any

// must runs a CDK assertion: the CDK reports a failed assertion by
// throwing, which jsii turns into a panic that would end the whole test
// binary.
func must(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertion()
}

func like(m object) assertions.Matcher { return assertions.Match_ObjectLike(&m) }

func arrayWith(items ...any) assertions.Matcher { return assertions.Match_ArrayWith(&items) }

// resourcesOf returns the resources of a type, by logical id.
func resourcesOf(raw object, typ string) map[string]object {
	out := map[string]object{}
	for id, r := range raw["Resources"].(object) {
		if r := r.(object); r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func propsOf(r object) object {
	p, _ := r["Properties"].(object)
	return p
}

// functionNamed returns the logical id and properties of a function.
func functionNamed(t *testing.T, raw object, name string) (string, object) {
	t.Helper()
	for id, r := range resourcesOf(raw, "AWS::Lambda::Function") {
		if p := propsOf(r); p["FunctionName"] == name {
			return id, p
		}
	}
	t.Fatalf("no function named %s in the template", name)
	return "", nil
}

// getAtt returns the logical id of {"Fn::GetAtt": [id, attr]}.
func getAtt(v any) (string, bool) {
	m, ok := v.(object)
	if !ok {
		return "", false
	}
	args, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(args) != 2 {
		return "", false
	}
	id, ok := args[0].(string)
	return id, ok
}

// ref returns the logical id of {"Ref": id}.
func ref(v any) string {
	if m, ok := v.(object); ok {
		if id, ok := m["Ref"].(string); ok {
			return id
		}
	}
	return ""
}

// mappingsOf returns the event source mappings of a function, by the name
// of the stream they read.
func mappingsOf(t *testing.T, raw object, function string) map[string]object {
	t.Helper()
	fnID, _ := functionNamed(t, raw, function)
	out := map[string]object{}
	for _, r := range resourcesOf(raw, "AWS::Lambda::EventSourceMapping") {
		p := propsOf(r)
		if ref(p["FunctionName"]) != fnID {
			continue
		}
		out[describe(raw, p["EventSourceArn"])] = p
	}
	return out
}

// describe names what a policy resource or ARN refers to, in the user's
// words: "stream:FileDownloaded", "log-group:/aws/lambda/lambda_reader",
// "queue-of:lambda_reader", or the literal value.
func describe(raw object, v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	// The objects of a bucket: {"Fn::Join": ["", [{"Fn::GetAtt": …}, "/*"]]}.
	if j, ok := v.(object)["Fn::Join"].([]any); ok && len(j) == 2 && j[0] == "" {
		if parts := list(j[1]); len(parts) == 2 && parts[1] == "/*" {
			return describe(raw, parts[0]) + "/*"
		}
	}
	id, ok := getAtt(v)
	if !ok {
		b, _ := json.Marshal(v)
		return string(b)
	}
	r, _ := raw["Resources"].(object)[id].(object)
	p := propsOf(r)
	switch r["Type"] {
	case "AWS::Kinesis::Stream":
		return fmt.Sprint("stream:", p["Name"])
	case "AWS::Logs::LogGroup":
		return fmt.Sprint("log-group:", p["LogGroupName"])
	case "AWS::SQS::Queue":
		// A failure queue belongs to the function whose mappings use it.
		for _, m := range resourcesOf(raw, "AWS::Lambda::EventSourceMapping") {
			mp := propsOf(m)
			dest, _ := mp["DestinationConfig"].(object)
			onFailure, _ := dest["OnFailure"].(object)
			if qid, _ := getAtt(onFailure["Destination"]); qid == id {
				fn := propsOf(raw["Resources"].(object)[ref(mp["FunctionName"])].(object))
				return fmt.Sprint("queue-of:", fn["FunctionName"])
			}
		}
		return "queue:" + id
	case "AWS::S3::Bucket":
		return "bucket:" + id
	}
	return "resource:" + id
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// statements returns every statement of every identity policy of the
// template: inline policies of roles and AWS::IAM::Policy documents.
func statements(raw object) []object {
	var out []object
	add := func(doc any) {
		d, _ := doc.(object)
		for _, s := range list(d["Statement"]) {
			out = append(out, s.(object))
		}
	}
	for _, r := range resourcesOf(raw, "AWS::IAM::Role") {
		for _, p := range list(propsOf(r)["Policies"]) {
			add(p.(object)["PolicyDocument"])
		}
	}
	for _, r := range resourcesOf(raw, "AWS::IAM::Policy") {
		add(propsOf(r)["PolicyDocument"])
	}
	return out
}

// grantsOf returns what a function's own role allows: for each action, the
// sorted descriptions of its resources.
func grantsOf(t *testing.T, raw object, function string) map[string][]string {
	t.Helper()
	_, fn := functionNamed(t, raw, function)
	roleID, ok := getAtt(fn["Role"])
	if !ok {
		t.Fatalf("function %s does not run as a role of the template: %v", function, fn["Role"])
	}
	role := propsOf(raw["Resources"].(object)[roleID].(object))
	if mp := role["ManagedPolicyArns"]; mp != nil {
		t.Errorf("role of %s has managed policies %v, want none", function, mp)
	}
	grants := map[string][]string{}
	for _, p := range list(role["Policies"]) {
		doc := p.(object)["PolicyDocument"].(object)
		for _, s := range list(doc["Statement"]) {
			st := s.(object)
			if st["Effect"] != "Allow" || st["Condition"] != nil || st["NotAction"] != nil || st["NotResource"] != nil {
				t.Errorf("role of %s: unexpected statement %v", function, st)
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					grants[a.(string)] = append(grants[a.(string)], describe(raw, r))
				}
			}
		}
	}
	// Statements of a separate policy attached to the role count too.
	for _, r := range resourcesOf(raw, "AWS::IAM::Policy") {
		for _, role := range list(propsOf(r)["Roles"]) {
			if ref(role) == roleID {
				t.Errorf("role of %s has a separate policy %v; xflow writes inline policies only", function, propsOf(r)["PolicyName"])
			}
		}
	}
	for a := range grants {
		slices.Sort(grants[a])
		grants[a] = slices.Compact(grants[a])
	}
	return grants
}

// expectGrants builds the expected grants of a role.
type expectGrants map[string][]string

func (e expectGrants) allow(actions []string, resources ...string) expectGrants {
	slices.Sort(resources)
	for _, a := range actions {
		e[a] = resources
	}
	return e
}

func anyValue() assertions.Matcher { return assertions.Match_AnyValue() }

func absent() assertions.Matcher { return assertions.Match_Absent() }
