package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xflowhq/xflow/internal/didyoumean"
)

// Pos is a position in the config file, 1-based. A zero Pos means the value
// did not come from the file (a default, or an environment variable).
type Pos struct {
	Line, Col int
}

// Error is one problem in a config: where it is, which value, what is
// wrong, and what to write instead.
type Error struct {
	File string
	Pos  Pos
	// Source names where a value came from when not from the file, such as
	// "$LAMBDA_TIMEOUT_TIME".
	Source string
	Path   string // lambdas[2].runtime
	Msg    string // what is wrong
	Hint   string // what to write instead; may be empty
}

// Error renders file:line:col: path: message (hint).
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Source != "":
		fmt.Fprintf(&b, "%s: %s", e.File, e.Source)
	case e.Pos.Line > 0:
		fmt.Fprintf(&b, "%s:%d:%d", e.File, e.Pos.Line, e.Pos.Col)
	default:
		b.WriteString(e.File)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, ": %s", e.Path)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	return b.String()
}

// Errors is every problem found in one config, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if (a.Source == "") != (b.Source == "") {
			return a.Source != "" // environment first: it overrides the file
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
}

// closest and suggest are the shared did-you-mean rules.
var (
	closest = didyoumean.Closest
	suggest = didyoumean.Hint
)
