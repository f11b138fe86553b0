package jsontext

import "testing"

func TestKind(t *testing.T) {
	for v, want := range map[string]string{
		`{}`: "an object", `[1]`: "an array", `"x"`: "a string", `true`: "a boolean",
		`false`: "a boolean", `null`: "null", `-1.5e3`: "a number",
	} {
		if got := Kind([]byte(v)); got != want {
			t.Errorf("Kind(%s) = %q, want %q", v, got, want)
		}
	}
}

func TestPosition(t *testing.T) {
	data := []byte("{\n  \"é\": x}")
	for _, c := range []struct {
		off  int
		want string
	}{
		{0, "line 1, column 1 (byte 0)"},
		{2, "line 2, column 1 (byte 2)"},
		{10, "line 2, column 8 (byte 10)"}, // é is two bytes, one column
		{-5, "line 1, column 1 (byte 0)"},
		{99, "line 2, column 10 (byte 12)"},
	} {
		if got := Position(data, c.off); got != c.want {
			t.Errorf("Position(%d) = %q, want %q", c.off, got, c.want)
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	for in, want := range map[string]int{"": 0, "abc": 3, "é\xffx": 2, "\xc3": 0} {
		if got := InvalidUTF8([]byte(in)); got != want {
			t.Errorf("InvalidUTF8(%q) = %d, want %d", in, got, want)
		}
	}
}
