package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/xflowhq/xflow/constructs/spec"
)

// Environment variables that override the file, as in the original xFlow.
const (
	EnvRegion      = "REGION"
	EnvRoleName    = "LAMBDA_EXECUTION_ROLE_NAME"
	EnvTimeoutTime = "LAMBDA_TIMEOUT_TIME"
)

// Limits on the size of a config. Far beyond what one deployment holds
// (AWS's default quota is 500 Kinesis shards per account), they bound the
// time and memory of a check: a 50 MB file of 600,000 lambdas took 84 s
// and 2.7 GB, and passed. A 5000-lambda config is under
// 1 MB and loads in about half a second.
const (
	MaxConfigBytes = 4 << 20 // the file
	MaxLambdas     = 5000
	MaxEvents      = 5000 // subscriptions, one stream each
	MaxWorkflows   = 5000
)

// Load reads, decodes, completes and validates a config file. On failure
// the error is an Errors listing every problem found.
func Load(path string) (*Config, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("config %s is a folder; give the config file in it, such as %s", path, filepath.Join(path, "xflow.yaml"))
	case err == nil && fi.Size() > MaxConfigBytes:
		return nil, Errors{tooLarge(path, fi.Size())}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	// Bounded: a file may grow after the Stat, or be a pipe.
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.Getenv)
}

func tooLarge(path string, size int64) *Error {
	return &Error{File: path, Msg: fmt.Sprintf("the file is %d bytes, more than the %d (%d MiB) a config may have", size, MaxConfigBytes, MaxConfigBytes>>20),
		Hint: "split it into several configs, each deployed on its own (general.name_prefix or general.stack_name keeps them apart)"}
}

// sectionLimits are the longest lists a config may have, by key.
var sectionLimits = []struct {
	key, what string
	max       int
}{
	{"lambdas", "lambdas", MaxLambdas},
	{"subscriptions", "events", MaxEvents},
	{"workflows", "workflows", MaxWorkflows},
}

// checkLimits refuses lists longer than their limit before anything is
// decoded from them.
func checkLimits(path string, root *yaml.Node) Errors {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var errs Errors
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		for _, l := range sectionLimits {
			if k.Value == l.key && v.Kind == yaml.SequenceNode && len(v.Content) > l.max {
				errs = append(errs, &Error{File: path, Pos: posOf(k), Path: l.key,
					Msg:  fmt.Sprintf("%d %s, more than the %d a config may have", len(v.Content), l.what, l.max),
					Hint: "split it into several configs, each deployed on its own (general.name_prefix or general.stack_name keeps them apart)"})
			}
		}
	}
	return errs
}

// Parse is Load for a file already read; getenv supplies the environment
// overrides (os.Getenv in production, a map in tests).
func Parse(path string, data []byte, getenv func(string) string) (*Config, error) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("locate config: %w", err)
	}
	c := &Config{File: path, Dir: dir, pos: map[string]Pos{}}
	d := &decoder{file: path, pos: c.pos}

	if len(data) > MaxConfigBytes {
		return nil, Errors{tooLarge(path, int64(len(data)))}
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, yamlError(path, data, err)
	}
	if root == nil {
		return nil, Errors{{File: path, Msg: "the file is empty", Hint: "start from examples/wordcount/xflow.yaml or run xflow init"}}
	}
	if errs := checkLimits(path, root); len(errs) > 0 {
		return nil, errs
	}
	d.decode(root, reflect.ValueOf(c).Elem(), "")
	c.Warnings = d.warnings
	v := &validator{c: c, errs: d.errs, env: map[string]string{}}
	v.applyEnv(getenv)
	v.validate()
	c.applyDefaults()
	v.errs = dropImpliedMissing(v.errs)
	if len(v.errs) > 0 {
		v.errs.sort()
		return nil, v.errs
	}
	Errors(c.Warnings).sort()
	return c, nil
}

// misspeltRe reads the key an unknown key's hint suggests.
var misspeltRe = regexp.MustCompile(`did you mean "([a-z_]+)"`)

