package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// The committed schema (used by editors through the example's
// yaml-language-server comment) is the generated one.
func TestSchemaUpToDate(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("xflow.schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(mustRead(t, "xflow.schema.json")), string(got)); diff != "" {
		t.Errorf("xflow.schema.json is stale; run go test ./config -update (-want +got):\n%s", diff)
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
		t.Errorf("README config reference is stale; run go test ./config -update (-want +got):\n%s", diff)
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
