package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/xflowhq/xflow/constructs/spec"
)

func TestEveryKeyDocumented(t *testing.T) {
	n := 0
	walkKeys(reflect.TypeFor[Config](), "", func(path string, _ reflect.Type) {
		n++
		if d, ok := docFor(path); !ok || d.Doc == "" {
			t.Errorf("key %s has no documentation in docs", path)
		}
	})
	if n < 40 {
		t.Errorf("walked only %d keys", n)
	}
}

// schemaFile is the committed schema. It stays at config/ in the
// repository, outside internal/, because editors of every project xflow
// init made fetch it from that URL.
const schemaFile = "../../config/xflow.schema.json"

// The committed schema (used by editors through the example's
// yaml-language-server comment) is the generated one.
func TestSchemaUpToDate(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(mustRead(t, schemaFile)), string(got)); diff != "" {
		t.Errorf("%s is stale; run go test ./internal/config -update (-want +got):\n%s", schemaFile, diff)
	}
	for _, want := range []string{`"additionalProperties": false`, `"python3.13"`, `"TRIM_HORIZON"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}

const refStart, refEnd = "<!-- config-reference:start -->\n", "<!-- config-reference:end -->"

// The README's config reference is the generated one.
func TestReadmeReferenceUpToDate(t *testing.T) {
	readme := string(mustRead(t, "../../README.md"))
	i, j := strings.Index(readme, refStart), strings.Index(readme, refEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", refStart, refEnd)
	}
	got := readme[:i+len(refStart)] + Reference() + readme[j:]
	if *update {
		if err := os.WriteFile("../../README.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(readme, got); diff != "" {
		t.Errorf("README config reference is stale; run go test ./internal/config -update (-want +got):\n%s", diff)
	}
}

// Each key has one row in the reference, and a subscriber's mapping
// settings show no default (they inherit the subscription's).
func TestReferenceRows(t *testing.T) {
	seen := map[string]bool{}
	for _, line := range strings.Split(Reference(), "\n")[2:] {
		if line == "" {
			continue
		}
		cells := strings.Split(line, " | ")
		key := strings.Trim(cells[0], "| `")
		if seen[key] {
			t.Errorf("key %s has two rows", key)
		}
		seen[key] = true
		if strings.HasPrefix(key, "subscriptions[].subscribers[].") && key != "subscriptions[].subscribers[].lambda" && cells[1] != "" {
			t.Errorf("%s shows the default %s; it inherits the subscription's", key, cells[1])
		}
	}
	if !seen["subscriptions[].subscribers[].batch_size"] || !seen["subscriptions[].batch_size"] {
		t.Errorf("mapping settings missing at one of their levels")
	}
}