// dropImpliedMissing leaves out "has no runtime" beside `unknown key
// "runtme" (did you mean "runtime"?)`: one mistake, said once, where it
// was made.
func dropImpliedMissing(errs Errors) Errors {
	misspelt := map[string]bool{} // paths of the keys the typos meant
	for _, e := range errs {
		if m := misspeltRe.FindStringSubmatch(e.Hint); m != nil && strings.HasPrefix(e.Msg, "unknown key") {
			misspelt[join(parentPath(e.Path), m[1])] = true
		}
	}
	if len(misspelt) == 0 {
		return errs
	}
	return slices.DeleteFunc(errs, func(e *Error) bool {
		return misspelt[e.Path] && strings.Contains(e.Msg, " has no ")
	})
}

// parseYAML returns the document's root node, nil for an empty file. A
// second document in the file is refused: it would be silently ignored.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: a second YAML document (---) is not allowed; keep one document per file", extra.Line)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an
// Error with the file's position.
func yamlError(path string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: path, Msg: "invalid YAML: " + msg, Hint: "check the indentation and the quoting around that line"}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ":"); ok {
			if line, err := strconv.Atoi(num); err == nil {
				e.Pos = Pos{Line: line, Col: 1}
				e.Msg = "invalid YAML:" + tail
			}
		}
	}
	switch {
	case isIndentationError(msg):
		// yaml.v3 reports the start of the block the parser was in, not
		// the line that broke it: find that line.
		if pos, hint, ok := misindentedLine(data, strings.TrimPrefix(e.Msg, "invalid YAML:")); ok {
			e.Pos, e.Hint = pos, hint
		}
	case strings.Contains(msg, "tab character"):
		// yaml.v3 gives the line of the value the tab interrupts; the tab
		// itself is what to fix.
		if pos, ok := firstIndentTab(data); ok {
			e.Pos = pos
		}
		e.Hint = "indent with spaces: YAML does not allow tabs in indentation"
	case strings.Contains(msg, "second YAML document"):
		e.Hint = ""
	}
	return Errors{e}
}

// indentationErrors are the parser errors of yaml.v3 that a line
// indented differently from its block causes.
var indentationErrors = []string{
	"did not find expected key",
	"did not find expected '-' indicator",
	"mapping values are not allowed in this context",
	"block sequence entries are not allowed in this context",
	"did not find expected <document start>",
}

func isIndentationError(msg string) bool {
	return slices.ContainsFunc(indentationErrors, func(m string) bool { return strings.Contains(msg, m) })
}

