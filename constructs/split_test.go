package constructs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/xflowhq/xflow/constructs/spec"
)

// chainSpec is a spec of n functions in a chain over n+1 events, with
// workflows of ten events, as bench/genconfig writes (without sources:
// the plan needs none).
func chainSpec(n int, extra ...string) *spec.Spec {
	s := &spec.Spec{StackName: "bench"}
	event := func(i int) string { return fmt.Sprintf("Event%05d", i) }
	for i := 0; i <= n; i++ {
		s.Streams = append(s.Streams, spec.Stream{Event: event(i), Name: event(i)})
	}
	step := func(name string, in, out int) spec.Function {
		f := spec.Function{
			Lambda: name, Name: name, Handler: name + ".handle", Runtime: "python3.12", LogRetentionDays: 14,
			Environment:   map[string]string{"XFLOW_EMITS": event(out), "XFLOW_STREAM_" + strings.ToUpper(event(out)): event(out)},
			Code:          spec.Code{Kind: spec.CodeFile, Path: name + ".py"},
			Subscriptions: []spec.Subscription{{Event: event(in), Mapping: subscriberMapping()}},
		}
		if out <= n {
			f.Emits = []string{event(out)}
		}
		return f
	}
	for i := 0; i < n; i++ {
		s.Functions = append(s.Functions, step(fmt.Sprintf("step_%05d", i), i, i+1))
	}
	for _, name := range extra {
		s.Functions = append(s.Functions, step(name, n, n+1))
	}
	for k := 0; k*10 < n; k++ {
		var flow []string
		for i := k * 10; i <= min(k*10+10, n); i++ {
			flow = append(flow, event(i))
		}
		wf := fmt.Sprintf("chain_%05d", k)
		s.Trackers = append(s.Trackers, spec.Tracker{
			Workflow: wf, Name: "tracker_" + wf, LogGroup: "/xFlow/track/" + wf, LogRetentionDays: 7,
			Events: flow, Mapping: trackerMapping(),
		})
	}
	return s
}

// placement maps each unit ("functions/step_00001") to its stack.
func placement(t *testing.T, s *spec.Spec) map[string]string {
	t.Helper()
	l, err := PlanStacks(s)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, st := range l.Stacks {
		for _, i := range st.Streams {
			out["streams/"+s.Streams[i].Event] = st.Name
		}
		for _, i := range st.Functions {
			out["functions/"+functionKey(&s.Functions[i])] = st.Name
		}
		for _, i := range st.Trackers {
			out["trackers/"+workflowKey(&s.Trackers[i])] = st.Name
		}
	}
	return out
}

// TestPlanSmallSpecOneStack: a spec that fits keeps today's single stack,
// named after the config. A chain of 49 functions is the longest that
// fits (six resources each, with the failure queue's TLS-only policy).
func TestPlanSmallSpecOneStack(t *testing.T) {
	for _, n := range []int{1, 5, 49} {
		l, err := PlanStacks(chainSpec(n))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Stacks) != 1 || l.Stacks[0].Name != "bench" || l.Stacks[0].Kind != StackAll || l.Split() {
			t.Errorf("n=%d: layout %+v, want the one stack bench", n, l.Stacks)
		}
	}
}

// TestPlanBudgets: every stack of every size stays within the budgets,
// every unit is placed exactly once, and dependencies point at stacks of
// the layout, earlier in deploy order (so there is no cycle).
func TestPlanBudgets(t *testing.T) {
	for _, n := range []int{70, 100, 500, 1000, 3000} {
		s := chainSpec(n)
		l, err := PlanStacks(s)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		pos := map[string]int{}
		for i, st := range l.Stacks {
			pos[st.Name] = i
			if st.Resources > stackResourceBudget || st.Bytes > stackByteBudget {
				t.Errorf("n=%d: %s holds %d resources, ~%d bytes", n, st.Name, st.Resources, st.Bytes)
			}
			if st.Kind == StackStreams && len(st.Functions)+len(st.Trackers) > 0 {
				t.Errorf("n=%d: stream stack %s holds functions or trackers", n, st.Name)
			}
			for _, d := range st.DependsOn {
				if p, ok := pos[d]; !ok || p >= i {
					t.Errorf("n=%d: %s depends on %s, which is not an earlier stack", n, st.Name, d)
				}
			}
		}
		for unit, stack := range placement(t, s) {
			seen[unit]++
			_ = stack
		}
		if want := len(s.Streams) + len(s.Functions) + len(s.Trackers); len(seen) != want {
			t.Errorf("n=%d: %d units placed, want %d", n, len(seen), want)
		}
		if l.Stacks[0].Name != "bench" {
			t.Errorf("n=%d: first stack %s, want the root stream stack bench", n, l.Stacks[0].Name)
		}
		t.Logf("n=%d: %d stacks", n, len(l.Stacks))
	}
}

