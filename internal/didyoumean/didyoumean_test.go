package didyoumean

import "testing"

func TestHint(t *testing.T) {
	events := []string{"FileUploaded", "FileDownloaded", "FileParsed"}
	many := []string{"a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8", "i9"}
	for _, tc := range []struct {
		in    string
		valid []string
		want  string
	}{
		{"FileUplaoded", events, `did you mean "FileUploaded"?`},
		{"fileparsed", events, `did you mean "FileParsed"?`},
		{"File", events, `did you mean "FileUploaded"?`},
		{"Nothing", events, "events: FileUploaded, FileDownloaded, FileParsed"},
		{"zzzz", many, "events: a1, b2, c3, d4, e5, f6, g7, h8, …"},
		{"x", nil, ""},
	} {
		if got := Hint(tc.in, tc.valid, "events"); got != tc.want {
			t.Errorf("Hint(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
