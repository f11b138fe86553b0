package constructs

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/xflowhq/xflow/constructs/spec"
	"github.com/xflowhq/xflow/internal/tracker"
)

// TestNewWorkflowAppErrors: a spec that cannot be built is an error, not a
// panic, and leaves the app as it was. No synth is needed.
func TestNewWorkflowAppErrors(t *testing.T) {
	requireCDK(t)
	asset := fakeTrackerAsset(t, filepath.Join(t.TempDir(), "tracker"))
	cases := []struct {
		name string
		spec func(t *testing.T) *spec.Spec
		opts AppOptions
		want []string
	}{
		{"nil spec", func(*testing.T) *spec.Spec { return nil }, AppOptions{}, []string{"spec: is nil"}},
		{"every problem at once", func(t *testing.T) *spec.Spec {
			s := wordcountSpec(t, t.TempDir())
			s.Functions[0].Subscriptions[0].BatchSize = 0
			s.Functions[1].Emits = []string{"FileLost"}
			s.Trackers[0].LogRetentionDays = 0
			return s
		}, AppOptions{TrackerAssetDir: asset}, []string{
			"functions[0] (lambda_reader).subscriptions[0] (FileUploaded).batch_size: 0 is out of range",
			`functions[1] (lambda_parser).emits[0]: event "FileLost" has no stream`,
			"trackers[0] (compute_word_count).log_retention_days: 0 is not a retention",
		}},
		{"no tracker asset", func(t *testing.T) *spec.Spec { return wordcountSpec(t, t.TempDir()) },
			AppOptions{}, []string{"no tracker asset folder"}},
		// Found only while building the stack: the half-built stack must go.
		{"tracker asset without bootstrap", func(t *testing.T) *spec.Spec { return wordcountSpec(t, t.TempDir()) },
			AppOptions{TrackerAssetDir: t.TempDir()}, []string{"holds no bootstrap binary"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// GIVEN an app and a spec that cannot be built
			app := awscdk.NewApp(nil)
			// WHEN
			stacks, err := NewWorkflowApp(app, c.spec(t), c.opts)
			// THEN
			if err == nil {
				t.Fatal("NewWorkflowApp returned no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if stacks != nil {
				t.Errorf("returned stacks %v along with the error", stacks)
			}
			if n := len(*app.Node().Children()); n != 0 {
				t.Errorf("the app has %d children after the error, want 0", n)
			}
		})
	}

	t.Run("CDK error is recovered", func(t *testing.T) {
		// GIVEN an app that already holds the spec's stack
		app := awscdk.NewApp(nil)
		s := wordcountSpec(t, t.TempDir())
		if _, err := NewWorkflowApp(app, s, AppOptions{TrackerAssetDir: asset}); err != nil {
			t.Fatal(err)
		}
		// WHEN the same stack is added again, which only the CDK detects
		_, err := NewWorkflowApp(app, s, AppOptions{TrackerAssetDir: asset})
		// THEN an error, and the first stack is still there
		if err == nil || !strings.Contains(err.Error(), "build stack wordcount") {
			t.Errorf("err = %v, want the CDK's complaint about the duplicate stack", err)
		}
		if n := len(*app.Node().Children()); n != 1 {
			t.Errorf("the app has %d children, want the first stack only", n)
		}
	})
}

// TestConstructsStandAlone uses the constructs without NewWorkflowApp, as
// a user extending the generated app would: a missing stream is an error,
// and a construct is a scope for the user's own constructs.
func TestConstructsStandAlone(t *testing.T) {
	requireCDK(t)
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("standalone"), nil)
	src := t.TempDir()
	s := wordcountSpec(t, src)

	_, err := NewStep(stack, "Orphan", &StepProps{Function: &s.Functions[0], Streams: map[string]awskinesis.IStream{}})
	if err == nil || !strings.Contains(err.Error(), `subscribed event "FileUploaded": no stream`) {
		t.Errorf("NewStep without streams: err = %v", err)
	}
	_, err = NewStep(stack, "Invalid", &StepProps{Function: &spec.Function{Name: "x"}})
	if err == nil || !strings.Contains(err.Error(), "function x.handler: is empty") {
		t.Errorf("NewStep with an invalid function: err = %v", err)
	}

	streams := map[string]awskinesis.IStream{}
	for i := range s.Streams {
		es, err := NewEventStream(stack, "Stream-"+s.Streams[i].Event, &EventStreamProps{Stream: &s.Streams[i]})
		if err != nil {
			t.Fatal(err)
		}
		streams[es.Event()] = es.Stream()
	}
	step, err := NewStep(stack, "Reader", &StepProps{Function: &s.Functions[0], Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	// A user's construct under the step.
	awssqs.NewQueue(step, jsii.String("Extra"), nil)
	if got := *step.Node().Path(); got != "standalone/Reader" {
		t.Errorf("step path = %s", got)
	}
	if step.FailureQueue() == nil || len(step.Mappings()) != 1 || step.Role() == nil || step.LogGroup() == nil {
		t.Error("step accessors return nothing")
	}
	if got := *step.Function().Runtime().Name(); got != "python3.12" {
		t.Errorf("runtime = %s", got)
	}
}

func TestOptionsFromContext(t *testing.T) {
	requireCDK(t)
	for _, c := range []struct {
		context any
		want    bool
	}{
		{nil, true},
		{true, true},
		{false, false},
		{"false", false}, // cdk synth -c xflow:bootstrapVersionRule=false
		{"true", true},
	} {
		props := &awscdk.AppProps{}
		if c.context != nil {
			props.Context = &map[string]any{ContextBootstrapVersionRule: c.context}
		}
		if got := OptionsFromContext(awscdk.NewApp(props)).BootstrapVersionRule; got != c.want {
			t.Errorf("context %v: BootstrapVersionRule = %v, want %v", c.context, got, c.want)
		}
	}
}

// TestTrackerContract: the constructs and the tracker Lambda agree on the
// environment variable that names the tracking log group.
func TestTrackerContract(t *testing.T) {
	if trackLogGroupEnv != tracker.EnvLogGroup {
		t.Errorf("the tracker construct sets %s, the tracker reads %s", trackLogGroupEnv, tracker.EnvLogGroup)
	}
}

// TestRetentionTable: every retention the spec accepts has a CDK value.
func TestRetentionTable(t *testing.T) {
	var got []int
	for d := range retentionDays {
		got = append(got, d)
	}
	slices.Sort(got)
	if !slices.Equal(got, spec.LogRetentionDays) {
		t.Errorf("retentionDays covers %v, want spec.LogRetentionDays %v", got, spec.LogRetentionDays)
	}
}

// TestGlobLiteral: a file name is matched literally by the CDK's excludes.
func TestGlobLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"lambda_reader.py": "lambda_reader.py",
		"a[1]*.py":         `a\[1\]\*.py`,
		"!x{y}.js":         `\!x\{y\}.js`,
	} {
		if got := globLiteral(in); got != want {
			t.Errorf("globLiteral(%q) = %q, want %q", in, got, want)
		}
	}
}
