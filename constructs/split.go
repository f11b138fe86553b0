package constructs

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/names"
)

// Stack splitting: which stack each stream, step and tracker of a spec goes
// to, decided in Go from the spec alone, before any construct is created.
//
// CloudFormation caps a stack at 500 resources and its template at 1 MB
// (xflow promises < 450 and < 800 KB, to leave room for what a user adds).
// The assignment has to be stable without a state file: CloudFormation
// replaces a resource that changes stack or logical id, and a replaced
// stream loses its records. So:
//
//   - A spec whose resources fit one stack gets one stack, named after the
//     config, exactly as before splitting existed.
//   - Otherwise streams, steps and trackers go to stacks of their own kind,
//     and within a kind each unit (a stream, a step with its role, log group,
//     queue and mappings, a tracker with its own) goes to a bucket chosen by
//     a hash of its config name, extendible-hashing style: a bucket is a bit
//     prefix of the hash, and it splits in two (by the next bit) only when
//     its units no longer fit a stack. Adding or removing a unit changes
//     only its own bucket's weight, so every other unit stays where it was,
//     unless its bucket overflows, and then only that bucket's units with
//     the next bit set move (the 0 half keeps the stack's name).
//   - A stack's name comes from its bucket's prefix with trailing zeros
//     dropped, so that the 0 half of a split keeps its parent's stack, and
//     the root bucket of streams keeps the config's stack name: when a
//     config outgrows one stack, its streams (the only resources holding
//     data) stay where they are and the functions move out.
//   - Construct ids come from config names, never from positions, and a
//     unit's construct path below its stack is the same in every layout, so
//     its logical ids never change.
//   - Steps and trackers reach streams of other stacks by deterministic ARN
//     (Fn::Sub with the partition, region, account and the stream's name),
//     not by exports, which would lock the stream stacks (an export in use
//     cannot change) and cap at 200 outputs per stack. Stack dependencies
//     order `cdk deploy --all`: streams first, and a stack made by a split
//     after the stack it was split from, so that a moved function is
//     deleted from its old stack before its new stack creates it.
//   - Monitoring and logging add to the units, not between them: a
//     function's alarms and subscription filter are counted in its step, a
//     tracker's with its workflow's dashboard in its tracker, and what a
//     stack needs once (the log shipping role or Lambda permissions; in the
//     first stack, the alarm topic and its subscriptions) as the stack's
//     overhead. Alarms in other stacks reach the topic by its deterministic
//     ARN, and dashboards name functions and streams, so no reference
//     crosses stacks. Without those sections the layout is unchanged.

// Limits of one stack that xflow keeps to: the acceptance bounds.
const (
	MaxStackResources     = 450
	MaxStackTemplateBytes = 800_000
)

// What a bucket may hold before it splits: below the limits, with a margin
// for the stack's own additions (CDKMetadata, a user's constructs) and for
// the error of the size estimate.
const (
	stackResourceBudget = 430
	stackByteBudget     = 640_000
)

// Kinds of stacks.
const (
	StackAll       = "all"       // everything, when it fits one stack
	StackStreams   = "streams"   // event streams
	StackFunctions = "functions" // steps
	StackTrackers  = "trackers"  // workflow trackers
)

// StackPlan is one stack of a layout.
type StackPlan struct {
	// Name is the stack's name (and its construct id).
	Name string
	// Kind is StackAll, StackStreams, StackFunctions or StackTrackers.
	Kind string
	// Bucket is the bit prefix of the hashes of the units it holds; empty
	// for the root bucket.
	Bucket string
	// Indexes into the spec's Streams, Functions and Trackers.
	Streams, Functions, Trackers []int
	// Resources and Bytes estimate the stack's template.
	Resources, Bytes int
	// DependsOn names the stacks that must deploy first.
	DependsOn []string
}

// Layout is where each part of a spec goes, stacks in deploy order.
type Layout struct {
	Stacks []StackPlan
}

