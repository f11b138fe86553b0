// Package didyoumean suggests the name a user most likely meant when they
// typed one that does not exist, such as an event or a workflow id that is
// not in the config. publish and track share it so that their messages read
// alike.
package didyoumean

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to s by edit distance, ignoring
// case, or "" when none is near enough to be a likely typo. A candidate that
// starts with s ("File" for "FileUploaded") counts when nothing is near.
func Closest(s string, candidates []string) string {
	best, bestD := "", len(s)/4+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" && s != "" {
		for _, c := range candidates {
			if strings.HasPrefix(c, s) {
				return c
			}
		}
	}
	return best
}

// Hint is the end of a "not found" message: "did you mean X?" for a likely
// typo, else the valid values when there are few, else "".
func Hint(s string, valid []string, what string) string {
	if c := Closest(s, valid); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	switch {
	case len(valid) == 0:
		return ""
	case len(valid) <= 8:
		return fmt.Sprintf("%s: %s", what, strings.Join(valid, ", "))
	default:
		return fmt.Sprintf("%s: %s, …", what, strings.Join(valid[:8], ", "))
	}
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
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
