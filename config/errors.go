package config

import (
	"fmt"
	"sort"
	"strings"
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

// closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/4+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" && s != "" {
		for _, c := range candidates {
			if strings.HasPrefix(c, s) {
				return c // "arm" for "arm64"
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// suggest builds a hint: "did you mean X?" for a likely typo, else the list
// of valid values when it is short.
func suggest(s string, valid []string, what string) string {
	if c := closest(s, valid); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	if len(valid) == 0 {
		return ""
	}
	if len(valid) <= 8 {
		return fmt.Sprintf("%s: %s", what, strings.Join(valid, ", "))
	}
	return fmt.Sprintf("%s: %s, …", what, strings.Join(valid[:8], ", "))
}
