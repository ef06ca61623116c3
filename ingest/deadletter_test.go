package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeadLetterWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	d := NewDeadLetterWriter(&buf)
	d.now = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	lines := [][]byte{[]byte(`not "a" log line`), {0x16, 0x03, 0x01, 0xff, 'x'}}
	for i, l := range lines {
		if err := d.Write("edge", Reject{Line: int64(i + 1), Reason: "nginx_combined: no [time]", Text: l}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if d.Count() != 2 {
		t.Fatalf("count %d", d.Count())
	}
	recs := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(recs) != 2 {
		t.Fatalf("%d records: %q", len(recs), buf.String())
	}
	for i, r := range recs {
		var got struct {
			Time, Source, Reason, Line string
			LineNo                     int64  `json:"line_no"`
			LineBase64                 string `json:"line_base64"`
		}
		if err := json.Unmarshal([]byte(r), &got); err != nil {
			t.Fatalf("record %d is not JSON: %v: %s", i, err, r)
		}
		if got.Source != "edge" || got.LineNo != int64(i+1) || got.Reason != "nginx_combined: no [time]" || got.Time != "2026-11-23T10:00:00Z" {
			t.Fatalf("record %d: %+v", i, got)
		}
		exact := got.Line
		if got.LineBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(got.LineBase64)
			if err != nil {
				t.Fatal(err)
			}
			exact = string(b)
		}
		if exact != string(lines[i]) {
			t.Fatalf("record %d lost bytes: %q vs %q", i, exact, lines[i])
		}
	}
}
