// Package config loads an xflow YAML file into a typed, validated Config.
//
// Decoding is strict (an unknown key is an error, not a silently ignored
// typo) and keeps the line and column of every value, so that every error
// names file:line:column, the path of the value and what to write instead.
// All errors are reported at once. Every config the original xFlow accepted
// loads, including `subscribers:` left empty and stray empty list items.
package config

// Config is one workflow configuration file: the functions, the events they
// listen to, and the workflows to track.
type Config struct {
	General       General        `yaml:"general"`
	AWS           AWS            `yaml:"aws"`
	Lambdas       []Lambda       `yaml:"lambdas"`
	Subscriptions []Subscription `yaml:"subscriptions"`
	Workflows     []Workflow     `yaml:"workflows"`
	// Monitoring and Logging are opt-in: nil when the file has no such
	// section, and then they add nothing to the template.
	Monitoring *Monitoring `yaml:"monitoring"`
	Logging    *Logging    `yaml:"logging"`

	// File is the path the config was loaded from; Dir is its absolute
	// folder, against which local sources are resolved.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
	// Warnings are problems that do not stop a synth (a lambda nothing
	// subscribes to, an empty list item).
	Warnings []*Error `yaml:"-"`

	pos map[string]Pos
}

// General holds settings that apply to the whole file.
type General struct {
	LambdaTimeoutTime int    `yaml:"lambda_timeout_time"`
	LambdaMemory      int    `yaml:"lambda_memory"`
	Architecture      string `yaml:"architecture"`
	NamePrefix        string `yaml:"name_prefix"`
	StackName         string `yaml:"stack_name"`
	LogRetentionDays  int    `yaml:"log_retention_days"`
	TrackRetention    int    `yaml:"track_retention_days"`
	// Tracing is Lambda's X-Ray tracing of every function and tracker:
	// TracingActive or TracingOff.
	Tracing string `yaml:"tracing"`
}

// AWS holds the account-level settings of the original xFlow.
type AWS struct {
	Region                  string   `yaml:"region"`
	Account                 string   `yaml:"account"`
	SubnetIDs               []string `yaml:"subnet_ids"`
	SecurityGroupIDs        []string `yaml:"security_group_ids"`
	LambdaExecutionRoleName string   `yaml:"lambda_execution_role_name"`
}

// Lambda is one entry of lambdas: a step of the workflow, under the name
// the user gave it (Name, the config name). Resolved, it becomes a
// spec.Function, which also has its AWS name (see package spec for the
// names of a step in every package).
type Lambda struct {
	Name             string            `yaml:"name"`
	Description      string            `yaml:"description"`
	Source           string            `yaml:"source"`
	SourceVersion    string            `yaml:"source_version"`
	Handler          string            `yaml:"handler"`
	Runtime          string            `yaml:"runtime"`
	Memory           int               `yaml:"memory"`
	Timeout          int               `yaml:"timeout"`
	Architecture     string            `yaml:"architecture"`
	Environment      map[string]string `yaml:"environment"`
	Emits            *[]string         `yaml:"emits"`
	LogRetentionDays int               `yaml:"log_retention_days"`
	// Bundle is how a Node.js function is packaged: empty for its folder
	// (with `npm ci --omit=dev` when it has a package.json), BundleEsbuild
	// for one file bundled by esbuild.
	Bundle string `yaml:"bundle"`
	// Tracing overrides general.tracing for this function.
	Tracing string `yaml:"tracing"`

	// Code is where the package comes from, resolved from Source.
	Code Code `yaml:"-"`
	// HandlerFrom says which rule made Handler of a handler written
	// without a module (see ResolveHandler): HandlerAsWritten,
	// HandlerFromFile or HandlerFromName.
	HandlerFrom string `yaml:"-"`
}

// BundleEsbuild bundles a Node.js function's handler and what it imports
// into one file with esbuild, as the CDK's NodejsFunction does.
const BundleEsbuild = "esbuild"

// Code kinds of a lambda's source.
const (
	CodeFile = "file" // one local file, packaged alone
	CodeDir  = "dir"  // a local folder
	CodeZip  = "zip"  // a local .zip or .jar package
	CodeS3   = "s3"   // s3://bucket/key, a .zip or .jar
	// CodeGit is a path in a git repository, not fetched yet: package
	// sources fetches it and turns it into a file, dir or zip of its
	// checkout.
	CodeGit = "git"
)

// Code is a lambda's resolved source.
type Code struct {
	Kind string
	// Path is the absolute path of a local source.
	Path string
	// Bucket, Key and Version locate an S3 source.
	Bucket, Key, Version string
	// Git is where a git source comes from; it stays set once the source
	// is fetched and Path names its checkout.
	Git *GitSource
}

// Subscription is an event, its stream, and the functions listening on it.
type Subscription struct {
	Event          string       `yaml:"event"`
	Subscribers    []Subscriber `yaml:"subscribers"`
	Shards         int          `yaml:"shards"`
	RetentionHours int          `yaml:"retention_hours"`
	Mapping        `yaml:",inline"`
}

// Subscriber is one function listening on an event. In YAML it is either
// the lambda's name or a mapping with `lambda:` and settings that override
// the subscription's.
type Subscriber struct {
	Lambda  string `yaml:"lambda"`
	Mapping `yaml:",inline"`
}

