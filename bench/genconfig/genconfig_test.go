package genconfig

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xflowhq/xflow/internal/config"
)

// TestGeneratedConfigsLoad: configs of several sizes are valid xflow
// configs with N functions, N+1 events and a chain of workflows, and every
// function emits the next event.
func TestGeneratedConfigsLoad(t *testing.T) {
	for _, n := range []int{1, 10, 11, 123} {
		dir := t.TempDir()
		path, err := Write(dir, Options{Functions: n, Extra: []string{"added"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(c.Lambdas) != n+1 || len(c.Subscriptions) != n+1 || len(c.Workflows) != Workflows(n, 10) {
			t.Errorf("n=%d: %d lambdas, %d events, %d workflows", n, len(c.Lambdas), len(c.Subscriptions), len(c.Workflows))
		}
		for i := 0; i < n; i++ {
			if got := c.EmitsOf(Function(i)); !slices.Equal(got, []string{Event(i + 1)}) {
				t.Errorf("n=%d: %s emits %v, want %s", n, Function(i), got, Event(i+1))
			}
			if _, err := os.Stat(filepath.Join(dir, Function(i)+".py")); err != nil {
				t.Error(err)
			}
		}
	}
}
