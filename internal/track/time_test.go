package track

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestTimeJSON: report times are UTC with three digits of milliseconds,
// so that their text sorts as the times do, and read back as written.
func TestTimeJSON(t *testing.T) {
	base := time.Date(2026, 5, 1, 10, 0, 46, 0, time.FixedZone("CEST", 2*3600))
	var texts []string
	for _, ms := range []int{0, 100, 150, 190, 999} {
		in := Time{base.Add(time.Duration(ms) * time.Millisecond)}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != len(`"2026-05-01T08:00:46.000Z"`) || b[len(b)-2] != 'Z' {
			t.Errorf("%v is written %s", in, b)
		}
		texts = append(texts, string(b))
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(in.Time) {
			t.Errorf("%s reads back as %v (%v)", b, back, err)
		}
	}
	if !slices.IsSorted(texts) {
		t.Errorf("times in order do not sort as text: %v", texts)
	}
	if texts[0] != `"2026-05-01T08:00:46.000Z"` {
		t.Errorf("whole seconds are written %s", texts[0])
	}
	var nothing *Time
	if err := json.Unmarshal([]byte("null"), &nothing); err != nil || nothing != nil {
		t.Errorf("null reads as %v (%v)", nothing, err)
	}
}