// TestPlanStableUnderGrowth adds functions one at a time, from 300 to 700,
// and checks what moves: nothing, except when a bucket overflows, and then
// only units of that bucket, to the new stack of its 1 half. It counts how
// often a growth step moved anything.
func TestPlanStableUnderGrowth(t *testing.T) {
	base := chainSpec(300)
	var extra []string
	prev := placement(t, base)
	moves, steps := 0, 0
	for i := 0; i < 400; i++ {
		extra = append(extra, fmt.Sprintf("added_%04d", i))
		next := placement(t, chainSpec(300, extra...))
		steps++
		moved := map[string]bool{}
		for unit, from := range prev {
			to, ok := next[unit]
			if !ok {
				t.Fatalf("step %d: %s disappeared", i, unit)
			}
			if to != from {
				moved[unit] = true
				// A split moves units to the 1 half: a stack whose name
				// extends the old one.
				if !strings.HasPrefix(to, strings.TrimSuffix(from, "-functions")) || !strings.HasSuffix(to, "1") {
					t.Errorf("step %d: %s moved from %s to %s, not to the 1 half of a split", i, unit, from, to)
				}
			}
		}
		if len(moved) > 0 {
			moves++
			froms := map[string]bool{}
			for u := range moved {
				froms[prev[u]] = true
			}
			if len(froms) != 1 {
				t.Errorf("step %d: units moved out of %d stacks %v, want one bucket's split", i, len(froms), slices.Sorted(maps.Keys(froms)))
			}
		}
		prev = next
	}
	t.Logf("%d of %d additions moved something (a bucket split)", moves, steps)
	if moves > steps/20 {
		t.Errorf("%d of %d additions moved resources: splits should be rare", moves, steps)
	}
}

// TestPlanAddOneTo500: acceptance 2 at the level of the plan; the
// synthesized version is TestSplitAddFunctionKeepsLogicalIDs.
func TestPlanAddOneTo500(t *testing.T) {
	before := placement(t, chainSpec(500))
	after := placement(t, chainSpec(500, addedFunction))
	for unit, stack := range before {
		if after[unit] != stack {
			t.Errorf("%s moved from %s to %s", unit, stack, after[unit])
		}
	}
	if after["functions/"+addedFunction] == "" {
		t.Error("the added function is not placed")
	}
}

// addedFunction is the function the stability tests add.
const addedFunction = "step_added"

// TestPlanUnitTooLarge: a workflow too long for any stack is an error
// naming it, not a template CloudFormation rejects.
func TestPlanUnitTooLarge(t *testing.T) {
	s := chainSpec(600)
	var all []string
	for _, st := range s.Streams {
		all = append(all, st.Event)
	}
	s.Trackers = append(s.Trackers, spec.Tracker{Workflow: "everything", Name: "tracker_everything",
		LogGroup: "/xFlow/track/everything", LogRetentionDays: 7, Events: all, Mapping: trackerMapping()})
	_, err := PlanStacks(s)
	if err == nil || !strings.Contains(err.Error(), "everything needs 607 resources") {
		t.Errorf("err = %v, want the workflow named", err)
	}
}

func TestStackNames(t *testing.T) {
	for _, c := range []struct{ kind, prefix, want string }{
		{StackStreams, "", "wc"},
		{StackStreams, "000", "wc"},
		{StackStreams, "1", "wc-streams-1"},
		{StackFunctions, "", "wc-functions"},
		{StackFunctions, "0", "wc-functions"},
		{StackFunctions, "0110", "wc-functions-011"},
		{StackTrackers, "1", "wc-trackers-1"},
	} {
		if got := stackName("wc", c.kind, c.prefix); got != c.want {
			t.Errorf("stackName(%s, %q) = %s, want %s", c.kind, c.prefix, got, c.want)
		}
	}
}