// Split tells whether the spec needs more than one stack.
func (l *Layout) Split() bool {
	return len(l.Stacks) > 1 || (len(l.Stacks) == 1 && l.Stacks[0].Kind != StackAll)
}

// StackOf returns the stack that holds a unit: kind StackStreams with an
// event name, StackFunctions with a lambda name, StackTrackers with a
// workflow id.
func (l *Layout) StackOf(s *spec.Spec, kind, name string) string {
	for _, st := range l.Stacks {
		switch kind {
		case StackStreams:
			for _, i := range st.Streams {
				if s.Streams[i].Event == name {
					return st.Name
				}
			}
		case StackFunctions:
			for _, i := range st.Functions {
				if functionKey(&s.Functions[i]) == name {
					return st.Name
				}
			}
		case StackTrackers:
			for _, i := range st.Trackers {
				if workflowKey(&s.Trackers[i]) == name {
					return st.Name
				}
			}
		}
	}
	return ""
}

// unit is one stream, step or tracker with its estimated weight.
type unit struct {
	index            int
	key              string
	hash             uint64
	resources, bytes int
}

// PlanStacks decides the layout of a valid spec. It fails when one unit
// alone cannot fit a stack (a workflow of hundreds of events, say).
func PlanStacks(s *spec.Spec) (*Layout, error) {
	streams := make([]unit, len(s.Streams))
	for i := range s.Streams {
		streams[i] = newUnit(i, s.Streams[i].Event, 1, streamBytes)
	}
	functions := make([]unit, len(s.Functions))
	for i := range s.Functions {
		f := &s.Functions[i]
		functions[i] = newUnit(i, functionKey(f), stepResources(s, f), stepBytes(s, f))
	}
	trackers := make([]unit, len(s.Trackers))
	for i := range s.Trackers {
		t := &s.Trackers[i]
		trackers[i] = newUnit(i, workflowKey(t), trackerResources(s, t), trackerBytes(s, t))
	}

	all := slices.Concat(streams, functions, trackers)
	if r, b := weight(all); fits(r, b, s, StackAll, "") {
		or, ob := stackOverhead(s, StackAll, "")
		return &Layout{Stacks: []StackPlan{{
			Name: s.StackName, Kind: StackAll,
			Streams: indexes(streams), Functions: indexes(functions), Trackers: indexes(trackers),
			Resources: r + or, Bytes: b + ob,
		}}}, nil
	}

	var problems []string
	for _, u := range all {
		if !fits(u.resources, u.bytes, s, StackFunctions, "") {
			problems = append(problems, fmt.Sprintf("%s needs %d resources (~%d KB), more than one stack holds (%d resources, %d KB)",
				u.key, u.resources, u.bytes/1000, stackResourceBudget, stackByteBudget/1000))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("spec: cannot split into stacks: %s", strings.Join(problems, "; "))
	}

	l := &Layout{}
	for _, k := range []struct {
		kind  string
		units []unit
	}{{StackStreams, streams}, {StackFunctions, functions}, {StackTrackers, trackers}} {
		for _, b := range buckets(k.units, "", func(r, by int, prefix string) bool { return fits(r, by, s, k.kind, prefix) }) {
			name := stackName(s.StackName, k.kind, b.prefix)
			if err := names.CheckStackName(name); err != nil {
				return nil, fmt.Errorf("spec: stack %s of the split: %w (use a shorter stack_name)", name, err)
			}
			r, by := weight(b.units)
			or, ob := stackOverhead(s, k.kind, b.prefix)
			st := StackPlan{Name: name, Kind: k.kind, Bucket: b.prefix, Resources: r + or, Bytes: by + ob}
			switch k.kind {
			case StackStreams:
				st.Streams = indexes(b.units)
			case StackFunctions:
				st.Functions = indexes(b.units)
			case StackTrackers:
				st.Trackers = indexes(b.units)
			}
			l.Stacks = append(l.Stacks, st)
		}
	}
	l.addDependencies(s)
	return l, nil
}

// addDependencies orders the deploy: every step or tracker stack after the
// stream stacks it reads or writes and after the config's root stack (the
// stack that held everything before the config outgrew it), and a stack
// made by a split after the one it was split from.
func (l *Layout) addDependencies(s *spec.Spec) {
	streamStack := map[string]string{}
	exists := map[string]bool{}
	for _, st := range l.Stacks {
		exists[st.Name] = true
		for _, i := range st.Streams {
			streamStack[s.Streams[i].Event] = st.Name
		}
	}
	for i := range l.Stacks {
		st := &l.Stacks[i]
		deps := map[string]bool{}
		if st.Kind != StackStreams && exists[s.StackName] {
			deps[s.StackName] = true
		}
		var events []string
		for _, f := range st.Functions {
			fn := &s.Functions[f]
			events = append(events, fn.Emits...)
			for _, sub := range fn.Subscriptions {
				events = append(events, sub.Event)
			}
		}
		for _, t := range st.Trackers {
			events = append(events, s.Trackers[t].Events...)
		}
		for _, e := range events {
			deps[streamStack[e]] = true
		}
		// The stack this one was split from: the bucket's prefix up to its
		// last 1 bit, which names the stack holding the 0 half.
		if b := strings.TrimRight(st.Bucket, "0"); b != "" {
			parent := stackName(s.StackName, st.Kind, b[:len(b)-1])
			if exists[parent] {
				deps[parent] = true
			}
		}
		delete(deps, st.Name)
		delete(deps, "")
		st.DependsOn = slices.Sorted(func(yield func(string) bool) {
			for d := range deps {
				if !yield(d) {
					return
				}
			}
		})
	}
}

type bucket struct {
	prefix string
	units  []unit
}

// buckets splits units by hash prefix until each bucket fits a stack, as
// fit tells for the bucket's weight and prefix. Empty buckets are dropped.
func buckets(units []unit, prefix string, fit func(resources, bytes int, prefix string) bool) []bucket {
	if len(units) == 0 {
		return nil
	}
	if r, b := weight(units); fit(r, b, prefix) || len(prefix) == 64 {
		return []bucket{{prefix: prefix, units: units}}
	}
	bit := uint(63 - len(prefix))
	var zero, one []unit
	for _, u := range units {
		if u.hash>>bit&1 == 0 {
			zero = append(zero, u)
		} else {
			one = append(one, u)
		}
	}
	return append(buckets(zero, prefix+"0", fit), buckets(one, prefix+"1", fit)...)
}

// stackName names the stack of a bucket: the kind's base name, then the
// bucket's prefix without its trailing zeros. The root bucket of streams
// keeps the config's stack name.
func stackName(base, kind, prefix string) string {
	name := base
	if kind != StackStreams && kind != StackAll {
		name += "-" + kind
	}
	if p := strings.TrimRight(prefix, "0"); p != "" {
		if kind == StackStreams {
			name += "-" + StackStreams
		}
		name += "-" + p
	}
	return name
}

func newUnit(i int, key string, resources, bytes int) unit {
	sum := sha256.Sum256([]byte(key))
	return unit{index: i, key: key, hash: binary.BigEndian.Uint64(sum[:8]), resources: resources, bytes: bytes}
}

func weight(units []unit) (resources, bytes int) {
	for _, u := range units {
		resources += u.resources
		bytes += u.bytes
	}
	return resources, bytes
}

func indexes(units []unit) []int {
	out := make([]int, len(units))
	for i, u := range units {
		out[i] = u.index
	}
	slices.Sort(out)
	return out
}

// The construct ids of the units, from their config names.
func functionKey(f *spec.Function) string { return cmp.Or(f.Lambda, f.Name) }
func workflowKey(t *spec.Tracker) string  { return cmp.Or(t.Workflow, t.Name) }

// usesOwnQueue tells whether a mapping sends failures to xflow's queue.
func usesOwnQueue(m spec.Mapping) bool {
	return m.OnFailure == spec.OnFailureQueue || m.OnFailure == ""
}

// fits tells whether units weighing resources and bytes fit a stack of a
// kind and bucket prefix, with what the stack holds besides them.
func fits(resources, bytes int, s *spec.Spec, kind, prefix string) bool {
	r, b := stackOverhead(s, kind, prefix)
	return resources+r <= stackResourceBudget && bytes+b <= stackByteBudget
}

// stackOverhead counts what a stack holds besides its units: the alarm
// topic and its e-mail subscriptions in the first stack (the one stack, or
// the root bucket of streams), in a stack with log groups (any but a
// stream stack) what log shipping needs once per stack: the role of a
// Kinesis or Firehose destination, or a Lambda destination's permissions
// (one for the functions' log groups, one for the tracking log groups),
// and in a stack of functions the failure bucket, when any function uses
// one.
func stackOverhead(s *spec.Spec, kind, prefix string) (resources, bytes int) {
	first := kind == StackAll || (kind == StackStreams && strings.Trim(prefix, "0") == "")
	if m := s.Monitoring; m != nil && m.TopicName != "" && first {
		resources += 2 + len(m.Emails) // the topic, its policy, the subscriptions
		bytes += topicBytes + topicPolicyBytes + subscriptionBytes*len(m.Emails)
	}
	if l := s.Logging; l != nil && kind != StackStreams {
		n := 1
		if k, _ := spec.LogDestinationKind(l.DestinationARN); k == spec.LogToLambda && kind != StackFunctions {
			n = 2
		}
		resources += n
		bytes += bytesPerResource * 2 * n
	}
	// The failure bucket is counted in every stack that may hold a
	// function, whether its functions use it or not: generous, and it keeps
	// the layout independent of which bucket a function lands in.
	if (kind == StackAll || kind == StackFunctions) && usesBucket(s) {
		resources += bucketResources
		bytes += bucketBytes
	}
	return resources, bytes
}

// failureKinds tells whether mappings send failures to xflow's queue, and
// whether to a destination watched by Lambda's DestinationDeliveryFailures
// (an ARN, or the stack's failure bucket).
func failureKinds(mappings ...spec.Mapping) (ownQueue, external bool) {
	for _, m := range mappings {
		ownQueue = ownQueue || usesOwnQueue(m)
		external = external || m.OnFailure == spec.OnFailureARN || m.OnFailure == spec.OnFailureBucket
	}
	return ownQueue, external
}

// usesBucket tells whether a spec sends any function's failures to a
// failure bucket.
func usesBucket(s *spec.Spec) bool {
	for i := range s.Functions {
		for _, sub := range s.Functions[i].Subscriptions {
			if sub.OnFailure == spec.OnFailureBucket {
				return true
			}
		}
	}
	return false
}

// Failure bucket: the bucket and its TLS-only policy, once per stack that
// holds functions.
const (
	bucketResources = 2
	bucketBytes     = 2500
)

// watchResources counts the alarms (Alarms.watch) and subscription filters
// (LogShipping.Subscribe) of a function with logGroups log groups.
func watchResources(s *spec.Spec, subscribed, ownQueue, external bool, logGroups int) int {
	n := 0
	if s.Monitoring != nil {
		n++ // errors
		for _, has := range []bool{subscribed, ownQueue, external} {
			if has {
				n++
			}
		}
	}
	if s.Logging != nil {
		n += logGroups
	}
	return n
}

// stepResources counts what NewStep creates: the function, its log group,
// its role (unless imported), its failure queue and the queue's policy (if
// a subscription uses it), one mapping per subscription, and with
// monitoring and logging its alarms and its log group's subscription
// filter.
func stepResources(s *spec.Spec, f *spec.Function) int {
	n := 2 + len(f.Subscriptions)
	if s.RoleName == "" {
		n++
	}
	mappings := make([]spec.Mapping, len(f.Subscriptions))
	for i, sub := range f.Subscriptions {
		mappings[i] = sub.Mapping
	}
	own, external := failureKinds(mappings...)
	if own {
		n += 2 // the queue and its TLS-only policy
	}
	return n + watchResources(s, len(f.Subscriptions) > 0, own, external, 1)
}

// trackerResources counts what NewWorkflowTracker creates: the function,
// two log groups, its role (unless imported), its queue and its policy, one mapping per
// event, and with monitoring and logging its alarms, the subscription
// filters of its two log groups and the workflow's dashboard.
func trackerResources(s *spec.Spec, t *spec.Tracker) int {
	n := 3 + len(t.Events)
	if s.RoleName == "" {
		n++
	}
	own, external := failureKinds(t.Mapping)
	if own {
		n += 2 // the queue and its TLS-only policy
	}
	if s.Monitoring != nil && s.Monitoring.Dashboards {
		n++
	}
	return n + watchResources(s, len(t.Events) > 0, own, external, 2)
}

// Template bytes, estimated generously from measured templates (about
// 850 bytes per resource on average, 1.9 KB for a role with four
// statements): a flat cost per resource plus what grows with the spec's
// text and with each stream a policy or a mapping names.
const (
	bytesPerResource = 1100
	bytesPerStream   = 500 // a policy statement and a mapping or env entry
	streamBytes      = 700
	topicBytes       = 600
	topicPolicyBytes = 1500 // two statements, a Fn::Sub among them
	// subscriptionBytes is an e-mail subscription, besides the address.
	subscriptionBytes = 500
	// A dashboard's body is a JSON string in the template, its quotes
	// escaped: a fixed part (measured: 2 KB), and a line of a graph per
	// function and per stream (measured: 90 bytes and the name twice).
	dashboardBytes     = 3000
	dashboardLineBytes = 140
)

// ownRoleBytes counts the role of a unit whether or not it is imported:
// the estimate stays generous.
func ownRoleBytes(s *spec.Spec) int {
	if s.RoleName != "" {
		return bytesPerResource
	}
	return 0
}

func stepBytes(s *spec.Spec, f *spec.Function) int {
	n := bytesPerResource*stepResources(s, f) + ownRoleBytes(s) + 2*len(f.Description) + 2*len(f.Code.Path)
	for k, v := range f.Environment {
		n += 2 * (len(k) + len(v) + 16)
	}
	return n + bytesPerStream*(len(f.Subscriptions)+len(f.Emits))
}

func trackerBytes(s *spec.Spec, t *spec.Tracker) int {
	n := bytesPerResource*trackerResources(s, t) + ownRoleBytes(s) + bytesPerStream*len(t.Events) + 4*len(t.LogGroup)
	if s.Monitoring != nil && s.Monitoring.Dashboards {
		n += dashboardBytes
		for _, f := range workflowFunctions(s, t) {
			n += 5 * (dashboardLineBytes + 3*len(f.Name))
		}
		n += 5 * (dashboardLineBytes + 3*len(t.Name))
		for _, e := range t.Events {
			n += 3 * (dashboardLineBytes + 3*(len(e)+len(s.Prefix))) // a stream is named after its event
		}
	}
	return n
}

// workflowFunctions returns the functions subscribed to the events of a
// workflow, in spec order: the ones its dashboard graphs besides its
// tracker.
func workflowFunctions(s *spec.Spec, t *spec.Tracker) []*spec.Function {
	var out []*spec.Function
	for i := range s.Functions {
		f := &s.Functions[i]
		for _, sub := range f.Subscriptions {
			if slices.Contains(t.Events, sub.Event) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