// misindentedLine finds the line that causes an indentation error: the
// first line such that the file up to it fails to parse with the same
// error. Parsing stops at the first bad token, and a prefix cut at a line
// boundary closes its blocks cleanly, so every longer prefix fails the
// same way and a binary search finds it. The hint names the columns at
// which the blocks above that line start.
func misindentedLine(data []byte, msg string) (Pos, string, bool) {
	msg = strings.TrimSpace(msg)
	lines := strings.SplitAfter(string(data), "\n")
	failsAt := func(n int) bool {
		_, err := parseYAML([]byte(strings.Join(lines[:n], "")))
		return err != nil && strings.HasSuffix(err.Error(), msg)
	}
	if !failsAt(len(lines)) {
		return Pos{}, "", false
	}
	lo, hi := 1, len(lines) // failsAt(hi); find the smallest
	for lo < hi {
		mid := (lo + hi) / 2
		if failsAt(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	line := strings.TrimRight(lines[hi-1], "\r\n")
	col := len(line) - len(strings.TrimLeft(line, " ")) + 1
	cols := blockColumns(lines[:hi-1])
	var hint string
	if len(cols) > 0 && !slices.Contains(cols, col) {
		shown := make([]string, len(cols))
		for i, c := range cols {
			shown[i] = strconv.Itoa(c)
		}
		list := "column " + shown[0]
		if n := len(shown); n > 1 {
			list = "columns " + strings.Join(shown[:n-1], ", ") + " and " + shown[n-1]
		}
		hint = fmt.Sprintf("line %d starts at column %d, and the blocks above it at %s: indent it like the other lines of its block",
			hi, col, list)
	} else {
		hint = fmt.Sprintf("check the indentation of line %d against the lines above it, and the quoting of its value", hi)
	}
	return Pos{Line: hi, Col: col}, hint, true
}

// blockColumns returns the columns (1-based) at which the blocks that
// enclose the line after lines start: going up, each line indented less
// than those below it opens one, and "- " items open two (the dash and
// the item's content).
func blockColumns(lines []string) []int {
	var cols []int
	least := -1
	for i := len(lines) - 1; i >= 0 && least != 0; i-- {
		text := strings.TrimRight(lines[i], "\r\n")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(text) - len(trimmed)
		if least >= 0 && indent >= least {
			continue
		}
		least = indent
		cols = append(cols, indent+1)
		for col := indent; strings.HasPrefix(trimmed, "- "); {
			rest := strings.TrimLeft(trimmed[1:], " ")
			col += len(trimmed) - len(rest)
			trimmed = rest
			cols = append(cols, col+1)
		}
	}
	slices.Sort(cols)
	return slices.Compact(cols)
}

// firstIndentTab is where the first tab in a line's indentation is.
func firstIndentTab(data []byte) (Pos, bool) {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if col := strings.IndexByte(indent, '\t'); col >= 0 {
			return Pos{Line: i + 1, Col: col + 1}, true
		}
	}
	return Pos{}, false
}

// Pos returns the position of the value at path (lambdas[2].runtime), or
// of its nearest parent that has one.
func (c *Config) Pos(path string) Pos {
	for {
		if p, ok := c.pos[path]; ok {
			return p
		}
		if path == "" {
			return Pos{}
		}
		path = parentPath(path)
	}
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// applyDefaults fills every unset value with its default, so the rest of
// xflow reads a complete config.
func (c *Config) applyDefaults() {
	g := &c.General
	g.LambdaTimeoutTime = or(g.LambdaTimeoutTime, spec.DefaultTimeoutSeconds)
	g.LambdaMemory = or(g.LambdaMemory, spec.DefaultMemoryMB)
	g.Architecture = orStr(g.Architecture, spec.DefaultArchitecture)
	g.LogRetentionDays = or(g.LogRetentionDays, spec.DefaultLogRetentionDays)
	g.TrackRetention = or(g.TrackRetention, spec.DefaultTrackRetentionDays)
	g.Tracing = orStr(g.Tracing, tracingWord(spec.DefaultTracing))
	for i := range c.Lambdas {
		l := &c.Lambdas[i]
		l.Timeout = or(l.Timeout, g.LambdaTimeoutTime)
		l.Memory = or(l.Memory, g.LambdaMemory)
		l.Architecture = orStr(l.Architecture, g.Architecture)
		l.LogRetentionDays = or(l.LogRetentionDays, g.LogRetentionDays)
		l.Tracing = orStr(l.Tracing, g.Tracing)
		l.Handler, l.HandlerFrom = ResolveHandler(*l)
	}
	for i := range c.Subscriptions {
		s := &c.Subscriptions[i]
		s.Shards = or(s.Shards, spec.DefaultShards)
		s.RetentionHours = or(s.RetentionHours, spec.DefaultRetentionHours)
	}
	if m := c.Monitoring; m != nil {
		if m.Dashboard == nil {
			on := spec.DefaultDashboard
			m.Dashboard = &on
		}
		m.Period = Duration(or(int(m.Period), int(Duration(spec.DefaultAlarmPeriodSeconds))))
		m.EvaluationPeriods = or(m.EvaluationPeriods, spec.DefaultEvaluationPeriods)
		m.ErrorThreshold = or(m.ErrorThreshold, spec.DefaultErrorThreshold)
		m.IteratorAgeThreshold = Duration(or(int(m.IteratorAgeThreshold), int(Duration(spec.DefaultIteratorAgeThresholdSeconds))))
		m.TreatMissingData = orStr(m.TreatMissingData, spec.DefaultTreatMissingData)
	}
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// ResolveHandler applies the original xFlow's rules to a handler without
// a dot: of a single-file source it names a function in that file's
// module, so handler `read` of source `lambda_reader.py` is
// `lambda_reader.read`; of a folder, a package or an S3 object it names a
// function in the module named after the lambda, so handler `parse` of
// lambda `lambda_parser` is `lambda_parser.parse`. A handler with a dot is
// used as written; provided runtimes default to `bootstrap`. It also
// returns which rule applied (HandlerAsWritten, HandlerFromFile or
// HandlerFromName). A git source not fetched yet is left as written: its
// path may turn out to be a file or a folder.
func ResolveHandler(l Lambda) (handler, from string) {
	if l.Handler == "" && RuntimeFamily(l.Runtime) == "provided" {
		return "bootstrap", HandlerAsWritten
	}
	if l.Handler == "" || strings.Contains(l.Handler, ".") || strings.Contains(l.Handler, "::") {
		return l.Handler, HandlerAsWritten
	}
	switch RuntimeFamily(l.Runtime) {
	case "python", "nodejs", "ruby":
	default:
		return l.Handler, HandlerAsWritten
	}
	switch l.Code.Kind {
	case CodeFile:
		base := filepath.Base(l.Code.Path)
		return strings.TrimSuffix(base, filepath.Ext(base)) + "." + l.Handler, HandlerFromFile
	case CodeDir, CodeZip, CodeS3:
		return l.Name + "." + l.Handler, HandlerFromName
	}
	return l.Handler, HandlerAsWritten
}

// Mapping settings resolved to concrete values for one subscriber.
type Settings struct {
	BatchSize               int
	BatchWindow             Duration
	StartingPosition        string
	RetryAttempts           int
	MaxRecordAge            Duration
	BisectOnError           bool
	ParallelizationFactor   int
	ReportBatchItemFailures bool
	OnFailure               string // "queue", "bucket", "none" or an ARN
}

// Settings resolves a subscriber's mapping: its own values, then the
// subscription's, then the defaults.
func (s *Subscription) Settings(sub Subscriber) Settings {
	pick := func(a, b *int, def int) int {
		if a != nil {
			return *a
		}
		if b != nil {
			return *b
		}
		return def
	}
	pickD := func(a, b *Duration, def Duration) Duration {
		if a != nil {
			return *a
		}
		if b != nil {
			return *b
		}
		return def
	}
	pickB := func(a, b *bool, def bool) bool {
		if a != nil {
			return *a
		}
		if b != nil {
			return *b
		}
		return def
	}
	return Settings{
		BatchSize:               pick(sub.BatchSize, s.BatchSize, spec.DefaultBatchSize),
		BatchWindow:             pickD(sub.BatchWindow, s.BatchWindow, 0),
		StartingPosition:        orStr(orStr(sub.StartingPosition, s.StartingPosition), spec.DefaultStartingPosition),
		RetryAttempts:           pick(sub.RetryAttempts, s.RetryAttempts, spec.DefaultRetryAttempts),
		MaxRecordAge:            pickD(sub.MaxRecordAge, s.MaxRecordAge, Duration(spec.DefaultMaxRecordAgeSeconds)),
		BisectOnError:           pickB(sub.BisectOnError, s.BisectOnError, spec.DefaultBisectOnError),
		ParallelizationFactor:   pick(sub.ParallelizationFactor, s.ParallelizationFactor, spec.DefaultParallelization),
		ReportBatchItemFailures: pickB(sub.ReportBatchItemFailures, s.ReportBatchItemFailures, false),
		OnFailure:               orStr(orStr(sub.OnFailure, s.OnFailure), spec.DefaultOnFailure),
	}
}