// TestDefaultsAndLimitsFromSpec: the README's config reference and the JSON
// Schema show the defaults and limits that spec defines, and a config that
// leaves everything out resolves to those defaults.
func TestDefaultsAndLimitsFromSpec(t *testing.T) {
	type want struct {
		def      any // the schema's default; nil for none
		min, max any // the schema's bounds; nil for none
		row      string
	}
	cases := map[string]want{
		"general.lambda_timeout_time":            {spec.DefaultTimeoutSeconds, spec.MinTimeoutSeconds, spec.MaxTimeoutSeconds, fmt.Sprintf("| `%d` |", spec.DefaultTimeoutSeconds)},
		"general.lambda_memory":                  {spec.DefaultMemoryMB, spec.MinMemoryMB, spec.MaxMemoryMB, fmt.Sprintf("(%d–%d)", spec.MinMemoryMB, spec.MaxMemoryMB)},
		"general.architecture":                   {spec.DefaultArchitecture, nil, nil, "| `" + spec.DefaultArchitecture + "` |"},
		"general.log_retention_days":             {spec.DefaultLogRetentionDays, nil, nil, fmt.Sprintf("| `%d` |", spec.DefaultLogRetentionDays)},
		"general.track_retention_days":           {spec.DefaultTrackRetentionDays, nil, nil, fmt.Sprintf("| `%d` |", spec.DefaultTrackRetentionDays)},
		"subscriptions[].shards":                 {spec.DefaultShards, spec.MinShards, spec.MaxShards, fmt.Sprintf("(%d–%d)", spec.MinShards, spec.MaxShards)},
		"subscriptions[].retention_hours":        {spec.DefaultRetentionHours, spec.MinRetentionHours, spec.MaxRetentionHours, fmt.Sprintf("(%d–%d hours)", spec.MinRetentionHours, spec.MaxRetentionHours)},
		"subscriptions[].batch_size":             {spec.DefaultBatchSize, spec.MinBatchSize, spec.MaxBatchSize, fmt.Sprintf("(%d–%d)", spec.MinBatchSize, spec.MaxBatchSize)},
		"subscriptions[].retry_attempts":         {spec.DefaultRetryAttempts, 0, spec.MaxRetryAttempts, fmt.Sprintf("(0–%d)", spec.MaxRetryAttempts)},
		"subscriptions[].parallelization_factor": {spec.DefaultParallelization, spec.MinParallelism, spec.MaxParallelism, fmt.Sprintf("(%d–%d)", spec.MinParallelism, spec.MaxParallelism)},
		"subscriptions[].max_record_age":         {Duration(spec.DefaultMaxRecordAgeSeconds).String(), nil, nil, "| `" + Duration(spec.DefaultMaxRecordAgeSeconds).String() + "` |"},
		"subscriptions[].starting_position":      {spec.DefaultStartingPosition, nil, nil, "| `" + spec.DefaultStartingPosition + "` |"},
		"subscriptions[].bisect_on_error":        {spec.DefaultBisectOnError, nil, nil, fmt.Sprintf("| `%t` |", spec.DefaultBisectOnError)},
		"subscriptions[].on_failure":             {spec.DefaultOnFailure, nil, nil, fmt.Sprintf("for %d days", spec.FailureRetentionDays)},
		"monitoring.period":                      {Duration(spec.DefaultAlarmPeriodSeconds).String(), nil, nil, "| `" + Duration(spec.DefaultAlarmPeriodSeconds).String() + "` |"},
		"monitoring.treat_missing_data":          {spec.DefaultTreatMissingData, nil, nil, "| `" + spec.DefaultTreatMissingData + "` |"},
		"monitoring.dashboard":                   {spec.DefaultDashboard, nil, nil, fmt.Sprintf("| `%t` |", spec.DefaultDashboard)},
	}
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(Reference(), "\n") {
		if key, _, ok := strings.Cut(strings.TrimPrefix(line, "| `"), "`"); ok {
			rows[key] = line
		}
	}
	for key, w := range cases {
		node := schema
		for _, part := range strings.Split(key, ".") {
			name, list := strings.CutSuffix(part, "[]")
			node, _ = node["properties"].(map[string]any)[name].(map[string]any)
			if list {
				node, _ = node["items"].(map[string]any)
			}
		}
		if node == nil {
			t.Errorf("%s: not in the schema", key)
			continue
		}
		// JSON numbers decode as float64.
		norm := func(v any) any {
			if n, ok := v.(int); ok {
				return float64(n)
			}
			return v
		}
		for name, v := range map[string]any{"default": w.def, "minimum": w.min, "maximum": w.max} {
			if got := node[name]; norm(v) != got {
				t.Errorf("%s: the schema's %s is %v, spec says %v", key, name, got, v)
			}
		}
		if !strings.Contains(rows[key], w.row) {
			t.Errorf("%s: the reference row lacks %q:\n%s", key, w.row, rows[key])
		}
	}

	// A config that sets nothing it may leave out resolves to spec's.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.py"), []byte("def h(event, context):\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "xflow.yaml"), []byte("lambdas:\n  - name: f\n    source: f.py\n    handler: h\n    runtime: python3.12\nsubscriptions:\n  - event: E\n    subscribers: [f]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := c.General
	if g.LambdaTimeoutTime != spec.DefaultTimeoutSeconds || g.LambdaMemory != spec.DefaultMemoryMB || g.Architecture != spec.DefaultArchitecture ||
		g.LogRetentionDays != spec.DefaultLogRetentionDays || g.TrackRetention != spec.DefaultTrackRetentionDays {
		t.Errorf("general resolved to %+v, want spec's defaults", g)
	}
	if s := c.Subscriptions[0]; s.Shards != spec.DefaultShards || s.RetentionHours != spec.DefaultRetentionHours {
		t.Errorf("subscription resolved to %d shards, %d hours; want spec's defaults", s.Shards, s.RetentionHours)
	}
}