// Mapping is how Lambda reads the stream for a subscriber. Unset values
// (nil, "") take the subscription's value, then the default.
type Mapping struct {
	BatchSize               *int      `yaml:"batch_size"`
	BatchWindow             *Duration `yaml:"batch_window"`
	StartingPosition        string    `yaml:"starting_position"`
	RetryAttempts           *int      `yaml:"retry_attempts"`
	MaxRecordAge            *Duration `yaml:"max_record_age"`
	BisectOnError           *bool     `yaml:"bisect_on_error"`
	ParallelizationFactor   *int      `yaml:"parallelization_factor"`
	ReportBatchItemFailures *bool     `yaml:"report_batch_item_failures"`
	OnFailure               string    `yaml:"on_failure"`
}

// Failure destinations xflow makes (on_failure); anything else is "none"
// or an ARN.
const (
	OnFailureQueue  = "queue"  // an SQS queue per function
	OnFailureBucket = "bucket" // an S3 bucket per stack, which keeps the records' payloads
	OnFailureNone   = "none"
)

// Tracing modes (general.tracing, lambdas[].tracing).
const (
	TracingActive = "active" // Lambda's X-Ray active tracing
	TracingOff    = "off"
)

// Workflow is an ordered list of events to track per execution.
type Workflow struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	Flow        []string `yaml:"flow"`
}

// Monitoring asks for CloudWatch alarms on every function and tracker,
// notifying an SNS topic, and a dashboard per workflow. Unset values take
// the defaults.
type Monitoring struct {
	TopicARN             string   `yaml:"topic_arn"`
	Emails               []string `yaml:"emails"`
	Dashboard            *bool    `yaml:"dashboard"`
	Period               Duration `yaml:"period"`
	EvaluationPeriods    int      `yaml:"evaluation_periods"`
	ErrorThreshold       int      `yaml:"error_threshold"`
	IteratorAgeThreshold Duration `yaml:"iterator_age_threshold"`
	TreatMissingData     string   `yaml:"treat_missing_data"`
}

// Logging asks for every log group xflow creates to be shipped to one
// destination.
type Logging struct {
	DestinationARN string     `yaml:"destination_arn"`
	FilterPattern  LogPattern `yaml:"filter_pattern"`
}

// LogPattern is a CloudWatch Logs filter pattern. Its own type, so that a
// pattern YAML reads as a list or a mapping (`[ERROR]`, `{ $.level = 1 }`)
// gets a message that says to quote it.
type LogPattern string

// Duration is a number of seconds, written in YAML as a whole number of
// seconds or as a duration such as 90s, 15m, 6h or 7d.
type Duration int

// Events returns the events the config defines (one per subscription),
// in file order.
func (c *Config) Events() []string {
	out := make([]string, 0, len(c.Subscriptions))
	for _, s := range c.Subscriptions {
		out = append(out, s.Event)
	}
	return out
}

// Lambda returns the lambda with a name.
func (c *Config) Lambda(name string) (*Lambda, bool) {
	for i := range c.Lambdas {
		if c.Lambdas[i].Name == name {
			return &c.Lambdas[i], true
		}
	}
	return nil, false
}

// Subscription returns the subscription of an event.
func (c *Config) Subscription(event string) (*Subscription, bool) {
	for i := range c.Subscriptions {
		if c.Subscriptions[i].Event == event {
			return &c.Subscriptions[i], true
		}
	}
	return nil, false
}

// Workflow returns the workflow with an id.
func (c *Config) Workflow(id string) (*Workflow, bool) {
	for i := range c.Workflows {
		if c.Workflows[i].ID == id {
			return &c.Workflows[i], true
		}
	}
	return nil, false
}

// SubscribersOf returns the names of the lambdas listening on an event.
func (c *Config) SubscribersOf(event string) []string {
	s, ok := c.Subscription(event)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(s.Subscribers))
	for _, sub := range s.Subscribers {
		out = append(out, sub.Lambda)
	}
	return out
}

// EmitsOf returns the events a lambda publishes: its `emits:` list, or
// without one, the event that follows each event it listens to in every
// workflow.
func (c *Config) EmitsOf(lambda string) []string {
	if l, ok := c.Lambda(lambda); ok && l.Emits != nil {
		return *l.Emits
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range c.Subscriptions {
		listens := false
		for _, sub := range s.Subscribers {
			listens = listens || sub.Lambda == lambda
		}
		if !listens {
			continue
		}
		for _, w := range c.Workflows {
			for i, e := range w.Flow {
				if e == s.Event && i+1 < len(w.Flow) && !seen[w.Flow[i+1]] {
					seen[w.Flow[i+1]] = true
					out = append(out, w.Flow[i+1])
				}
			}
		}
	}
	return out
}

// ProducersOf returns the lambdas that publish an event, in file order.
func (c *Config) ProducersOf(event string) []string {
	var out []string
	for _, l := range c.Lambdas {
		for _, e := range c.EmitsOf(l.Name) {
			if e == event {
				out = append(out, l.Name)
				break
			}
		}
	}
	return out
}

// tracingWord is how the config writes a tracing setting.
func tracingWord(active bool) string {
	if active {
		return TracingActive
	}
	return TracingOff
}
