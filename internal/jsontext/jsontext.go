// Package jsontext describes JSON input for error messages: the kind of
// a value and where in the input something went wrong. publish (an event
// from the command line) and server (a request body) word their refusals
// alike with it.
package jsontext

import (
	"fmt"
	"unicode/utf8"
)

// Kind names the JSON type of a valid, non-empty value ("an object",
// "a number" …).
func Kind(v []byte) string {
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// Position describes a byte offset of data as line and column (1-based,
// columns in characters) and the offset itself, which is what editors
// and jq show.
func Position(data []byte, off int) string {
	off = max(0, min(off, len(data)))
	line, col := 1, 1
	for _, r := range string(data[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d (byte %d)", line, col, off)
}

// InvalidUTF8 is the offset of the first byte of data that is not UTF-8,
// or len(data).
func InvalidUTF8(data []byte) int {
	off := 0
	for off < len(data) {
		r, n := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && n <= 1 {
			return off
		}
		off += n
	}
	return off
}
