package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: no YAML makes Parse panic, and every refusal is a list of
// errors that each name the file and say what is wrong, with a position
// whenever the problem is in the file (rather than in the environment).
// The corpus is every config the tests know: the example, the seed, and
// each bad-config golden case.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*.yaml")
	seeds = append(seeds, "testdata/seed.yaml", "../../examples/wordcount/xflow.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Sources resolve against the config's folder: testdata/errors holds
	// handler.py, so configs naming it can pass validation.
	path := filepath.Join("testdata", "errors", "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(path, data, env(nil))
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
		}
		for _, e := range es {
			if e.File != path || strings.TrimSpace(e.Msg) == "" {
				t.Fatalf("error without its file or message: %+v", e)
			}
			if e.Pos.Line == 0 && e.Source == "" && e.Msg != "the file is empty" && !strings.HasPrefix(e.Msg, "invalid YAML") {
				t.Fatalf("error in the file without a position: %q", e.Error())
			}
		}
	})
}
