package track

import (
	"fmt"
	"time"
)

// TimeFormat is how reports write times: UTC RFC 3339 with milliseconds,
// always three digits, so that times line up and sort as text (Go's own
// form drops trailing zeros: "…:46.19Z" would sort after "…:46.190Z").
// CloudWatch Logs and Kinesis arrival times are milliseconds anyway.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Time is a time.Time written in TimeFormat.
type Time struct{ time.Time }

// MarshalJSON writes t in UTC in TimeFormat.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := time.Parse(`"`+time.RFC3339Nano+`"`, string(b))
	if err != nil {
		return fmt.Errorf("read a time: %w", err)
	}
	t.Time = v
	return nil
}
