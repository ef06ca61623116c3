package storage

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestWindowSinkAllOrNothing: a message of window records is taken
// whole or, with one bad record, not at all (it is dead-lettered whole
// and names the record).
func TestWindowSinkAllOrNothing(t *testing.T) {
	good := `{"client":"10.0.0.1","window_start":"2026-03-05T09:00:00Z","window_end":"2026-03-05T09:01:00Z","requests":3}`
	tests := []struct {
		name, value string
		rows        int
		err         string
	}{
		{"one record", good, 1, ""},
		{"three records", good + "\n" + good + "\n" + good, 3, ""},
		{"trailing newline", good + "\n", 1, ""},
		{"bad second record", good + "\n{\"client\":", 0, "window record 2"},
		{"record without client", good + "\n" + `{"window_start":"2026-03-05T09:00:00Z"}`, 0, "window record 2: window record without client"},
		{"empty", "", 0, "empty window message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &windowSink{}
			err := s.add(&kafka.Message{Value: []byte(tt.value)})
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
			if s.len() != tt.rows {
				t.Errorf("%d rows, want %d", s.len(), tt.rows)
			}
		})
	}
}
